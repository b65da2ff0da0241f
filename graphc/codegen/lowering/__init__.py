"""Per-op lowerings, registered against their OpDef (see registry.py)."""

from graphc.codegen.lowering.registry import Lowering, find_lowering, get_lowering, unlowered_ops

__all__ = ["Lowering", "find_lowering", "get_lowering", "unlowered_ops"]
