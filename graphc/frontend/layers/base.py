"""The Layer base class, layer weights, and symbolic tensors of the functional API."""

from __future__ import annotations

import contextlib
import inspect
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from graphc_runtime.locks import ReadWriteLock

from graphc.frontend import constraints as constraints_mod
from graphc.frontend import initializers as initializers_mod
from graphc.frontend import regularizers as regularizers_mod
from graphc.frontend.layers.naming import to_snake_case, unique_name
from graphc.ir.graph import Graph, Node
from graphc.ir.types import Dim, ShapeError, TensorType, format_shape


class Weight:
    """A layer variable. Once the model is compiled its value is the runtime's live buffer.

    A bound weight reads and writes its buffer under the state store's lock, so get_weights and
    set_weights from one thread never see or leave a half-written array while another trains.
    """

    def __init__(self, path: str, value: np.ndarray, trainable: bool, regularizer: Any = None,
                 constraint: Any = None) -> None:
        self.path = path
        self.name = path.rsplit("/", 1)[-1]
        self.trainable = trainable
        self.regularizer = regularizer
        self.constraint = constraint  # applied to the updated value inside the compiled training step
        self._value = np.array(value, dtype=np.float32, order="C")  # keeps a scalar weight 0-d
        self._lock: ReadWriteLock | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return self._value.shape

    def numpy(self) -> np.ndarray:
        lock = self._lock
        if lock is None:
            return self._value.copy()
        with lock.reading():
            return self._value.copy()

    def assign(self, value: Any) -> None:
        array = np.asarray(value, dtype=np.float32)
        if array.shape != self._value.shape:
            raise ValueError(
                f"weight {self.path!r}: expected shape {self._value.shape}, got {array.shape}"
            )
        lock = self._lock
        if lock is None:
            self._value[...] = array
            return
        with lock.writing():
            self._value[...] = array

    @property
    def lock(self) -> ReadWriteLock | None:
        """The lock of the store this weight's buffer lives in (None before a model compiles)."""
        return self._lock

    def bind(self, store: Any) -> None:
        """Move the value into the store's runtime-owned buffer, which from now on is the value. A
        weight already bound (its layer is part of another compiled model too) lends its buffer to
        the new store instead, so every model sharing the layer trains and reads one value."""
        if self._lock is not None:
            store.share(self.path, self._value)
            return
        buffer = store[self.path]
        buffer[...] = self._value
        self._value = buffer
        self._lock = store.lock

    def __repr__(self) -> str:
        return f"<Weight {self.path} shape={self.shape} trainable={self.trainable}>"


@dataclass
class CallContext:
    """What a layer needs besides its input while its graph is recorded."""

    graph: Graph
    training: bool
    # The Keras mask of the layer's input ((N, T) of 1.0/0.0, e.g. from Embedding(mask_zero=True)),
    # set by the recording loop before each layer; None when the input carries none.
    mask: Node | None = None
    # The model's declared batch size (Input(batch_shape=...), batch_input_shape=...), which stateful
    # recurrent layers size their carried states by; None when the model declares none.
    batch_size: int | None = None
    # Recording into a scratch graph only to learn the output shape (no program runs it).
    for_shape: bool = False
    _seed: Node | None = field(default=None, repr=False)
    _random_layers: int = field(default=0, repr=False)

    def random_seed(self) -> Node:
        """The per-step random seed state shared by every random layer of the program: an int64
        counter, so masks never repeat (a float32 one stopped moving after 2**24 steps)."""
        if self._seed is None:
            self._seed = self.graph.state(RNG_STATE, TensorType((), "int64"))
        return self._seed

    def state_rows(self) -> Node:
        """The program input `state_rows` (0..N-1, int32, fed by the trainer): stateful layers read
        their carried states with it (a gather from the (batch, units) state) and write them back
        (a scatter), so the states keep their declared batch size while the program's stays N."""
        existing = self.graph.inputs.get(STATE_ROWS)
        if existing is None:
            existing = self.graph.input(STATE_ROWS, TensorType((None,), "int32"))
        return existing

    def update_state(self, weight: Weight, value: Node) -> None:
        """The value a non-trainable weight takes after this step (BatchNormalization's moving
        statistics): a state update of the program, written by its native code."""
        if weight.path in self.graph.updates:
            raise ValueError(f"state {weight.path!r} is updated twice in {self.graph.name!r}")
        self.graph.updates[weight.path] = value

    def next_stream(self) -> int:
        """The random stream of the next unseeded random layer: its rank among the model's random
        layers, so a model rebuilt from its config (a resumed run) draws the same masks, and
        identical models share compiled code. Seeded layers use their seed instead."""
        self._random_layers += 1
        return UNSEEDED_STREAMS + self._random_layers


