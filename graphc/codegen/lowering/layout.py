"""Layout ops: reshape is a view; transpose and broadcast_to are pointwise copies whose
operand access map does the moving, so they fuse with their neighbours like any scalar op."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from llvmlite import ir

from graphc.codegen.lowering.pointwise import ScalarSite
from graphc.codegen.lowering.registry import register_view, scalar_lowering
from graphc.ir.graph import Node

register_view("reshape")


def _transpose_access(node: Node, operand: int) -> Sequence[int]:
    """Operand axis perm[j] is output axis j."""
    return np.argsort(node.attrs["perm"]).tolist()


@scalar_lowering("transpose", access=_transpose_access)
def _transpose(site: ScalarSite, node: Node, args: list[ir.Value]) -> ir.Value:
    return args[0]


@scalar_lowering("broadcast_to")
def _broadcast_to(site: ScalarSite, node: Node, args: list[ir.Value]) -> ir.Value:
    return args[0]
