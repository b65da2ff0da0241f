"""BatchNormalization: batch statistics in training (and moving statistics updated inside the
compiled training step), the moving statistics in inference, as Keras 3 defines them."""

from __future__ import annotations

from typing import Any

from graphc.frontend import constraints, initializers, regularizers
from graphc.frontend.layers.base import CallContext, Layer
from graphc.frontend.layers.legacy import rename_legacy_kwargs
from graphc.ir.graph import Node
from graphc.ir.types import Dim, format_shape
from graphc.ops import builders as b


class BatchNormalization(Layer):
    """y = gamma * (x - mean) / sqrt(var + epsilon) + beta over every axis but `axis`.

    Training: mean and the biased variance of the batch; then moving = moving * momentum +
    batch * (1 - momentum), Keras 3's rule (tf_keras's fused 4-D path updates the moving variance
    with the unbiased variance instead). A layer with trainable=False always runs in inference mode.
    """

    supports_masking = True

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_variance_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        if "mode" in kwargs:
            mode = kwargs.pop("mode")
            if mode != 0:
                raise ValueError(
                    f"BatchNormalization: Keras 1's mode={mode!r} is not supported (only mode=0)"
                )
        if "beta_init" in kwargs or "gamma_init" in kwargs:
            renamed = rename_legacy_kwargs(
                "BatchNormalization",
                {k: kwargs.pop(k) for k in ("beta_init", "gamma_init") if k in kwargs},
                {"beta_init": "beta_initializer", "gamma_init": "gamma_initializer"},
            )
            beta_initializer = renamed.get("beta_initializer", beta_initializer)
            gamma_initializer = renamed.get("gamma_initializer", gamma_initializer)
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            if len(axis) != 1:
                raise ValueError(f"BatchNormalization: only one axis is supported, got {axis!r}")
            axis = axis[0]
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"BatchNormalization: `axis` must be an int, got {axis!r}")
        if not 0 <= float(momentum) <= 1 or float(epsilon) <= 0:
            raise ValueError(
                f"BatchNormalization: momentum must be in [0, 1] and epsilon > 0, got "
                f"momentum={momentum!r}, epsilon={epsilon!r}"
            )
        self.axis = axis
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)

    def _axis(self, rank: int) -> int:
        axis = self.axis + rank if self.axis < 0 else self.axis
        if not 1 <= axis < rank:
            raise ValueError(
                f"BatchNormalization {self.name!r}: axis {self.axis} is not a feature axis of a "
                f"rank-{rank} input"
            )
        return axis

    def build(self, input_shape: tuple[Dim, ...]) -> None:
        channels = input_shape[self._axis(len(input_shape))]
        if channels is None:
            raise ValueError(
                f"BatchNormalization {self.name!r}: the normalized axis of "
                f"{format_shape(input_shape)} must have a known size"
            )
        shape = (channels,)
        self.gamma = (
            self.add_weight("gamma", shape, self.gamma_initializer, self.gamma_regularizer)
            if self.scale
            else None
        )
        self.beta = (
            self.add_weight("beta", shape, self.beta_initializer, self.beta_regularizer)
            if self.center
            else None
        )
        self.moving_mean = self.add_weight(
            "moving_mean", shape, self.moving_mean_initializer, trainable=False
        )
        self.moving_variance = self.add_weight(
            "moving_variance", shape, self.moving_variance_initializer, trainable=False
        )

    def check_input_shape(self, input_shape: tuple[Dim, ...]) -> None:
        axis = self._axis(len(input_shape))
        if input_shape[axis] != self.moving_mean.shape[0]:
            raise ValueError(
                f'Input 0 of layer "{self.name}" is incompatible with the layer: expected axis '
                f"{self.axis} of input shape to have value {self.moving_mean.shape[0]}, but "
                f"received input with shape {format_shape(input_shape)}"
            )

    def call(self, x: Node, ctx: CallContext) -> Node:
        rank = x.type.rank
        axis = self._axis(rank)
        reduced = [a for a in range(rank) if a != axis]
        param_shape = tuple(x.shape[axis] if a == axis else 1 for a in range(1, rank))

        def param(weight: Any) -> Node:
            return b.reshape(self.weight_state(ctx, weight), param_shape)

        if ctx.training and self.trainable:
            mean = b.reduce_mean(x, reduced, keepdims=True)
            centered = x - mean
            variance = b.reduce_mean(centered * centered, reduced, keepdims=True)
            keep = self.momentum
            for weight, batch_value in ((self.moving_mean, mean), (self.moving_variance, variance)):
                flat = b.reshape(batch_value, weight.shape)
                ctx.update_state(weight, self.weight_state(ctx, weight) * keep + flat * (1.0 - keep))
        else:
            centered = x - param(self.moving_mean)
            variance = param(self.moving_variance)
        inverse = 1.0 / b.sqrt(variance + self.epsilon)
        if self.gamma is not None:
            inverse = inverse * param(self.gamma)
        y = centered * inverse
        return y + param(self.beta) if self.beta is not None else y

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": None,
            "gamma_constraint": None,
        }