RNG_STATE = "rng/step"
STATE_ROWS = "state_rows"
UNSEEDED_STREAMS = 1 << 30  # unseeded streams start here, away from the small seeds users pick


class KerasTensor:
    """A symbolic tensor of the functional API: a shape and the layer call that produced it."""

    def __init__(self, shape: tuple[Dim, ...], layer: Layer, inputs: Sequence[KerasTensor], index: int = 0,
                 siblings: list[KerasTensor] | None = None) -> None:
        self.shape = tuple(shape)
        self.layer = layer
        self.inputs = list(inputs)
        # A layer call with several outputs (an RNN's return_state) makes one tensor per output; they
        # share `siblings` (the call's outputs in order), and `index` is this one's place there.
        self.index = index
        self.siblings = siblings

    @staticmethod
    def outputs_of(shapes: Sequence[tuple[Dim, ...]], layer: Layer, inputs: Sequence[KerasTensor]
                   ) -> list[KerasTensor]:
        """The tensors of one call with several outputs."""
        siblings: list[KerasTensor] = []
        siblings.extend(KerasTensor(shape, layer, inputs, index, siblings)
                        for index, shape in enumerate(shapes))
        return siblings

    @property
    def dtype(self) -> str:
        return "float32"

    def __repr__(self) -> str:
        return f"<KerasTensor shape={format_shape(self.shape)} from {self.layer.name}>"

    __array_ufunc__ = None  # numpy defers to the operators below: `array + tensor` is an operation too

    # Arithmetic records an operation layer (layers/operation.py), as Keras 3 records an op node.
    def __add__(self, other: Any) -> KerasTensor:
        return _operation("add", (self, other))

    def __radd__(self, other: Any) -> KerasTensor:
        return _operation("add", (other, self))

    def __sub__(self, other: Any) -> KerasTensor:
        return _operation("subtract", (self, other))

    def __rsub__(self, other: Any) -> KerasTensor:
        return _operation("subtract", (other, self))

    def __mul__(self, other: Any) -> KerasTensor:
        return _operation("multiply", (self, other))

    def __rmul__(self, other: Any) -> KerasTensor:
        return _operation("multiply", (other, self))

    def __truediv__(self, other: Any) -> KerasTensor:
        return _operation("divide", (self, other))

    def __rtruediv__(self, other: Any) -> KerasTensor:
        return _operation("divide", (other, self))

    def __neg__(self) -> KerasTensor:
        return _operation("negative", (self,))


def shape_of_list_call(layer: Layer, input_shapes: Sequence[tuple[Dim, ...]], what: str) -> Any:
    """The output shape(s) of `layer` called on a list of tensors of these shapes: recorded into a
    scratch graph, the one source of truth for shapes; `what` names the layer in the error."""
    graph = Graph(f"shape-of-{layer.name}")
    nodes = [graph.input(f"x{i}", TensorType(tuple(shape))) for i, shape in enumerate(input_shapes)]
    layer.built = True
    try:
        result = layer.record(nodes, CallContext(graph, training=False, for_shape=True))
    except ShapeError as err:
        shapes = ", ".join(format_shape(tuple(shape)) for shape in input_shapes)
        raise ValueError(f"{what} cannot take tensors of shapes [{shapes}]: {err}") from None
    return [node.shape for node in result] if isinstance(result, list) else result.shape


_operation_factory: Any = None


def set_operation_factory(factory: Any) -> None:
    """layers/operation.py gives the function that records an operation on symbolic tensors (it
    imports this module, so this module cannot import it)."""
    global _operation_factory
    _operation_factory = factory


def _operation(op: str, args: tuple[Any, ...]) -> KerasTensor:
    return _operation_factory(op, args, {})


