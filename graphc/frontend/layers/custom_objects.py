"""The layer classes the calling code lets configs name (`custom_objects=`, custom_object_scope):
kept here, below saving, so layers that deserialize an inner object (a custom RNN cell) see them."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

CUSTOM_LAYERS: ContextVar[dict[str, type]] = ContextVar("custom_layers", default={})  # noqa: B039
CUSTOM_FUNCTIONS: ContextVar[dict[str, Any]] = ContextVar("custom_functions", default={})  # noqa: B039


def custom_layer_class(name: Any) -> type | None:
    return CUSTOM_LAYERS.get().get(name) if isinstance(name, str) else None
