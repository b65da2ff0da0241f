"""keras.metrics"""

from graphc.frontend.metrics import *  # noqa: F403
