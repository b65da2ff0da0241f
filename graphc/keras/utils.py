"""keras.utils"""

from graphc.frontend.seeding import set_random_seed
from graphc.frontend.utils import normalize, pad_sequences, to_categorical

__all__ = ["normalize", "pad_sequences", "set_random_seed", "to_categorical"]