def keras_history(inputs: Sequence[KerasTensor], operations: Sequence[tuple[Layer, list[KerasTensor],
                                                                          KerasTensor]]
                  ) -> dict[int, tuple[str, int, int]]:
    """Per tensor (by id), Keras's (layer name, node index, tensor index): the node index counts the
    layer's calls, the tensor index a call's outputs; configs and summaries name tensors so."""
    history = {id(tensor): (tensor.layer.name, 0, 0) for tensor in inputs}
    calls: dict[int, int] = {}
    nodes: dict[int, int] = {}
    for layer, _, out in operations:
        key = id(out.siblings) if out.siblings is not None else id(out)
        if key not in nodes:
            nodes[key] = calls.get(id(layer), 0)
            calls[id(layer)] = nodes[key] + 1
        history[id(out)] = (layer.name, nodes[key], out.index)
    return history


_BASE_KWARGS = ("name", "trainable", "dtype", "input_shape", "input_dim", "batch_input_shape", "batch_size")


class Layer:
    """A Keras layer: records its computation into graphs, owns its weights."""

    takes_list = False  # merge layers take a list of inputs; the others one tensor (or a list per call)
    stateful = False  # carries states from batch to batch (recurrent layers with stateful=True)
    supports_masking = False  # passes its input's mask on unchanged (Keras's attribute)
    # Each sample's output depends on that sample alone, and the layer records for any batch axis
    # (N or k * N rows): TimeDistributed then runs it once on every step's samples folded into the
    # batch (one convolution over N*T images) instead of a scan over the steps.
    folds_steps = False

    def __init__(self, **kwargs: Any) -> None:
        unknown = {k: v for k, v in kwargs.items() if k not in _BASE_KWARGS}
        if unknown:
            raise ValueError(f"Unrecognized keyword arguments passed to {type(self).__name__}: {unknown}")
        self.name: str = kwargs.get("name") or unique_name(to_snake_case(type(self).__name__))
        self.trainable: bool = kwargs.get("trainable", True)
        dtype = kwargs.get("dtype")
        if dtype not in (None, "float32"):
            raise ValueError(f"layer {self.name!r}: dtype must be 'float32', got {dtype!r}")
        self._batch_input_shape = _batch_input_shape(self.name, kwargs)
        self.declared_batch_size = _declared_batch_size(self.name, kwargs)
        self.built = False
        self._weights: list[Weight] = []
        self.weight_prefix = self.name  # a wrapped layer's weights live under its wrapper's name
        self.input_shape: tuple[Dim, ...] | None = None
        self.output_shape: tuple[Dim, ...] | None = None

    # -- building -----------------------------------------------------------------------------
    def build(self, input_shape: tuple[Dim, ...]) -> None:
        """Create weights for inputs of this shape; layers with weights override it."""
        self.built = True

    def add_weight(
        self,
        name: Any = None,
        shape: Any = None,
        initializer: Any = None,
        regularizer: Any = None,
        trainable: bool | None = True,
        constraint: Any = None,
        dtype: Any = None,
    ) -> Weight:
        """Keras 2's order (name, shape, ...) and Keras 3's (shape, initializer, ...), by keyword or
        position; Keras 3's defaults: glorot_uniform, and `variable`, `variable_1`, ... as names."""
        if isinstance(name, (tuple, list)):  # Keras 3 positional: add_weight(shape, initializer)
            name, shape, initializer = None, name, initializer if initializer is not None else shape
        if shape is None:
            raise ValueError(f"layer {self.name!r}: add_weight needs a `shape`")
        if dtype not in (None, "float32"):
            raise ValueError(f"layer {self.name!r}: add_weight dtype must be float32, got {dtype!r}")
        if name is None:
            taken = {w.path.rsplit("/", 1)[-1] for w in self._weights}
            name = next(n for n in (f"variable{'_' + str(i) if i else ''}" for i in range(len(taken) + 1))
                        if n not in taken)
        initializer = initializer if initializer is not None else "glorot_uniform"
        value = initializers_mod.get(initializer)(tuple(shape))
        weight = Weight(f"{self.weight_prefix}/{name}", value, trainable is not False and self.trainable,
                        regularizers_mod.get(regularizer), constraints_mod.get(constraint))
        self._weights.append(weight)
        return weight

    def ensure_built(self, input_shape: tuple[Dim, ...]) -> None:
        if not self.built:
            self.build(tuple(input_shape))
            self.built = True
            self.input_shape = tuple(input_shape)
        self.check_input_shape(tuple(input_shape))

    def check_input_shape(self, input_shape: tuple[Dim, ...]) -> None:
        """Layers with a fixed input feature size compare it here."""

    def input_id_limit(self) -> int | None:
        """For a layer that reads model inputs as ids (Embedding): ids must be whole numbers in
        [0, limit). Deployed C libraries check this; in Python, check_input_values does."""
        return None

    def check_input_values(self, x: np.ndarray, what: str) -> None:
        """Layers fed directly by model data refuse values they cannot take (Embedding: ids out of
        range) here, before any native code runs."""

    # -- recording --------------------------------------------------------------------------
    def call(self, x: Node, ctx: CallContext) -> Node:
        raise NotImplementedError(f"{type(self).__name__} does not define call()")

    def record(self, x: Node, ctx: CallContext) -> Node:
        """Append this layer's computation to ctx.graph, tagged with the layer's name."""
        with ctx.graph.scope(layer=self.name):
            if _takes_context(type(self).call):
                return self.call(x, ctx)
            return self._trace_user_call(x, ctx)

    def _trace_user_call(self, x: Node, ctx: CallContext) -> Node:
        """A subclass written as in Keras (`call(self, inputs, training=None, mask=None)`, weights as
        attributes) is traced: while call runs, each attribute holding one of its weights holds that
        weight's node instead, so `ops.matmul(inputs, self.w)` records the state, not a constant."""
        with self.weights_as(lambda weight: self.weight_state(ctx, weight)):
            parameters = inspect.signature(self.call).parameters
            extra: dict[str, Any] = {}
            if "training" in parameters:
                extra["training"] = ctx.training
            if "mask" in parameters:
                extra["mask"] = ctx.mask
            result = self.call(x, **extra)
        if not isinstance(result, Node):
            raise TypeError(f"layer {self.name!r} ({type(self).__name__}): call() must return a tensor made "
                            f"from its inputs with graphc.keras.ops, got {type(result).__name__}")
        return result

    @contextlib.contextmanager
    def weights_as(self, node_for: Callable[[Weight], Node]) -> Iterator[None]:
        """While tracing a Keras-style call: each attribute holding one of this layer's weights holds
        `node_for(weight)` instead, so `ops.matmul(inputs, self.w)` records that node."""
        swapped = {name: value for name, value in vars(self).items()
                   if isinstance(value, Weight) and any(value is w for w in self._weights)}
        for name, weight in swapped.items():
            setattr(self, name, node_for(weight))
        try:
            yield
        finally:
            for name, weight in swapped.items():
                setattr(self, name, weight)

    def takes_list_in(self, count: int) -> bool:
        """Whether one call with `count` inputs records them as a list (a merge always; an RNN given
        initial states too)."""
        return self.takes_list or count > 1

    def bind_state_store(self, store: Any) -> None:
        """A compiled model's state store, for layers that reset states of their own there
        (stateful recurrent layers' reset_states)."""

    def call_on(self, inputs: Sequence[KerasTensor]) -> Any:
        """Call this layer again on the tensors a saved config gives one of its calls."""
        return self(list(inputs) if self.takes_list else inputs[0])

    def call_arguments(self, refs: list[Any]) -> dict[str, Any]:
        """One call's inputs in a Keras 3 config's inbound node: {"args": ..., "kwargs": ...}."""
        return {"args": [refs] if self.takes_list else refs, "kwargs": {}}

    def saved_weight_groups(self) -> list[tuple[str, str, list[Weight]]]:
        """Where Keras 3's object tree (`.weights.h5`) keeps this layer's weights: (path below the
        layer's group, the name its `vars` group carries, the weights in order)."""
        return [("", self.name, self.weights)]

    def compute_mask(self, x: Any, mask: Node | None) -> Node | None:
        """The mask of this layer's output, as Keras computes it: passed on by layers that support
        masking, dropped by the others; Embedding(mask_zero=True) makes one."""
        return mask if self.supports_masking else None

    def compute_output_shape(self, input_shape: Any) -> Any:
        return self.output_shape_for(input_shape)

    def output_shape_for(self, input_shape: tuple[Dim, ...]) -> tuple[Dim, ...]:
        """Found by recording the layer into a scratch graph: one source of truth for shapes (a
        subclass's own compute_output_shape is not trusted over its call)."""
        self.ensure_built(input_shape)
        graph = Graph(f"shape-of-{self.name}")
        x = graph.input("x", TensorType(tuple(input_shape)))
        try:
            result = self.record(x, CallContext(graph, training=False, for_shape=True))
            return [node.shape for node in result] if isinstance(result, list) else result.shape
        except ShapeError as err:
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) cannot take input of shape "
                             f"{format_shape(tuple(input_shape))}: {err}") from None

    def __call__(self, inputs: KerasTensor, training: Any = None, **kwargs: Any) -> KerasTensor:
        """`training` (and Keras's other call arguments) are accepted and left to the programs: the
        training program records training behaviour, predict the other."""
        if not isinstance(inputs, KerasTensor):
            raise TypeError(
                f"layer {self.name!r} must be called on a symbolic tensor from Input(), got "
                f"{type(inputs).__name__}"
            )
        shape = self.output_shape_for(inputs.shape)
        self.output_shape = shape
        if isinstance(shape, list):  # a call with several outputs
            return KerasTensor.outputs_of(shape, self, [inputs])  # type: ignore[return-value]
        return KerasTensor(shape, self, [inputs])

    def weight_state(self, ctx: CallContext, weight: Weight) -> Node:
        return ctx.graph.state(weight.path, TensorType(weight.shape), trainable=weight.trainable)

    # -- weights ------------------------------------------------------------------------------
    @property
    def weights(self) -> list[Weight]:
        return list(self._weights)

    @property
    def trainable_weights(self) -> list[Weight]:
        return [w for w in self._weights if w.trainable]

    @property
    def non_trainable_weights(self) -> list[Weight]:
        return [w for w in self._weights if not w.trainable]

    def get_weights(self) -> list[np.ndarray]:
        return [w.numpy() for w in self._weights]

    def set_weights(self, weights: Sequence[Any]) -> None:
        if len(weights) != len(self._weights):
            raise ValueError(
                f"layer {self.name!r} expects {len(self._weights)} weight arrays "
                f"({[w.path for w in self._weights]}), got {len(weights)}"
            )
        for weight, value in zip(self._weights, weights, strict=True):
            weight.assign(value)

    def count_params(self) -> int:
        return int(sum(np.prod(w.shape) for w in self._weights))

    # -- config -------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"name": self.name, "trainable": self.trainable, "dtype": "float32"}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = [self.declared_batch_size, *self._batch_input_shape[1:]]
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


