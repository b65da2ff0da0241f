"""Keras weight initializers (K3 `keras/src/initializers`), computed in numpy at build time.

A seeded initializer returns the same values on every call; an unseeded one draws from the
process-wide generator of `seeding`, so `set_random_seed` makes model construction repeatable.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from graphc.frontend.seeding import global_rng

# stddev of a standard normal truncated to [-2, 2]; VarianceScaling divides by it.
TRUNCATION_STD = 0.87962566103423978


def compute_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out): conv kernels (..., in, out) multiply by the receptive field size."""
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    receptive_field = math.prod(shape[:-2])
    return int(shape[-2] * receptive_field), int(shape[-1] * receptive_field)


class Initializer:
    """Base class: `__call__(shape, dtype)` gives a float32 array; `get_config` its Keras arguments."""

    def __call__(self, shape: tuple[int, ...], dtype: str = "float32") -> np.ndarray:
        shape = _check_call(type(self).__name__, shape, dtype)
        return np.asarray(self.generate(shape), dtype=np.float32).reshape(shape)

    def generate(self, shape: tuple[int, ...]) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Initializer:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    def generate(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.zeros(shape)


class Ones(Initializer):
    def generate(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.ones(shape)


class Constant(Initializer):
    def __init__(self, value: float = 0.0) -> None:
        if np.ndim(value) != 0:
            raise ValueError(f"Constant: `value` must be a scalar, got shape {np.shape(value)}")
        self.value = float(value)

    def generate(self, shape: tuple[int, ...]) -> np.ndarray:
        return np.full(shape, self.value)

    def get_config(self) -> dict[str, Any]:
        return {"value": self.value}


class Identity(Initializer):
    def __init__(self, gain: float = 1.0) -> None:
        self.gain = float(gain)

    def generate(self, shape: tuple[int, ...]) -> np.ndarray:
        if len(shape) != 2:
            raise ValueError(f"Identity initializer needs a 2-D shape, got {shape} of rank {len(shape)}")
        return self.gain * np.eye(*shape)

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain}


class RandomInitializer(Initializer):
    """Owns the seed: an int gives the same values every call, None draws from the global generator."""

    def __init__(self, seed: int | None = None) -> None:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"{type(self).__name__}: `seed` must be an integer or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)

    def rng(self) -> np.random.Generator:
        return global_rng() if self.seed is None else np.random.default_rng(self.seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class RandomUniform(RandomInitializer):
    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None) -> None:
        super().__init__(seed)
        self.minval, self.maxval = float(minval), float(maxval)

    def generate(self, shape: tuple[int, ...]) -> np.ndarray:
        return self.rng().uniform(self.minval, self.maxval, shape)

    def get_config(self) -> dict[str, Any]:
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


class RandomNormal(RandomInitializer):
    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        super().__init__(seed)
        self.mean, self.stddev = float(mean), float(stddev)

    def generate(self, shape: tuple[int, ...]) -> np.ndarray:
        return self.rng().normal(self.mean, self.stddev, shape)

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class TruncatedNormal(RandomNormal):
    """Normal values redrawn until they lie within two standard deviations of the mean."""

    def generate(self, shape: tuple[int, ...]) -> np.ndarray:
        return self.mean + self.stddev * _truncated_standard_normal(self.rng(), shape)


def _truncated_standard_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    values = rng.standard_normal(shape)
    outside = np.abs(values) > 2.0
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2.0
    return values


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("uniform", "truncated_normal", "untruncated_normal")


class VarianceScaling(RandomInitializer):
    """Variance scale/fan: uniform in +-sqrt(3s), or a (truncated) normal of stddev sqrt(s)."""

    def __init__(self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal",
                 seed: int | None = None, input_axes: Any = None, output_axes: Any = None) -> None:
        name = type(self).__name__
        if not scale > 0.0:
            raise ValueError(f"{name}: `scale` must be positive, got {scale!r}")
        if mode not in _MODES:
            raise ValueError(f"{name}: `mode` must be one of {_MODES}, got {mode!r}")
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in _DISTRIBUTIONS:
            raise ValueError(f"{name}: `distribution` must be one of {_DISTRIBUTIONS}, got {distribution!r}")
        if input_axes is not None or output_axes is not None:
            raise ValueError(f"{name}: custom `input_axes`/`output_axes` are not supported")
        super().__init__(seed)
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def variance(self, shape: tuple[int, ...]) -> float:
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        return self.scale / max(1.0, fan)

    def generate(self, shape: tuple[int, ...]) -> np.ndarray:
        variance = self.variance(shape)
        rng = self.rng()
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, shape)
        if self.distribution == "untruncated_normal":
            return math.sqrt(variance) * rng.standard_normal(shape)
        return math.sqrt(variance) / TRUNCATION_STD * _truncated_standard_normal(rng, shape)

    def get_config(self) -> dict[str, Any]:
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed, "input_axes": None, "output_axes": None}


