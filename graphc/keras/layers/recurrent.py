"""keras.layers.recurrent (the Keras 2 module path): SimpleRNN, LSTM and GRU; the cells and
wrappers are not supported yet."""

from graphc.frontend.layers import GRU, LSTM, SimpleRNN
from graphc.keras.unsupported import LAYERS, missing

__all__ = ["GRU", "LSTM", "SimpleRNN"]
__getattr__ = missing("keras.layers.recurrent", LAYERS)
