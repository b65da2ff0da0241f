"""What a GradientTape records: the tensors handed to the user and the graph they form.

Under an active tape (frontend/tape.py) a model call, a loss object, keras.ops and tf.* functions
and the arithmetic of `Tensor`s append nodes to one Graph instead of computing: arrays met on the
way become inputs of the graph (float32; a first axis of the batch size becomes the symbolic batch
axis, so the next batch, whatever its size, has the same structure), weights become states, each
model call's random counter an input, and Python numbers constants. Values come from compiled
programs of that graph (frontend/tape_programs.py): the program `tape.gradient` runs also returns
every tensor still without a value, so the loss the user prints is the one the gradients belong
to. Without an active tape the same functions compute eagerly with the reference interpreter.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from graphc.frontend import losses
from graphc.frontend.engine import CompiledModel
from graphc.frontend.layers.base import RNG_STATE, CallContext, KerasTensor, Layer, Weight
from graphc.frontend.model_inputs import ModelInputs
from graphc.frontend.programs import record_outputs
from graphc.frontend.tape_programs import UNOWNED, gradient_name, program_for
from graphc.interpreter import evaluate
from graphc.ir.graph import Graph, Node
from graphc.ir.types import TensorType
from graphc.ops import builders as b

_ACTIVE = threading.local()  # per thread, the recordings of the open tapes, innermost last


def active_recording() -> Recording | None:
    """The recording the open tape of this thread appends to, if any."""
    stack = getattr(_ACTIVE, "stack", None)
    return stack[-1] if stack else None


def push_recording(recording: Recording) -> None:
    if not hasattr(_ACTIVE, "stack"):
        _ACTIVE.stack = []
    _ACTIVE.stack.append(recording)


def pop_recording(recording: Recording) -> None:
    stack = _ACTIVE.stack
    if not stack or stack[-1] is not recording:
        raise RuntimeError("GradientTape: tapes must be closed in the reverse order they were opened")
    stack.pop()


class TapeModel(Protocol):
    """What a model call on a tape needs of a model (frontend/models.py's Model has it)."""

    name: str
    inputs: list[KerasTensor]
    outputs: list[KerasTensor]
    operations: list[tuple[Layer, list[KerasTensor], KerasTensor]]

    @property
    def layers(self) -> list[Layer]: ...

    @property
    def weights(self) -> list[Weight]: ...

    def _as_input(self, x: Any) -> Any: ...

    def _engine_for(self, x: Any, y: Any = None) -> CompiledModel: ...


class Arithmetic:
    """Operators that record on the active tape (or compute eagerly): Tensors and tf.Variables."""

    __array_ufunc__ = None  # numpy defers to these operators: `array * tensor` records too

    def __add__(self, other: Any) -> Any:
        return _ADD(self, other)

    def __radd__(self, other: Any) -> Any:
        return _ADD(other, self)

    def __sub__(self, other: Any) -> Any:
        return _SUB(self, other)

    def __rsub__(self, other: Any) -> Any:
        return _SUB(other, self)

    def __mul__(self, other: Any) -> Any:
        return _MUL(self, other)

    def __rmul__(self, other: Any) -> Any:
        return _MUL(other, self)

    def __truediv__(self, other: Any) -> Any:
        return _DIV(self, other)

    def __rtruediv__(self, other: Any) -> Any:
        return _DIV(other, self)

    def __neg__(self) -> Any:
        return _NEG(self)

    def __abs__(self) -> Any:
        return _ABS(self)

    def __pow__(self, exponent: Any) -> Any:
        return _POW(self, exponent)

    def __matmul__(self, other: Any) -> Any:
        return _MATMUL(self, other)

    def __rmatmul__(self, other: Any) -> Any:
        return _MATMUL(other, self)

    def __gt__(self, other: Any) -> Any:
        return _GREATER(self, other)

    def __lt__(self, other: Any) -> Any:
        return _GREATER(other, self)

    def __ge__(self, other: Any) -> Any:
        return _GREATER_EQUAL(self, other)

    def __le__(self, other: Any) -> Any:
        return _GREATER_EQUAL(other, self)


class Tensor(Arithmetic):
    """A value where TensorFlow hands back a tensor: `.numpy()`, `float()`, numpy interop and
    arithmetic. Recorded on a tape it also holds its node, and its value is computed when first
    asked for, by the compiled program of everything recorded so far."""

    def __init__(self, value: Any = None, node: Node | None = None,
                 recording: Recording | None = None) -> None:
        self._value = None if value is None else np.asarray(value)
        self._node = node
        self._recording = recording

    @property
    def shape(self) -> tuple[int, ...]:
        if self._value is not None:
            return self._value.shape
        assert self._node is not None and self._recording is not None
        return tuple(self._recording.batch if d is None else d for d in self._node.shape)

    @property
    def dtype(self) -> np.dtype:
        if self._value is not None:
            return self._value.dtype
        assert self._node is not None
        return np.dtype(self._node.type.dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def numpy(self) -> np.ndarray:
        if self._value is None:
            assert self._recording is not None
            self._recording.run()
        assert self._value is not None
        return self._value

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return np.asarray(self.numpy(), dtype=dtype)

    def __float__(self) -> float:
        return float(self.numpy())

    def __int__(self) -> int:
        return int(self.numpy())

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a scalar tensor")
        return self.shape[0]

    def __bool__(self) -> bool:
        if self.recording_now():
            raise TypeError(f"{self!r} is being recorded by a GradientTape: Python control flow (if, while, "
                            "and, or) on its value cannot be recorded; compute the choice with tensor ops "
                            "(tf.maximum, keras.ops.minimum, ...) or take the value after the tape with "
                            "float(tensor) or .numpy()")
        return bool(self.numpy())

    def __getitem__(self, index: Any) -> Tensor:
        """Recorded: basic indexing of graph nodes (unit-step slices and ints; the batch axis whole).
        Else numpy's indexing of the value."""
        if self.recording_now():
            return _GETITEM(self, index)
        return Tensor(self.numpy()[index])

    def recording_now(self) -> bool:
        """Whether this tensor's node belongs to the recording an open tape appends to."""
        return self._recording is not None and self._recording is active_recording()

    def __format__(self, spec: str) -> str:
        value = self.numpy()
        return format(value.item(), spec) if value.size == 1 else format(value, spec)

    def __repr__(self) -> str:
        head = f"<Tensor shape={self.shape} dtype={self.dtype}"
        if self._value is None:
            return head + " (recorded on a GradientTape; computed by tape.gradient or .numpy())>"
        return f"{head} numpy={self._value!r}>"

    def __str__(self) -> str:
        return repr(self) if self._value is None else str(self._value)


def _is_symbolic(value: Any) -> bool:
    """Graph nodes (a traced custom layer) or symbolic tensors (a functional model being built)."""
    return _contains(value, (Node, KerasTensor))


def is_tensor_like(value: Any) -> bool:
    """Holds a Tensor or a weight (also inside lists, tuples and dicts)."""
    return _contains(value, (Tensor, Weight))


def _contains(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, types):
        return True
    if isinstance(value, (list, tuple)):
        return any(_contains(item, types) for item in value)
    if isinstance(value, dict):
        return any(_contains(item, types) for item in value.values())
    return False


def on_tensors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn`, written for graph nodes, as a function of tensors, arrays and weights: on the active
    tape it records (returning recorded Tensors), without one it computes with the reference
    interpreter (returning Tensors with values); given graph nodes or symbolic tensors it is `fn`."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        if _is_symbolic((args, kwargs)):
            return fn(*args, **kwargs)
        recording = active_recording()
        if recording is not None:
            return recording.record(fn, args, kwargs)
        return compute_eagerly(fn, args, kwargs)

    return call


def when_tensors(fn: Callable[..., Any], on_nodes: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` unchanged unless it is given Tensors or weights: then `on_nodes` (its graph-node form)
    records on the active tape or computes eagerly (keras.ops and loss objects in a training loop)."""
    lifted = on_tensors(on_nodes)

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        if is_tensor_like((args, kwargs)) and not _is_symbolic((args, kwargs)):
            return lifted(*args, **kwargs)
        return fn(*args, **kwargs)

    return call


def compute_eagerly(fn: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """fn on concrete values, through a scratch graph run by the reference interpreter: the op
    catalogue's own semantics, the same as the recorded and compiled form."""
    scratch = Recording()
    result = scratch.record(fn, args, kwargs)
    pending = [t for t in scratch.tensors if t._value is None]
    scratch.graph.outputs = {f"value{i}": t._node for i, t in enumerate(pending)}
    states = {path: weight.numpy() for path, weight in scratch.weights.items()}
    outputs, _ = evaluate(scratch.graph, scratch.feeds, states)
    for index, tensor in enumerate(pending):
        tensor._value = outputs[f"value{index}"]
    for tensor in scratch.tensors:
        tensor._node, tensor._recording = None, None
    return result


class _TapeCallContext(CallContext):
    """A model call on a tape: its random counter is an input fed with the model's counter (which the
    call then advances, as model(x, training=True) does), not a state the program would update."""

    seed_name = ""

    def random_seed(self) -> Node:
        if self._seed is None:
            self._seed = self.graph.input(self.seed_name, TensorType((), "int64"))
        return self._seed


class Recording:
    """The graph one tape (or several open together, as a GAN step opens two) records, the arrays
    it feeds, and the Tensors it handed out."""

    def __init__(self) -> None:
        self.graph = Graph("gradient_tape")
        self.feeds: dict[str, np.ndarray] = {}
        self.batch: int | None = None
        self.tensors: list[Tensor] = []
        self.weights: dict[str, Weight] = {}
        self.owner: Any = UNOWNED  # the first model called: it keeps the compiled programs
        self._fed: dict[int, tuple[Any, Node]] = {}  # id(value) -> (value kept alive, its input)
        self._updates: dict[str, Node] = {}  # training-mode state updates, applied by the first run
        self._updated = False
        self._calls = 0

    # -- operands ----------------------------------------------------------------------------
    def feed(self, value: Any) -> Node:
        """An input of the graph holding `value` (fed once however often it is used)."""
        known = self._fed.get(id(value))
        if known is not None:
            return known[1]
        array = np.asarray(value.numpy() if isinstance(value, Tensor) else value, dtype=np.float32, order="C")
        if self.batch is None and array.ndim:
            self.batch = array.shape[0]
        batched = array.ndim > 0 and array.shape[0] == self.batch
        shape = (None, *array.shape[1:]) if batched else array.shape
        name = f"feed{len(self.feeds)}"
        node = self.graph.input(name, TensorType(shape))
        self.feeds[name] = array
        self._fed[id(value)] = (value, node)
        return node

    def weight_node(self, weight: Weight) -> Node:
        known = self.weights.setdefault(weight.path, weight)
        if known is not weight:
            raise ValueError(f"two different weights named {weight.path!r} are used on one GradientTape: "
                             "give their layers distinct names")
        return self.graph.state(weight.path, TensorType(weight.shape), trainable=weight.trainable)

    def node_of(self, value: Any) -> Any:
        """`value` as an operand of the graph: Tensors of this recording are their nodes, other
        Tensors and arrays inputs, weights states (also inside lists, tuples and dicts)."""
        if isinstance(value, Tensor):
            return value._node if value._recording is self else self.feed(value)
        if isinstance(value, Weight):
            return self.weight_node(value)
        if isinstance(value, (np.ndarray, np.generic)):
            return self.feed(value)
        if isinstance(value, list):
            return [self.node_of(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self.node_of(item) for item in value)
        if isinstance(value, dict):
            return {key: self.node_of(item) for key, item in value.items()}
        return value

    def wrap(self, result: Any) -> Any:
        """The nodes of `result` as Tensors of this recording."""
        if isinstance(result, Node):
            tensor = Tensor(node=result, recording=self)
            self.tensors.append(tensor)
            return tensor
        if isinstance(result, (list, tuple)):
            return type(result)(self.wrap(item) for item in result)
        return result

    def record(self, fn: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
        return self.wrap(fn(*self.node_of(list(args)), **self.node_of(kwargs)))

    # -- model calls -------------------------------------------------------------------------
    def call_model(self, model: TapeModel, x: Any, training: bool) -> Any:
        """The model's forward pass on x appended to the graph; returns its output Tensor(s)."""
        stateful = [layer.name for layer in model.layers if layer.stateful]
        if stateful:
            raise NotImplementedError(f"model {model.name!r}: stateful layers ({stateful[0]!r}) cannot be "
                                      "called under a GradientTape yet")
        if isinstance(x, dict):  # several inputs by name
            x = [x[tensor.layer.name] for tensor in model.inputs]
        parts = list(x) if isinstance(x, (list, tuple)) else [x]
        recorded = [isinstance(p, Tensor) and p._recording is self for p in parts]
        # Concrete data, in the model's form (a column for a one-feature model, float32); recorded
        # tensors are stood in for by zeros of their shape, only to build and bind the model.
        probe = [np.zeros((1, *p.shape[1:]), np.float32) if rec else p
                 for p, rec in zip(parts, recorded, strict=True)]
        converted = model._as_input(probe if len(parts) > 1 else probe[0])
        engine = model._engine_for(converted)
        arrays = converted.arrays if isinstance(converted, ModelInputs) else [converted]
        given = []
        for index, (part, array, rec) in enumerate(zip(parts, arrays, recorded, strict=True)):
            node = part._node if rec else self.feed(array)
            want = tuple(model.inputs[index].shape[1:])
            if tuple(node.shape[1:]) != want:
                raise ValueError(f'Input {index} of model "{model.name}" is incompatible: expected shape '
                                 f"(None, {', '.join(map(str, want))}), got {node.shape}")
            given.append(node)
        if self.owner is UNOWNED:
            self.owner = model
        ctx = _TapeCallContext(self.graph, training)
        ctx.seed_name = f"seed{self._calls}"
        self._calls += 1
        outputs = record_outputs(model, self.graph, training, given=given, ctx=ctx)
        if ctx.seed_name in self.graph.inputs:  # a random layer drew: this call takes one counter step
            store = engine.store
            seed = int(store[RNG_STATE])
            store.assign(RNG_STATE, seed + 1)
            self.feeds[ctx.seed_name] = np.asarray(seed, dtype=np.int64)
        self._updates.update(self.graph.updates)  # a second call's update reads the same moving values
        self.graph.updates.clear()
        for weight in model.weights:
            if weight.path in self.graph.states:
                self.weight_node(weight)
        other = [name for name in self.graph.states if name not in self.weights]
        if other:
            raise NotImplementedError(f"model {model.name!r} reads the state {other[0]!r}, which is not a "
                                      "weight: it cannot be called under a GradientTape yet")
        result = [self.wrap(node) for node in outputs]
        return result if len(result) > 1 else result[0]

    # -- values and gradients ----------------------------------------------------------------
    def target(self, tensors: Sequence[Tensor], output_gradients: Sequence[Any] | None) -> Node:
        """The scalar whose gradients tape.gradient takes: the sum of the targets (times the output
        gradients, if given), as TensorFlow sums a non-scalar target."""
        total = None
        weights = output_gradients if output_gradients is not None else [None] * len(tensors)
        for tensor, weight in zip(tensors, weights, strict=True):
            if not isinstance(tensor, Tensor) or tensor._recording is not self:
                raise TypeError(f"GradientTape.gradient: the target must be a tensor computed under this "
                                f"tape, got {type(tensor).__name__}")
            node = tensor._node
            assert node is not None
            if weight is not None:
                node = node * self.feed(weight)
            if node.shape != ():
                node = b.reduce_sum(node)
            total = node if total is None else total + node
        assert total is not None
        return total

    def depends_on(self, target: Node) -> set[Node]:
        reached = {target}
        for node in reversed(self.graph.nodes):
            if node in reached:
                reached.update(node.inputs)
        return reached

    def run(self, target: Node | None = None, sources: Sequence[Node] = ()) -> list[np.ndarray]:
        """Compute every Tensor still without a value and the gradients of `target` with respect to
        `sources` with one compiled program (compiled once per structure); the first run also applies
        the state updates of training-mode calls (BatchNormalization's moving statistics). Returns
        the gradients."""
        pending = [t for t in self.tensors if t._value is None]
        updates = {} if self._updated else dict(self._updates)
        names: dict[Node, str] = {}
        outputs: dict[str, Node] = {}
        for node in [*(t._node for t in pending), *updates.values()]:
            if node not in names and self._direct(node) is None:
                names[node] = f"out{len(outputs)}"
                outputs[names[node]] = node
        results: dict[str, np.ndarray] = {}
        if outputs or sources:
            self.graph.outputs = outputs
            weights = [self.weights[name] for name in self.graph.states]
            program = program_for(self.owner, self.graph, weights, target, sources)
            results = program(self.batch or 1, self.feeds)

        def value(node: Node) -> np.ndarray:
            direct = self._direct(node)
            return direct if direct is not None else results[names[node]]

        for tensor in pending:
            tensor._value = value(tensor._node)
        if not self._updated:
            for path, node in updates.items():
                self.weights[path].assign(value(node))
            self._updated = True
        return [results[gradient_name(index)] for index in range(len(sources))]

    def _direct(self, node: Node) -> np.ndarray | None:
        """The value of an input, state or constant, which no program needs to compute."""
        if node.op == "input":
            return self.feeds[node.attrs["name"]]
        if node.op == "state":
            return self.weights[node.attrs["name"]].numpy()
        if node.op == "constant":
            return np.asarray(node.attrs["value"])
        return None


_ADD = on_tensors(lambda a, c: a + c)
_SUB = on_tensors(lambda a, c: a - c)
_MUL = on_tensors(lambda a, c: a * c)
_DIV = on_tensors(lambda a, c: a / c)
_NEG = on_tensors(lambda a: -a)
_ABS = on_tensors(b.abs_)
_GREATER = on_tensors(lambda a, c: b.greater(a, c) if isinstance(a, Node) else b.greater(-c, -a))
_GREATER_EQUAL = on_tensors(lambda a, c: b.greater_equal(a, c) if isinstance(a, Node)
                            else b.greater_equal(-c, -a))
_MATMUL = on_tensors(lambda a, c: b.matmul(a, c))
_GETITEM = on_tensors(lambda x, index: x[index])


def _power(x: Node, exponent: Any) -> Node:
    """x ** exponent: products for small whole exponents (any sign of x), else exp(e * log x)."""
    if isinstance(exponent, (int, float)) and float(exponent).is_integer() and 0 < abs(exponent) <= 4:
        result = b.square(x) if abs(exponent) >= 2 else x
        for _ in range(int(abs(exponent)) - 2):
            result = result * x
        return 1.0 / result if exponent < 0 else result
    if exponent == 0.5:
        return b.sqrt(x)
    return b.exp(b.log(x) * exponent)


_POW = on_tensors(_power)


def _loss_on_values(loss: losses.Loss, y_true: Any, y_pred: Any, sample_weight: Any) -> Any:
    """A loss object called on Tensors or arrays (`loss_fn(y, logits)` in a custom training loop, also
    with Keras's `sample_weight`) records on the open tape or computes eagerly."""
    if sample_weight is not None:
        return on_tensors(loss.weighted)(y_true, y_pred, sample_weight)
    return on_tensors(loss)(y_true, y_pred)


losses.set_value_call(_loss_on_values)
