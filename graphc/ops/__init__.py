"""The primitive op catalogue and the builders that append ops to a graph."""

from graphc.ops.registry import EvalContext, OpDef, OpKind, all_ops, get_op

__all__ = ["EvalContext", "OpDef", "OpKind", "all_ops", "get_op"]