def _batch_input_shape(name: str, kwargs: dict[str, Any]) -> tuple[Dim, ...] | None:
    """Keras accepts input_shape, input_dim (a Keras 2 habit) or batch_input_shape on any layer."""
    if kwargs.get("batch_input_shape") is not None:
        shape = tuple(kwargs["batch_input_shape"])
        return (None,) + shape[1:]
    if kwargs.get("input_shape") is not None:
        shape = kwargs["input_shape"]
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
    elif kwargs.get("input_dim") is not None:
        warnings.warn(f"layer {name!r}: `input_dim` is a Keras 2 spelling; use `input_shape=(n,)`",
                      DeprecationWarning, stacklevel=4)
        shape = (kwargs["input_dim"],)
    else:
        return None
    for dim in shape:
        if not isinstance(dim, (int, np.integer)) or dim <= 0:
            raise ValueError(f"layer {name!r}: input_shape must be positive integers, got {shape}")
    return (None,) + tuple(int(d) for d in shape)


def _declared_batch_size(name: str, kwargs: dict[str, Any]) -> int | None:
    """The batch size of batch_input_shape=(batch, ...) or batch_size=: only stateful recurrent
    layers need it; shapes keep a free batch axis."""
    declared = kwargs.get("batch_input_shape")
    batch = tuple(declared)[0] if declared is not None and len(tuple(declared)) else kwargs.get("batch_size")
    whole = isinstance(batch, (int, np.integer)) and not isinstance(batch, bool)
    if batch is not None and (not whole or batch <= 0):
        raise ValueError(f"layer {name!r}: the batch size must be a positive integer, got {batch!r}")
    return None if batch is None else int(batch)


def _takes_context(call: Any) -> bool:
    """graphc's layers define call(self, x, ctx); a Keras-style subclass's call has no ctx."""
    return "ctx" in inspect.signature(call).parameters

