"""keras.optimizers.legacy (tf.keras 2.11+): the same optimizers under the path Keras 2 scripts use.

Their update rules are Keras 3's (the ones graphc implements); the legacy classes' `decay=` keeps
working as on the main classes (per-iteration inverse-time decay, with a DeprecationWarning).
"""

from graphc.frontend.optimizers import SGD, Adadelta, Adagrad, Adam, Adamax, Nadam, Optimizer, RMSprop

__all__ = ["SGD", "Adadelta", "Adagrad", "Adam", "Adamax", "Nadam", "Optimizer", "RMSprop"]
