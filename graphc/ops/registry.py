"""The op catalogue: every primitive op is defined exactly once, and every fact about it lives there.

Passes and code generation ask an op about itself (`get_op(node.op).commutative`, `.fusion`,
`.scalar`, ...) and never match its name. Importing `graphc.ops` loads every module of this
package, which registers its ops, and installs the catalogue as the IR's type rules.
"""

from __future__ import annotations

import enum
import importlib
import pkgutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from graphc.ir import signatures
from graphc.ir.affine import Sym
from graphc.ir.types import TensorType

if TYPE_CHECKING:
    from graphc.ir.graph import Graph, Node
    from graphc.ops.scalar import Scalar, Value


class OpKind(enum.Enum):
    """What the op computes, for passes that reason about algebra (simplify, epilogue chains)."""

    SOURCE = "source"
    ELEMENTWISE = "elementwise"
    REDUCTION = "reduction"
    CONTRACTION = "contraction"
    LAYOUT = "layout"
    RANDOM = "random"
    INDEXING = "indexing"
    CONTROL = "control"


class Fusion(enum.Enum):
    """How the op becomes code, for fusion and lowering.

    STORAGE: a buffer, no code (inputs, states, constants). VIEW: reinterprets its operand's
    storage (reshape). POINTWISE: one element at a time from operand elements at affine
    positions, so any group of them is one loop nest. KERNEL: emits its own loop nest
    (reductions, matmul, scan) through a lowering registered in graphc.codegen.lowering. PART: one
    value of a multi-output node (tuple_get), stored by that node's kernel.
    """

    STORAGE = "storage"
    VIEW = "view"
    POINTWISE = "pointwise"
    KERNEL = "kernel"
    PART = "part"


InferRule = Callable[[Sequence[TensorType], Mapping[str, Any]], TensorType]
ReferenceRule = Callable[..., np.ndarray]
GradientRule = Callable[["Node", "Node"], Sequence["Node | None"]]
ScalarRule = Callable[..., "Value"]
AccessMap = Callable[["Node", int], Sequence[int]]
IndexStreams = Callable[["Node"], Sequence[tuple[Sym, ...]]]

_DEFAULT_FUSION = {OpKind.SOURCE: Fusion.STORAGE, OpKind.REDUCTION: Fusion.KERNEL,
                   OpKind.CONTRACTION: Fusion.KERNEL, OpKind.CONTROL: Fusion.KERNEL}


