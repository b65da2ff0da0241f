"""keras.callbacks"""

from graphc.frontend.callbacks import *  # noqa: F403
