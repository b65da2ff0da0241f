"""The primitive op catalogue and the builders that append ops to a graph."""

from graphc.ops.registry import EvalContext, Fusion, OpDef, OpKind, all_ops, get_op, load_catalogue

load_catalogue()

__all__ = ["EvalContext", "Fusion", "OpDef", "OpKind", "all_ops", "get_op"]
