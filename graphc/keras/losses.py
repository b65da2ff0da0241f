"""keras.losses"""

from graphc.frontend.losses import *  # noqa: F403
