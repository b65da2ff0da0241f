"""keras.activations"""

from graphc.frontend.activations import *  # noqa: F403
from graphc.frontend.activations import get, serialize  # noqa: F401
