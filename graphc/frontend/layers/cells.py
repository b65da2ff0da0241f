"""The cell classes (SimpleRNNCell, LSTMCell, GRUCell) and `RNN(cell)`, Keras's spelling of the
recurrent layers: `RNN(LSTMCell(32))` is `LSTM(32)`, with the same weights and numbers.

A cell holds its arguments; RNN runs the matching layer (the recurrence op does the time loop
whole, not a cell per step). Stacked cells (a list) are not supported yet.
"""

from __future__ import annotations

from typing import Any

from graphc.frontend.layers.base import CallContext, Layer
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


class RNN(Layer):
    """`RNN(cell, return_sequences, go_backwards, unroll, ...)`: the cell's layer, under this name."""

    supports_masking = True

    def __init__(self, cell: Any = None, return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, stateful: bool = False, unroll: bool = False,
                 zero_output_for_mask: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(cell, dict):
            cell = _cell_from_config(cell)
        if isinstance(cell, (list, tuple)):
            raise NotImplementedError(f"RNN {self.name!r}: stacked cells (a list) are not supported by "
                                      "graphc yet; stack RNN layers with return_sequences=True instead")
        if not isinstance(cell, _Cell):
            raise ValueError(f"RNN {self.name!r}: `cell` must be a SimpleRNNCell, LSTMCell or GRUCell, got "
                             f"{cell!r}")
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
        cell = {"module": "keras.layers", "class_name": type(self.cell).__name__,
                "config": self.cell.get_config(), "registered_name": None}
        return {**super().get_config(), "return_sequences": layer.return_sequences,
                "return_state": layer.return_state, "go_backwards": layer.go_backwards,
                "stateful": layer.stateful, "unroll": layer.unroll, "zero_output_for_mask": False,
                "cell": cell}


def _cell_from_config(entry: dict[str, Any]) -> _Cell:
    cls = CELLS.get(entry.get("class_name"))  # type: ignore[arg-type]
    if cls is None:
        raise ValueError(f"RNN: the cell must be one of {sorted(CELLS)}, got {str(entry)[:80]}")
    config = dict(entry.get("config") or {})
    if isinstance(config.get("dtype"), dict):  # Keras 3's dtype policy
        config.pop("dtype")
    return cls.from_config(config)
