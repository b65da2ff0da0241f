"""The cell classes (SimpleRNNCell, LSTMCell, GRUCell) and `RNN(cell)`, Keras's spelling of the
recurrent layers: `RNN(LSTMCell(32))` is `LSTM(32)`, with the same weights and numbers.

A cell holds its arguments; RNN runs the matching layer (its step as a scan). A cell the user
writes (a Layer with state_size) runs as a scan of its traced call (cell_loop.py). Stacked cells
(a list, or StackedRNNCells) run their layers one after another, which computes what stepping the
stack does.
"""

from __future__ import annotations

from typing import Any

from graphc.frontend.layers.base import CallContext, KerasTensor, Layer, shape_of_list_call
from graphc.frontend.layers.cell_loop import CellLoop, is_custom_cell
from graphc.frontend.layers.custom_objects import custom_layer_class
from graphc.frontend.layers.recurrent import _RNN, GRU, LSTM, SimpleRNN
from graphc.ir.graph import Node
from graphc.ir.types import Dim


class _Cell:
    LAYER: type[_RNN] = SimpleRNN

    def __init__(self, units: int, **kwargs: Any) -> None:
        for key in ("return_sequences", "return_state", "go_backwards", "stateful", "unroll"):
            if key in kwargs:
                raise ValueError(f"{type(self).__name__}: `{key}` is an argument of the RNN layer, not "
                                 "the cell")
        self.name = kwargs.pop("name", None)
        kwargs.pop("trainable", None)
        kwargs.pop("dtype", None)
        self.LAYER(units, **kwargs)  # checks the arguments now, as Keras's cell constructors do
        self.units = units
        self.arguments = kwargs

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "units": self.units, **self.arguments}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> _Cell:
        return cls(**config)


class SimpleRNNCell(_Cell):
    LAYER = SimpleRNN


class LSTMCell(_Cell):
    LAYER = LSTM


class GRUCell(_Cell):
    LAYER = GRU


CELLS = {cls.__name__: cls for cls in (SimpleRNNCell, LSTMCell, GRUCell)}


class StackedRNNCells:
    """Cells applied one after another at every step: `RNN(StackedRNNCells([...]))` is `RNN([...])`."""

    def __init__(self, cells: Any, **kwargs: Any) -> None:
        self.cells = list(cells)
        if not self.cells or not all(isinstance(cell, _Cell) for cell in self.cells):
            raise ValueError(f"StackedRNNCells: `cells` must be a non-empty list of SimpleRNNCell, LSTMCell "
                             f"or GRUCell, got {cells!r}")
        self.name = kwargs.get("name")


class _Stack:
    """The layers of stacked cells, one after another: every layer but the last returns its whole
    sequence (the next cell's input at each step), the first runs backwards when the RNN does
    (the others then read its outputs in processing order, as the stacked cell steps do), and with
    return_state the states of every cell come back in cell order."""

    def __init__(self, cells: list[_Cell], return_sequences: bool, return_state: bool, go_backwards: bool,
                 stateful: bool, unroll: bool, name: str) -> None:
        last = len(cells) - 1
        self.cells = cells
        self.layers = [cell.LAYER(cell.units, **cell.arguments, return_sequences=return_sequences or i < last,
                                  return_state=return_state, go_backwards=go_backwards and i == 0,
                                  stateful=stateful, unroll=unroll, name=f"{name}_cell_{i}")
                       for i, cell in enumerate(cells)]
        self.return_sequences, self.return_state = return_sequences, return_state
        self.go_backwards, self.stateful, self.unroll = go_backwards, stateful, unroll
        self.weight_prefix = name

    @property
    def weights(self) -> list[Any]:
        return [w for layer in self.layers for w in layer.weights]

    def ensure_built(self, input_shape: tuple[Dim, ...]) -> None:
        shape = tuple(input_shape)
        for index, layer in enumerate(self.layers):
            layer.weight_prefix = f"{self.weight_prefix}/cells/{index}"
            layer.ensure_built(shape)
            shape = (shape[0], shape[1], layer.units)

    def check_input_shape(self, input_shape: tuple[Dim, ...]) -> None:
        self.layers[0].check_input_shape(input_shape)

    def symbolic_call(self, owner: Layer, inputs: Any, initial_state: Any) -> Any:
        if isinstance(inputs, (list, tuple)):
            inputs, initial_state = inputs[0], list(inputs[1:]) or initial_state
        states = [] if initial_state is None else list(initial_state)
        wanted = sum(layer.state_count for layer in self.layers)
        if states and len(states) != wanted:
            raise ValueError(f"RNN {owner.name!r}: initial_state must hold the {wanted} states of its "
                             f"stacked cells in order, got {len(states)}")
        sources = [inputs, *states]
        owner.ensure_built(tuple(inputs.shape))
        shapes = shape_of_list_call(owner, [t.shape for t in sources], f"RNN {owner.name!r}")
        owner.output_shape = shapes
        if self.return_state:
            return KerasTensor.outputs_of(shapes, owner, sources)
        return KerasTensor(shapes, owner, sources)

    def call(self, x: Any, ctx: CallContext) -> Any:
        x, states = (x[0], list(x[1:])) if isinstance(x, list) else (x, [])
        finals: list[Node] = []
        for layer in self.layers:
            mine, states = states[:layer.state_count], states[layer.state_count:]
            result = layer.call([x, *mine] if mine else x, ctx)
            x, final = (result[0], result[1:]) if isinstance(result, list) else (result, [])
            finals.extend(final)
        return [x, *finals] if self.return_state else x

    def compute_mask(self, x: Any, mask: Node | None) -> Node | None:
        return mask if self.return_sequences else None

    def call_arguments(self, refs: list[Any]) -> dict[str, Any]:
        return self.layers[0].call_arguments(refs)

    def saved_weight_groups(self) -> list[tuple[str, str, list[Any]]]:
        groups = [("", self.weight_prefix.rsplit("/", 1)[-1], [])]
        for index, layer in enumerate(self.layers):
            groups += [(f"cell/cells/{index}/{path}".rstrip("/"), name, weights)
                       for path, name, weights in layer.saved_weight_groups() if weights]
        return groups

    def bind_state_store(self, store: Any) -> None:
        for layer in self.layers:
            layer.bind_state_store(store)

    def reset_states(self, states: Any = None) -> None:
        for layer in self.layers:
            layer.reset_states(states)


