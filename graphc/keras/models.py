"""keras.models"""

from graphc.frontend.models import Model, Sequential
from graphc.frontend.saving import load_model, model_from_json

__all__ = ["Model", "Sequential", "load_model", "model_from_json"]