class _FixedVarianceScaling(VarianceScaling):
    """The named presets: only the seed is an argument."""

    PRESET: tuple[float, str, str] = (1.0, "fan_avg", "uniform")

    def __init__(self, seed: int | None = None, input_axes: Any = None, output_axes: Any = None) -> None:
        scale, mode, distribution = self.PRESET
        super().__init__(scale, mode, distribution, seed, input_axes, output_axes)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed, "input_axes": None, "output_axes": None}


class GlorotUniform(_FixedVarianceScaling):
    PRESET = (1.0, "fan_avg", "uniform")


class GlorotNormal(_FixedVarianceScaling):
    PRESET = (1.0, "fan_avg", "truncated_normal")


class HeUniform(_FixedVarianceScaling):
    PRESET = (2.0, "fan_in", "uniform")


class HeNormal(_FixedVarianceScaling):
    PRESET = (2.0, "fan_in", "truncated_normal")


class LecunUniform(_FixedVarianceScaling):
    PRESET = (1.0, "fan_in", "uniform")


class LecunNormal(_FixedVarianceScaling):
    PRESET = (1.0, "fan_in", "truncated_normal")


class Orthogonal(RandomInitializer):
    """Q of the QR decomposition of a normal matrix over (prod(shape[:-1]), shape[-1]), times gain."""

    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        super().__init__(seed)
        self.gain = float(gain)

    def generate(self, shape: tuple[int, ...]) -> np.ndarray:
        if len(shape) < 2:
            raise ValueError(f"Orthogonal initializer needs a shape of rank >= 2, got {shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = self.rng().standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain, **super().get_config()}


_CLASSES: dict[str, type[Initializer]] = {
    cls.__name__: cls
    for cls in (Zeros, Ones, Constant, Identity, RandomUniform, RandomNormal, TruncatedNormal,
                VarianceScaling, GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform,
                LecunNormal, Orthogonal)
}
_STRINGS: dict[str, type[Initializer]] = {
    "zeros": Zeros, "zero": Zeros, "ones": Ones, "one": Ones, "constant": Constant,
    "identity": Identity, "random_uniform": RandomUniform, "uniform": RandomUniform,
    "random_normal": RandomNormal, "normal": RandomNormal, "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling, "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform, "he_normal": HeNormal, "lecun_uniform": LecunUniform,
    "lecun_normal": LecunNormal, "orthogonal": Orthogonal,
}


def get(identifier: Any) -> Initializer | Callable[..., np.ndarray]:
    """An initializer from a Keras string, a class name, a {"class_name", "config"} dict or an instance."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        cls = _STRINGS.get(identifier) or _CLASSES.get(identifier)
        if cls is None:
            known = ", ".join(sorted(_STRINGS))
            raise ValueError(f"unknown initializer {identifier!r}; known initializers: {known}")
        return cls()
    if isinstance(identifier, dict):
        return _from_dict(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"cannot interpret {identifier!r} as an initializer")


def _from_dict(config: dict[str, Any]) -> Initializer:
    name = config.get("class_name")
    if not isinstance(name, str):
        raise ValueError(f"initializer config needs a 'class_name' string, got {config!r}")
    cls = _CLASSES.get(name) or _STRINGS.get(name)
    if cls is None:
        known = ", ".join(sorted(_CLASSES))
        raise ValueError(f"unknown initializer class {name!r} in config; known: {known}")
    args = dict(config.get("config") or {})
    try:
        return cls.from_config(args)
    except TypeError as err:
        raise ValueError(f"bad config for initializer {name!r}: {args} ({err})") from None


def serialize(initializer: Initializer) -> dict[str, Any]:
    """The K3 form: {"module", "class_name", "config", "registered_name"}."""
    if not isinstance(initializer, Initializer):
        raise ValueError(f"cannot serialize initializer {initializer!r}: not a graphc Initializer")
    return {"module": "keras.initializers", "class_name": type(initializer).__name__,
            "config": initializer.get_config(), "registered_name": None}


def _check_call(name: str, shape: Any, dtype: Any) -> tuple[int, ...]:
    if dtype not in (None, "float32", np.float32):
        raise ValueError(f"{name}: only dtype 'float32' is supported, got {dtype!r}")
    try:
        dims = tuple(int(d) for d in shape)
    except TypeError:
        raise ValueError(f"{name}: `shape` must be a tuple of integers, got {shape!r}") from None
    if any(d < 0 for d in dims):
        raise ValueError(f"{name}: `shape` must not have negative dimensions, got {dims}")
    return dims
