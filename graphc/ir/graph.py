"""The dataflow graph: nodes in topological order.

A node produces one tensor, or, for a multi-output op (a scan), a tuple of them (TupleType) that
only `tuple_get` nodes read: `Graph.add_multi` records the node with one `tuple_get` per value,
so every other node, pass and kernel still sees single tensors. A node may hold nested graphs
(regions, such as a scan's body) among its attributes: `Node.regions`.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from graphc.ir.signatures import signature
from graphc.ir.types import TensorType, TupleType, ValueType, is_batch

if TYPE_CHECKING:
    import networkx

ROLES = ("forward", "loss", "metric", "backward", "update")


class Node:
    """One operation and the value it produces.

    `meta` carries frontend annotations that are not semantics, such as the logits a
    sigmoid or softmax output was computed from (Keras's `_keras_logits`).
    """

    __slots__ = ("graph", "id", "op", "inputs", "attrs", "type", "name", "layer", "role", "meta")

    def __init__(
        self,
        graph: Graph,
        node_id: int,
        op: str,
        inputs: tuple[Node, ...],
        attrs: dict[str, Any],
        type_: ValueType,
        name: str | None,
        layer: str | None,
        role: str,
    ) -> None:
        self.graph = graph
        self.id = node_id
        self.op = op
        self.inputs = inputs
        self.attrs = attrs
        self.type = type_
        self.name = name
        self.layer = layer
        self.role = role
        self.meta: dict[str, Any] = {}

    @property
    def shape(self) -> tuple[int | None, ...]:
        return self.type.shape

    @property
    def regions(self) -> list[Graph]:
        """The nested graphs this node runs (a scan's body), in attribute order."""
        return [value for value in self.attrs.values() if isinstance(value, Graph)]

    def __repr__(self) -> str:
        return f"%{self.id}:{self.op}{self.type}"

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other

    def _bin(self, op: str, other: Any, swap: bool = False) -> Node:
        other_node = self.graph.operand(other, self.type.dtype)
        operands = (other_node, self) if swap else (self, other_node)
        return self.graph.add(op, operands)

    def __add__(self, o: Any) -> Node:
        return self._bin("add", o)

    def __radd__(self, o: Any) -> Node:
        return self._bin("add", o, swap=True)

    def __sub__(self, o: Any) -> Node:
        return self._bin("sub", o)

    def __rsub__(self, o: Any) -> Node:
        return self._bin("sub", o, swap=True)

    def __mul__(self, o: Any) -> Node:
        return self._bin("mul", o)

    def __rmul__(self, o: Any) -> Node:
        return self._bin("mul", o, swap=True)

    def __truediv__(self, o: Any) -> Node:
        return self._bin("div", o)

    def __rtruediv__(self, o: Any) -> Node:
        return self._bin("div", o, swap=True)

    def __neg__(self) -> Node:
        return self.graph.add("neg", (self,))

    def __gt__(self, o: Any) -> Node:
        """1.0 where greater, else 0.0 (a float mask: the IR has no boolean tensors)."""
        return self._bin("greater", o)

    def __lt__(self, o: Any) -> Node:
        return self._bin("greater", o, swap=True)

    def __ge__(self, o: Any) -> Node:
        return self._bin("greater_equal", o)

    def __le__(self, o: Any) -> Node:
        return self._bin("greater_equal", o, swap=True)

    def __getitem__(self, key: Any) -> Node:
        """numpy basic indexing (`z[:, :u]`, `x[:, ::2]`, `x[:, ::-1]`, `x[0]`): a slice (with steps when
        any is not 1), and a reshape dropping the axes an integer picks; the batch axis is taken whole."""
        keys = list(key) if isinstance(key, tuple) else [key]
        if Ellipsis in keys:
            at = keys.index(Ellipsis)
            keys[at:at + 1] = [slice(None)] * (self.type.rank - len(keys) + 1)
        if len(keys) > self.type.rank:
            raise IndexError(f"{self!r}: {len(keys)} indices for a rank-{self.type.rank} tensor")
        keys += [slice(None)] * (self.type.rank - len(keys))
        begin, size, steps, kept = [], [], [], []
        for axis, (k, dim) in enumerate(zip(keys, self.shape, strict=True)):
            if is_batch(dim):
                if k != slice(None):
                    raise IndexError(f"{self!r}: the batch axis {axis} can only be taken whole (:)")
                begin.append(0), size.append(None), steps.append(1), kept.append(dim)
                continue
            if isinstance(k, slice):
                start, stop, step = k.indices(dim)
                count = len(range(start, stop, step))
                begin.append(start if count else 0), size.append(count), steps.append(step if count else 1)
                kept.append(count)
            elif isinstance(k, (int, np.integer)):
                index = int(k) + dim if k < 0 else int(k)
                if not 0 <= index < dim:
                    raise IndexError(f"{self!r}: index {k} is out of range for axis {axis} of size {dim}")
                begin.append(index), size.append(1), steps.append(1)
            else:
                raise IndexError(f"{self!r}: indices must be ints or slices, got {k!r}")
        result = self
        unit = all(step == 1 for step in steps)
        whole = tuple(None if is_batch(d) else d for d in self.shape)
        if not unit or tuple(begin) != (0,) * len(begin) or tuple(size) != whole:
            attrs = {"begin": tuple(begin), "size": tuple(size)}
            result = self.graph.add("slice", (self,), attrs if unit else {**attrs, "strides": tuple(steps)})
        if tuple(kept) != result.shape:
            result = self.graph.add("reshape", (result,), {"shape": tuple(kept)})
        return result

    def __bool__(self) -> bool:
        raise TypeError(f"{self!r} is a traced tensor: it has no value while the graph is recorded, so "
                        "Python control flow (if, while, and, or) on it cannot be compiled; write the choice "
                        "with tensor ops (maximum, minimum, where-style arithmetic) instead")


class Graph:
    """Nodes in topological order plus the named interface of a program.

    `inputs` are fed per call, `states` are persistent buffers owned by the runtime
    (parameters, optimizer slots, counters), `outputs` are returned per call and
    `updates` map a state name to the node holding its new value after the call.
    """

    def __init__(self, name: str = "graph") -> None:
        self.name = name
        self.nodes: list[Node] = []
        self.inputs: dict[str, Node] = {}
        self.states: dict[str, Node] = {}
        self.outputs: dict[str, Node] = {}
        self.updates: dict[str, Node] = {}
        self._ids = itertools.count()
        self._layer: str | None = None
        self._role = "forward"
        self._constants: dict[tuple[bytes, tuple[int, ...]], Node] = {}

    @contextlib.contextmanager
    def scope(self, layer: str | None = None, role: str | None = None) -> Iterator[None]:
        """Tag nodes created inside with the layer they come from and their role."""
        saved = (self._layer, self._role)
        if layer is not None:
            self._layer = layer
        if role is not None:
            if role not in ROLES:
                raise ValueError(f"unknown role {role!r}")
            self._role = role
        try:
            yield
        finally:
            self._layer, self._role = saved

    def add(
        self,
        op: str,
        inputs: Sequence[Node] = (),
        attrs: Mapping[str, Any] | None = None,
        name: str | None = None,
    ) -> Node:
        """Append a node, checking its inputs with the op's shape rule."""
        rule = signature(op)
        attrs = dict(attrs or {})
        for node in inputs:
            if node.graph is not self:
                raise ValueError(f"{op}: input {node!r} belongs to another graph")
        type_ = rule.infer([n.type for n in inputs], attrs)
        node = Node(self, next(self._ids), op, tuple(inputs), attrs, type_, name, self._layer, self._role)
        self.nodes.append(node)
        return node

    def add_multi(
        self,
        op: str,
        inputs: Sequence[Node] = (),
        attrs: Mapping[str, Any] | None = None,
    ) -> list[Node]:
        """Append a multi-output node and one `tuple_get` per value; returns the tuple_get nodes."""
        node = self.add(op, inputs, attrs)
        if not isinstance(node.type, TupleType):
            raise ValueError(f"{op} gives one value ({node.type}), not a tuple: use add")
        return [self.add("tuple_get", (node,), {"index": i}) for i in range(len(node.type))]

    def input(self, name: str, type_: TensorType) -> Node:
        if name in self.inputs:
            raise ValueError(f"duplicate input {name!r}")
        node = self.add("input", (), {"name": name, "type": type_}, name=name)
        self.inputs[name] = node
        return node

    def state(self, name: str, type_: TensorType, trainable: bool = False) -> Node:
        if name in self.states:
            return self.states[name]
        node = self.add("state", (), {"name": name, "type": type_, "trainable": trainable}, name=name)
        self.states[name] = node
        return node

    def constant(self, value: Any, dtype: str | None = None) -> Node:
        """Numbers are float32 unless `dtype` says otherwise; int32/int64 arrays keep their dtype."""
        if dtype is None:
            kept = isinstance(value, (np.ndarray, np.generic)) and value.dtype.name in ("int32", "int64")
            dtype = value.dtype.name if kept else "float32"
        array = np.asarray(value, dtype=dtype)
        key = (array.tobytes(), array.shape, dtype)
        if key not in self._constants:
            self._constants[key] = self.add("constant", (), {"value": array})
        return self._constants[key]

    def operand(self, value: Any, dtype: str = "float32") -> Node:
        """Python numbers and arrays become constants in the dtype of the value they meet.

        A non-integral number never becomes an integer constant: `counter + 0.5` is a dtype error.
        """
        if isinstance(value, Node):
            return value
        integral = np.array_equal(np.asarray(value), np.trunc(np.asarray(value, dtype=float)))
        if dtype != "float32" and not integral:
            dtype = "float32"
        return self.constant(value, dtype)

    def users(self) -> dict[Node, list[Node]]:
        result: dict[Node, list[Node]] = {n: [] for n in self.nodes}
        for node in self.nodes:
            for src in node.inputs:
                result[src].append(node)
        return result

    def to_networkx(self) -> networkx.MultiDiGraph:
        """The dataflow as a networkx graph, for users' own analyses: one vertex per node id (attributes
        op, name, shape, dtype, layer, role; `interface` lists the input/state/output/update names it
        holds), one edge per operand (attribute `operand`, its position)."""
        interface: dict[Node, list[str]] = {}
        for kind, table in (("input", self.inputs), ("state", self.states), ("output", self.outputs),
                            ("update", self.updates)):
            for name, node in table.items():
                interface.setdefault(node, []).append(f"{kind}:{name}")
        import networkx  # here, not at the top: it costs ~120 ms to import and compiling never needs it

        result = networkx.MultiDiGraph(name=self.name)
        for node in self.nodes:
            result.add_node(node.id, op=node.op, name=node.name, shape=node.shape, dtype=node.type.dtype,
                            layer=node.layer, role=node.role, interface=interface.get(node, []))
            for position, source in enumerate(node.inputs):
                result.add_edge(source.id, node.id, operand=position)
        return result

    def roots(self) -> list[Node]:
        """Nodes whose values leave the program: outputs and state updates."""
        return list(self.outputs.values()) + list(self.updates.values())

    def __len__(self) -> int:
        return len(self.nodes)

    def __repr__(self) -> str:
        return f"<Graph {self.name}: {len(self.nodes)} nodes>"
