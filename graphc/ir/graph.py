"""The dataflow graph: single-output nodes in topological order."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from graphc.ir.signatures import signature
from graphc.ir.types import TensorType

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
        type_: TensorType,
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
