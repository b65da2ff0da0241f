"""One program (a Graph) -> internal kernel functions plus its exported entry function.

Entry ABI: `int32_t graphc_<name>(int64_t batch, void **args, void *workspace)`, args
being inputs, then states, then outputs. It returns 1 without touching memory when
batch < 1, else runs the prologue copies, the kernels in order and the epilogue copies.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from llvmlite import ir

from graphc.codegen.buffers import BufferPlan, Copy, Location, assign_buffers
from graphc.codegen.context import KernelContext
from graphc.codegen.llvm_util import I1, I8, I32, I64, PTR, VOID, i64, intrinsic, sym_value
from graphc.codegen.lowering.gemm_epilogue import emit_gemm_epilogue
from graphc.codegen.lowering.pointwise import emit_pointwise, is_immediate
from graphc.codegen.lowering.reduce import emit_reduction_group
from graphc.codegen.lowering.registry import get_lowering
from graphc.ir.graph import Graph, Node
from graphc.passes.kernels import Kernel, partition

STATUS_OK = 0
STATUS_BAD_BATCH = 1


class KernelSink(Protocol):
    """Where a program's kernels go as modules of their own (a large build's), so that the build can
    compile them in several LLVM jobs (with a pipeline each) and hand one to a job as soon as it is
    emitted: `module` makes the module `kernel` is about to be emitted into, `done` takes it back
    complete."""

    def module(self, function: str, kernel: Kernel) -> ir.Module: ...

    def done(self, module: ir.Module) -> None: ...


class ConstantPool:
    """Module-wide read-only globals for constant arrays, shared when their bytes are equal."""

    def __init__(self, module: ir.Module, prefix: str = "graphc_const") -> None:
        self.module = module
        self.prefix = prefix  # a region's program has its own pool in the same module
        self._globals: dict[bytes, ir.GlobalVariable] = {}

    def get(self, value: np.ndarray) -> ir.GlobalVariable:
        data = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<")).tobytes()
        if data not in self._globals:
            array_type = ir.ArrayType(I8, len(data))
            var = ir.GlobalVariable(self.module, array_type, f"{self.prefix}{len(self._globals)}")
            var.global_constant = True
            var.linkage = "private"
            var.unnamed_addr = True
            var.align = 64
            var.initializer = ir.Constant(array_type, bytearray(data))
            self._globals[data] = var
        return self._globals[data]


def emit_program(module: ir.Module, name: str, graph: Graph, pool: ConstantPool,
                 internal: bool = False, sink: KernelSink | None = None) -> dict[str, Any]:
    """Emit `graphc_<name>` into `module`; returns the program's manifest entry. An `internal` program
    (a scan's body, called by its loop) is not exported.

    With a `sink`, each kernel function is defined in a module of its own (and only declared in
    `module`); else they are internal functions of `module`.
    """
    kernels = partition(graph)
    plan = assign_buffers(graph, kernels)
    constants = {n.id: n for n in graph.nodes if n.op == "constant"}
    functions = [
        _emit_kernel(module, f"graphc_{name}_k{p}_{kernel.name}", kernel, plan, p, sink)
        for p, kernel in enumerate(kernels)
    ]
    entry = ir.Function(module, ir.FunctionType(I32, [I64, PTR, PTR]), f"graphc_{name}")
    entry.attributes.add("nounwind")
    if internal:
        entry.linkage = "internal"
    batch, args, workspace = entry.args
    batch.name, args.name, workspace.name = "batch", "args", "workspace"
    builder = ir.IRBuilder(entry.append_basic_block("entry"))
    run = entry.append_basic_block("run")
    bad = entry.append_basic_block("bad_batch")
    builder.cbranch(builder.icmp_signed("<", batch, i64(1)), bad, run)
    builder.position_at_end(bad)
    builder.ret(ir.Constant(I32, STATUS_BAD_BATCH))
    builder.position_at_end(run)

    pointers: dict[Location, ir.Value] = {}

    def resolve(loc: Location) -> ir.Value:
        if loc not in pointers:
            if loc.kind == "arg":
                slot = builder.gep(args, [i64(loc.index)], inbounds=True, source_etype=PTR)
                pointers[loc] = builder.load(slot, typ=PTR)
            elif loc.kind == "constant":
                pointers[loc] = pool.get(constants[loc.index].attrs["value"])
            else:
                offset = builder.add(i64(loc.static), builder.mul(i64(loc.per_batch), batch))
                pointers[loc] = builder.gep(workspace, [offset], inbounds=True, source_etype=I8)
        return pointers[loc]

    for copy in plan.prologue:
        _memcpy(builder, resolve, copy, batch)
    for fn, locations in functions:
        builder.call(fn, [batch] + [resolve(loc) for loc in locations])
    for copy in plan.epilogue:
        _memcpy(builder, resolve, copy, batch)
    builder.ret(ir.Constant(I32, STATUS_OK))
    return _manifest_entry(name, graph, plan)


def _memcpy(builder: ir.IRBuilder, resolve: Any, copy: Copy, batch: ir.Value) -> None:
    fn = intrinsic(builder.module, "llvm.memcpy.p0.p0.i64", VOID, [PTR, PTR, I64, I1])
    nbytes = sym_value(builder, copy.nbytes, batch)
    builder.call(fn, [resolve(copy.dst), resolve(copy.src), nbytes, ir.Constant(I1, 0)])


def _emit_kernel(
    module: ir.Module, fname: str, kernel: Kernel, plan: BufferPlan, position: int, sink: KernelSink | None,
) -> tuple[ir.Function, list[Location]]:
    """A function `void k(i64 N, ptr noalias...)` taking one pointer per distinct buffer; returns the
    function to call from `module` and the buffers to pass."""
    touched = [n for n in kernel.inputs if not (kernel.is_pointwise and is_immediate(n))]
    touched += list(kernel.outputs)
    locations = list(dict.fromkeys(plan.locations[n] for n in touched))
    scratch = plan.scratch.get(position)
    if scratch is not None:
        locations.append(scratch)
    signature = ir.FunctionType(VOID, [I64] + [PTR] * len(locations))
    fn = ir.Function(module if sink is None else sink.module(fname, kernel), signature, fname)
    callee = fn
    if sink is None:
        fn.linkage = "internal"
    else:
        callee = ir.Function(module, signature, fname)
        callee.attributes.add("nounwind")
    fn.attributes.add("nounwind")
    for param in fn.args[1:]:
        param.add_attribute("noalias")
    param_of = dict(zip(locations, fn.args[1:], strict=True))
    builder = ir.IRBuilder(fn.append_basic_block("entry"))
    ctx = KernelContext(
        builder, fn.args[0], {n: param_of[plan.locations[n]] for n in touched},
        param_of[scratch] if scratch is not None else None,
        tuple(param_of[plan.locations[n]] for n in kernel.parts),
    )
    if kernel.is_pointwise:
        emit_pointwise(ctx, kernel)
    elif kernel.epilogue_head is not None:
        emit_gemm_epilogue(ctx, kernel, kernel.epilogue_head)
    elif kernel.reduction is not None:
        emit_reduction_group(ctx, kernel)
    else:  # one kernel op (with its tuple_get values, if it has several)
        node = kernel.nodes[0]
        get_lowering(node.op).emit(ctx, node)
    builder.ret_void()
    if sink is not None:
        sink.done(fn.module)
    return callee, locations


def _arg_spec(kind: str, name: str, node: Node) -> dict[str, Any]:
    return {"kind": kind, "name": name, "shape": list(node.shape), "dtype": node.type.dtype}


def _state_spec(name: str, node: Node, updated: bool) -> dict[str, Any]:
    """A state argument says whether the program writes it: the runtime lets readers run together."""
    return {**_arg_spec("state", name, node), "updated": updated}


def _manifest_entry(name: str, graph: Graph, plan: BufferPlan) -> dict[str, Any]:
    args = [_arg_spec("input", n, node) for n, node in graph.inputs.items()]
    args += [_state_spec(n, node, n in graph.updates) for n, node in graph.states.items()]
    args += [_arg_spec("output", n, node) for n, node in graph.outputs.items()]
    return {
        "symbol": f"graphc_{name}",
        "args": args,
        "workspace": plan.workspace_manifest(),
    }
