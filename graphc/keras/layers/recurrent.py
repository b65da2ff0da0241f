"""keras.layers.recurrent (the Keras 2 module path): SimpleRNN, LSTM, GRU, their cells and RNN."""

from graphc.frontend.layers import (
    GRU,
    LSTM,
    RNN,
    GRUCell,
    LSTMCell,
    SimpleRNN,
    SimpleRNNCell,
    StackedRNNCells,
)
from graphc.keras.unsupported import LAYERS, missing

__all__ = ["GRU", "LSTM", "RNN", "GRUCell", "LSTMCell", "SimpleRNN", "SimpleRNNCell", "StackedRNNCells"]
__getattr__ = missing("keras.layers.recurrent", LAYERS)
