"""keras.models"""

from graphc.frontend.models import Model, Sequential

__all__ = ["Model", "Sequential"]
