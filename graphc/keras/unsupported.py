"""Keras names graphc does not have yet: importing one raises an ImportError that says so.

Each `keras.*` module of graphc lists its missing names here; its module-level `__getattr__`
(PEP 562) turns `from graphc.keras.layers import LSTM` into "LSTM is not supported by graphc yet
(...)" instead of a bare "cannot import name".
"""

from __future__ import annotations

from collections.abc import Callable

PLANNED = {
    "recurrent": "recurrent cells, wrappers and masks come with the sequence-models work",
    "other": "not implemented yet",
}

RECURRENT = ("ConvLSTM2D", "CuDNNLSTM", "CuDNNGRU")
OTHER_LAYERS = ("Conv3D", "MaxPooling3D", "AveragePooling3D", "GlobalAveragePooling3D", "GlobalMaxPooling3D",
                "UpSampling1D", "UpSampling3D", "ZeroPadding1D", "ZeroPadding3D", "Cropping1D", "Cropping3D",
                "SpatialDropout1D",
                "MultiHeadAttention", "Attention", "Conv1DTranspose", "SeparableConv1D", "DepthwiseConv1D",
                "LocallyConnected1D", "LocallyConnected2D", "StringLookup",
                "IntegerLookup", "Resizing", "RandomFlip", "RandomRotation", "RandomZoom")
LAYERS = {**dict.fromkeys(RECURRENT, "recurrent"), **dict.fromkeys(OTHER_LAYERS, "other")}
CALLBACKS = dict.fromkeys(("TensorBoard", "RemoteMonitor", "BackupAndRestore"), "other")


def missing(module: str, table: dict[str, str]) -> Callable[[str], object]:
    """A module `__getattr__` raising ImportError for the names in `table`, AttributeError otherwise."""

    def __getattr__(name: str) -> object:  # noqa: N807 - the PEP 562 hook
        if name in table:
            raise ImportError(
                f"{module}.{name} is not supported by graphc yet ({PLANNED[table[name]]}); see the "
                "Keras compatibility table in graphc's README"
            )
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
