"""keras.initializers"""

from graphc.frontend.initializers import *  # noqa: F403