class LayerNormalization(Layer):
    """y = gamma * (x - mean) / sqrt(var + epsilon) + beta with the mean and (biased) variance of
    each sample over `axis` (the last by default): the same in training and inference, no state."""

    supports_masking = True

    def __init__(self, axis: Any = -1, epsilon: float = 1e-3, center: bool = True, scale: bool = True,
                 rms_scaling: bool = False, beta_initializer: Any = "zeros", gamma_initializer: Any = "ones",
                 beta_regularizer: Any = None, gamma_regularizer: Any = None, beta_constraint: Any = None,
                 gamma_constraint: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        axes = (axis,) if isinstance(axis, int) and not isinstance(axis, bool) else tuple(axis)
        if not axes or any(isinstance(a, bool) or not isinstance(a, int) for a in axes):
            raise ValueError(f"LayerNormalization: `axis` must be an int or a list of ints, got {axis!r}")
        if float(epsilon) <= 0:
            raise ValueError(f"LayerNormalization: epsilon must be > 0, got {epsilon!r}")
        if rms_scaling:
            raise NotImplementedError("LayerNormalization: rms_scaling=True is not supported yet")
        self.axis = axes[0] if isinstance(axis, int) else list(axes)
        self._axes = axes
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)

    def _normalized(self, rank: int) -> list[int]:
        axes = sorted({a + rank if a < 0 else a for a in self._axes})
        if any(not 1 <= a < rank for a in axes):
            raise ValueError(f"LayerNormalization {self.name!r}: axis {self.axis} is not a sample axis of a "
                             f"rank-{rank} input")
        return axes

    def build(self, input_shape: tuple[Dim, ...]) -> None:
        axes = self._normalized(len(input_shape))
        if any(input_shape[a] is None for a in axes):
            raise ValueError(f"LayerNormalization {self.name!r}: the normalized axes of "
                             f"{format_shape(input_shape)} must have known sizes")
        shape = tuple(input_shape[a] for a in axes)
        self.gamma = (self.add_weight("gamma", shape, self.gamma_initializer, self.gamma_regularizer,
                                      constraint=self.gamma_constraint) if self.scale else None)
        self.beta = (self.add_weight("beta", shape, self.beta_initializer, self.beta_regularizer,
                                     constraint=self.beta_constraint) if self.center else None)

    def call(self, x: Node, ctx: CallContext) -> Node:
        rank = x.type.rank
        axes = self._normalized(rank)
        param_shape = tuple(x.shape[a] if a in axes else 1 for a in range(1, rank))
        mean = b.reduce_mean(x, axes, keepdims=True)
        centered = x - mean
        variance = b.reduce_mean(centered * centered, axes, keepdims=True)
        inverse = 1.0 / b.sqrt(variance + self.epsilon)
        if self.gamma is not None:
            inverse = inverse * b.reshape(self.weight_state(ctx, self.gamma), param_shape)
        y = centered * inverse
        if self.beta is not None:
            y = y + b.reshape(self.weight_state(ctx, self.beta), param_shape)
        return y

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, "rms_scaling": False,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
                "beta_constraint": constraints.serialize(self.beta_constraint),
                "gamma_constraint": constraints.serialize(self.gamma_constraint)}
