"""Sources: inputs, states and constants are storage; the batch size is a scalar op."""

from __future__ import annotations

from llvmlite import ir

from graphc.codegen.llvm_util import F32
from graphc.codegen.lowering.pointwise import ScalarSite
from graphc.codegen.lowering.registry import register_source, scalar_lowering
from graphc.ir.graph import Node

for _op in ("input", "state", "constant"):
    register_source(_op)


@scalar_lowering("batch_size")
def _batch_size(site: ScalarSite, node: Node, args: list[ir.Value]) -> ir.Value:
    return site.builder.sitofp(site.batch, F32)
