"""A layer config as Keras wrote it -> the keyword arguments graphc's layer classes take: Keras 3's
dtype policies, the arguments Keras writes that graphc has no use for (refused unless they hold the
value meaning "not used"), activations serialized as objects. Used for a model's layers and for
layers nested in wrappers alike."""

from __future__ import annotations

from typing import Any

# Layer arguments Keras writes that graphc has no use for, with the value meaning "not used".
INERT_ARGS: dict[str, Any] = {
    "activity_regularizer": None, "quantization_config": None, "lora_rank": None, "lora_alpha": None,
    "beta_constraint": None, "gamma_constraint": None, "renorm": False, "renorm_clipping": None,
    "renorm_momentum": 0.99, "synchronized": False, "depthwise_constraint": None,
    "pointwise_constraint": None,
}


def layer_kwargs(class_name: str, config: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments for class `class_name` from its config; arguments graphc cannot honour
    are refused, naming the layer."""
    kwargs = dict(config)
    dtype = kwargs.get("dtype")
    if isinstance(dtype, dict):  # Keras 3 DTypePolicy
        dtype = (dtype.get("config") or {}).get("name")
    allowed = (None, "float32", "int32", "int64") if class_name == "InputLayer" else (None, "float32")
    if dtype not in allowed:
        raise ValueError(f"layer {class_name} {config.get('name')!r}: dtype {dtype!r} is not supported "
                         f"(one of {allowed[1:]})")
    kwargs["dtype"] = dtype if class_name == "InputLayer" else "float32"
    for key, inert in INERT_ARGS.items():
        if key in kwargs:
            value = kwargs.pop(key)
            if value != inert:
                raise ValueError(f"layer {class_name} {config.get('name')!r}: `{key}`={value!r} is not "
                                 "supported by graphc")
    activation = kwargs.get("activation")
    if isinstance(activation, dict):  # Keras 3 may serialize a built-in activation as an object
        kwargs["activation"] = activation.get("config")
    return kwargs
