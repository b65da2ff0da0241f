"""Per-op lowerings, registered by op name (see registry.py for the four kinds)."""

from graphc.codegen.lowering.registry import Lowering, LoweringKind, get_lowering, lowered_ops

__all__ = ["Lowering", "LoweringKind", "get_lowering", "lowered_ops"]