class RNN(Layer):
    """`RNN(cell, return_sequences, go_backwards, unroll, ...)`: the cell's layer, under this name."""

    supports_masking = True

    def __init__(self, cell: Any = None, return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, stateful: bool = False, unroll: bool = False,
                 zero_output_for_mask: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(cell, dict):
            cell = _cell_from_config(cell)
        if isinstance(cell, StackedRNNCells):
            cell = cell.cells
        if isinstance(cell, (list, tuple)):
            stack = StackedRNNCells(cell)
            self.cell: Any = stack
            self.layer: Any = _Stack(stack.cells, return_sequences, return_state, go_backwards, stateful,
                                     unroll, self.name)
            return
        if is_custom_cell(cell):
            self.cell = cell
            self.layer = CellLoop(cell, return_sequences, return_state, go_backwards, stateful, unroll,
                                  self.name)
            return
        if not isinstance(cell, _Cell):
            raise ValueError(f"RNN {self.name!r}: `cell` must be a SimpleRNNCell, LSTMCell or GRUCell, or a "
                             f"Layer with state_size and call(inputs, states); got {cell!r}")
        self.cell = cell
        self.layer = cell.LAYER(cell.units, **cell.arguments, return_sequences=return_sequences,
                                return_state=return_state, go_backwards=go_backwards, stateful=stateful,
                                unroll=unroll, name=self.name)

    def __call__(self, inputs: Any, initial_state: Any = None, training: Any = None,  # type: ignore[override]
                 mask: Any = None, **kwargs: Any) -> Any:
        return self.layer.symbolic_call(self, inputs, initial_state)

    @property
    def stateful(self) -> bool:  # type: ignore[override]
        return self.layer.stateful

    def bind_state_store(self, store: Any) -> None:
        self.layer.bind_state_store(store)

    def reset_states(self, states: Any = None) -> None:
        self.layer.reset_states(states)

    def call_on(self, inputs: Any) -> Any:
        return self.layer.symbolic_call(self, inputs[0], list(inputs[1:]) or None)

    def call_arguments(self, refs: list[Any]) -> dict[str, Any]:
        return self.layer.call_arguments(refs)

    def build(self, input_shape: tuple[Dim, ...]) -> None:
        self.layer.weight_prefix = self.weight_prefix
        self.layer.ensure_built(input_shape)
        self._weights = self.layer.weights

    def check_input_shape(self, input_shape: tuple[Dim, ...]) -> None:
        self.layer.check_input_shape(input_shape)

    def call(self, x: Any, ctx: CallContext) -> Any:
        return self.layer.call(x, ctx)

    def compute_mask(self, x: Any, mask: Node | None) -> Node | None:
        return self.layer.compute_mask(x, mask)

    def saved_weight_groups(self) -> list[tuple[str, str, list[Any]]]:
        return self.layer.saved_weight_groups()

    def get_config(self) -> dict[str, Any]:
        layer = self.layer
        cell = _cell_entry(self.cell)
        return {**super().get_config(), "return_sequences": layer.return_sequences,
                "return_state": layer.return_state, "go_backwards": layer.go_backwards,
                "stateful": layer.stateful, "unroll": layer.unroll, "zero_output_for_mask": False,
                "cell": cell}


def _cell_entry(cell: Any) -> dict[str, Any]:
    if isinstance(cell, StackedRNNCells):
        config: dict[str, Any] = {"cells": [_cell_entry(each) for each in cell.cells]}
    else:
        config = cell.get_config()
    return {"module": "keras.layers", "class_name": type(cell).__name__, "config": config,
            "registered_name": None}


def _cell_from_config(entry: dict[str, Any]) -> Any:
    if entry.get("class_name") == "StackedRNNCells":
        cells = (entry.get("config") or {}).get("cells")
        if not isinstance(cells, list):
            raise ValueError(f"RNN: StackedRNNCells needs a list of cells, got {str(entry)[:80]}")
        return StackedRNNCells([_cell_from_config(each) for each in cells])
    name = entry.get("class_name")
    cls: Any = CELLS.get(name) or custom_layer_class(name)  # type: ignore[arg-type]
    if cls is None:
        raise ValueError(f"RNN: the cell must be one of {sorted(CELLS)} or a class given in custom_objects, "
                         f"got {str(entry)[:80]}")
    config = dict(entry.get("config") or {})
    if isinstance(config.get("dtype"), dict):  # Keras 3's dtype policy
        config.pop("dtype")
    return cls.from_config(config)
