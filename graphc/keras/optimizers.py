"""keras.optimizers"""

from graphc.frontend.optimizers import *  # noqa: F403