@dataclass(frozen=True)
class OpDef:
    """Everything about one op.

    `reference(attrs, ctx, *arrays)` computes the value (constant folding and the test oracle);
    `ctx` carries the runtime batch size and the float dtype the interpreter runs in.
    `gradient(node, grad)` returns one vector-Jacobian product per input (None where no
    gradient flows), built from other ops in the node's graph; for a multi-output node `grad`
    is a list with one gradient (or None) per value.

    Facts for passes and codegen:
    - `fusion`: see Fusion; by default STORAGE for sources, KERNEL for reductions and
      contractions, POINTWISE otherwise.
    - `scalar(s, node, *args)`: the element formula of a POINTWISE op in the scalar language
      (graphc.ops.scalar); ops without one have a lowering registered in codegen.
    - `access(node, i)`: which node axis each axis of operand i runs along (default: numpy
      broadcasting, right-aligned); `offsets(node, i)`: a constant added to each operand axis's
      index (a slice reads its window); `scales(node, i)`: a nonzero multiplier of each operand
      axis's index before the offset (a strided slice reads every k-th element, -1 reverses);
      `index_streams(node)`: stride vectors over the node's axes whose offsets `s.index(k)` reads
      (a class index, a flat element counter).
    - `inline(node)`: the value is computed by `scalar` inside its consumers' loops instead of
      loaded (scalar constants, the batch size).
    - `commutative`: operands may be swapped (CSE). `foldable`: constant operands make a
      constant (False for sources and random ops). `accumulates`: a reduction a pointwise
      loop over its input can accumulate as it goes (fused reductions, merged reductions).
    - `epilogue`: a kernel that applies a chain of elementwise consumers of its shape to each
      tile as it stores it (the GEMM epilogue). `takes_tail`: such a kernel can also apply a
      kernel op ending the chain on its register tiles (a convolution covering whole pool
      windows); `epilogue_tail(node)`: this kernel op may be that tail (a 2x2 pool of stride 2).
    - `row_local(node)`: when the node's batch-carrying operands and value hold the batch as
      their leading axis, row i of the value depends only on row i of those operands (and on
      operands without a batch axis), so the op may run on any group of rows alone (a scan runs
      each group's whole time loop on one thread). By default true for storage, views, parts and
      pointwise ops that read no index stream, false for kernels and random draws. Mixing rows
      while changing the batch extent or moving the batch axis (a sum over the batch, a
      transpose) needs no false here: ops/rows.py sees it in the types.
    """

    name: str
    kind: OpKind
    arity: int | None
    infer: InferRule
    reference: ReferenceRule
    gradient: GradientRule | None = None
    doc: str = ""
    fusion: Fusion = field(default=None)  # type: ignore[assignment]
    scalar: ScalarRule | None = None
    access: AccessMap | None = None
    offsets: Callable[[Node, int], Sequence[int]] | None = None
    scales: Callable[[Node, int], Sequence[int]] | None = None
    index_streams: IndexStreams | None = None
    inline: Callable[[Node], bool] | None = None
    commutative: bool = False
    foldable: bool = field(default=None)  # type: ignore[assignment]
    accumulates: bool = False
    epilogue: bool = False
    takes_tail: bool = False
    epilogue_tail: Callable[[Node], bool] | None = None
    row_local: Callable[[Node], bool] = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.fusion is None:
            object.__setattr__(self, "fusion", _DEFAULT_FUSION.get(self.kind, Fusion.POINTWISE))
        if self.foldable is None:
            object.__setattr__(self, "foldable",
                               self.kind not in (OpKind.SOURCE, OpKind.RANDOM, OpKind.CONTROL))
        if self.row_local is None:
            local = self.kind is not OpKind.RANDOM and self.index_streams is None and self.fusion in (
                Fusion.STORAGE, Fusion.VIEW, Fusion.PART, Fusion.POINTWISE)
            object.__setattr__(self, "row_local", lambda node: local)
        if self.scalar is not None and self.fusion is not Fusion.POINTWISE and self.inline is None:
            raise ValueError(f"op {self.name!r}: only POINTWISE and inline ops have a scalar rule")
        if self.accumulates and self.kind is not OpKind.REDUCTION:
            raise ValueError(f"op {self.name!r}: only reductions accumulate")

    def __call__(self, *inputs: Node, graph: Graph | None = None, **attrs: Any) -> Node:
        """The op's builder: a node of this op on `inputs` (of `graph` for an op without operands),
        e.g. `EXP(x)`; ops/builders.py adds conveniences (constants for numbers, attribute defaults)."""
        owner = graph if graph is not None else inputs[0].graph if inputs else None
        if owner is None:
            raise ValueError(f"{self.name} has no operands: pass graph=")
        return owner.add(self.name, inputs, attrs)

    def is_inline(self, node: Node) -> bool:
        return self.inline is not None and self.inline(node)

    def emit_scalar(self, s: Scalar, node: Node, args: Sequence[Value]) -> Value:
        assert self.scalar is not None, self.name
        return self.scalar(s, node, *args)


def every_row(node: Node) -> bool:
    """`row_local` of a kernel that computes each row from the same row alone (a matmul's left
    rows, a convolution's images, a reduction that keeps the batch axis)."""
    return True


@dataclass(frozen=True)
class EvalContext:
    batch: int
    dtype: type = np.float32


_REGISTRY: dict[str, OpDef] = {}


def register(opdef: OpDef) -> OpDef:
    if opdef.name in _REGISTRY:
        raise ValueError(f"op {opdef.name!r} defined twice")
    _REGISTRY[opdef.name] = opdef
    return opdef


def get_op(name: str) -> OpDef:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown op {name!r}") from None


def all_ops() -> dict[str, OpDef]:
    return dict(_REGISTRY)


def load_catalogue() -> None:
    """Import every op module of this package (each registers its ops) and install the type rules."""
    package = importlib.import_module("graphc.ops")
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"graphc.ops.{info.name}")
    signatures.install(get_op)
