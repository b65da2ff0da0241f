"""keras.models"""

from graphc.frontend.models import Model, Sequential
from graphc.frontend.saving import load_model, model_from_json, model_from_yaml

__all__ = ["Model", "Sequential", "load_model", "model_from_json", "model_from_yaml"]
