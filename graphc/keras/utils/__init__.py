"""keras.utils"""

from graphc.export.model_dot import model_to_dot, plot_model
from graphc.frontend.batch_sources import PyDataset, Sequence
from graphc.frontend.saving import custom_object_scope
from graphc.frontend.seeding import set_random_seed
from graphc.frontend.utils import normalize, pad_sequences, to_categorical
from graphc.keras.utils import np_utils

__all__ = [
    "custom_object_scope",
    "PyDataset",
    "Sequence",
    "model_to_dot",
    "normalize",
    "np_utils",
    "pad_sequences",
    "plot_model",
    "set_random_seed",
    "to_categorical",
]
