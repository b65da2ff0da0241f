"""Noise layers for regularization (Keras 3 `layers/regularization/`): GaussianNoise,
GaussianDropout and AlphaDropout, active in training only, the identity in predict and evaluate.

Normal samples come from the counter-based uniform stream through the inverse normal CDF
(Acklam's rational approximation, relative error below 1.2e-9), built from pointwise ops, so the
noise is drawn inside the compiled step like dropout's masks.
"""

from __future__ import annotations

import math
from typing import Any

from graphc.frontend.layers.base import CallContext, Layer
from graphc.ir.graph import Node
from graphc.ops import builders as b

_A = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02,
      -3.066479806614716e+01, 2.506628277459239e+00)
_B = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01,
      -1.328068155288572e+01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00,
      4.374664141464968e+00, 2.938163982698783e+00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00)
_LOW = 0.02425
SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _poly(x: Node, coefficients: tuple[float, ...]) -> Node:
    result = x * coefficients[0] + coefficients[1]
    for c in coefficients[2:]:
        result = result * x + c
    return result


def standard_normal(uniform: Node) -> Node:
    """N(0, 1) samples from U[0, 1) ones: the inverse normal CDF, central and tail branches."""
    p = b.clip(uniform, 1e-7, 1.0 - 1e-7)
    q = p - 0.5
    r = q * q
    central = _poly(r, _A) * q / (_poly(r, _B) * r + 1.0)
    tail_p = b.minimum(p, 1.0 - p)  # the tails are mirror images
    t = b.sqrt(b.log(tail_p) * -2.0)
    tail = _poly(t, _C) / (_poly(t, _D) * t + 1.0)  # the lower tail's value (negative)
    signed_tail = b.select(b.greater(p, 0.5), -tail, tail)
    return b.select(b.greater(b.abs_(q), 0.5 - _LOW), signed_tail, central)


def _rate(layer: str, rate: Any) -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < 1:
        raise ValueError(f"{layer}: `rate` must be a number in [0, 1), got {rate!r}")
    return float(rate)


class _Noise(Layer):
    supports_masking = True

    def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed = seed

    def _uniform(self, x: Node, ctx: CallContext, shape: Any = None) -> Node:
        stream = self.seed if self.seed is not None else ctx.next_stream()
        return b.random_uniform(ctx.random_seed(), x.shape if shape is None else shape, stream)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed}


class GaussianNoise(_Noise):
    """x + N(0, stddev^2) noise in training."""

    def __init__(self, stddev: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed, **kwargs)
        if isinstance(stddev, bool) or not isinstance(stddev, (int, float)) or stddev < 0:
            raise ValueError(f"GaussianNoise: `stddev` must be a number >= 0, got {stddev!r}")
        self.stddev = float(stddev)

    def call(self, x: Node, ctx: CallContext) -> Node:
        if not ctx.training or self.stddev == 0:
            return x
        return x + standard_normal(self._uniform(x, ctx)) * self.stddev

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "stddev": self.stddev}


class GaussianDropout(_Noise):
    """x * N(1, rate / (1 - rate)) noise in training."""

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed, **kwargs)
        self.rate = _rate("GaussianDropout", rate)

    def call(self, x: Node, ctx: CallContext) -> Node:
        if not ctx.training or self.rate == 0:
            return x
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        return x * (standard_normal(self._uniform(x, ctx)) * stddev + 1.0)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate}


class AlphaDropout(_Noise):
    """Dropout that keeps SELU's self-normalization: dropped values become SELU's negative
    saturation, then an affine map restores mean and variance (Keras's a and b)."""

    def __init__(self, rate: float, noise_shape: Any = None, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed, **kwargs)
        self.rate = _rate("AlphaDropout", rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)

    def call(self, x: Node, ctx: CallContext) -> Node:
        if not ctx.training or self.rate == 0:
            return x
        shape = x.shape if self.noise_shape is None else tuple(
            s if n is None else n for n, s in zip(self.noise_shape, x.shape, strict=True))
        keep = b.greater_equal(self._uniform(x, ctx, shape), self.rate)
        alpha_p = -SELU_ALPHA * SELU_SCALE
        a = ((1.0 - self.rate) * (1.0 + self.rate * alpha_p ** 2)) ** -0.5
        shifted = -a * alpha_p * self.rate
        return (x * keep + (1.0 - keep) * alpha_p) * a + shifted

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate,
                "noise_shape": None if self.noise_shape is None else list(self.noise_shape)}
