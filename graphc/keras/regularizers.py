"""keras.regularizers"""

from graphc.frontend.regularizers import *  # noqa: F403
