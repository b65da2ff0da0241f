"""Gradient clipping exactly as Keras 3 does it (`base_optimizer._clip_gradients`)."""

from __future__ import annotations

from collections.abc import Sequence

from graphc.ir.graph import Node
from graphc.ops import builders as b


def clip_by_norm(grad: Node, clipnorm: Node) -> Node:
    """g * c / max(||g||, c), with the two-sided select that keeps a zero gradient's norm finite."""
    l2sum = b.reduce_sum(grad * grad)
    positive = b.greater(l2sum, 0.0)
    l2norm = b.select(positive, b.sqrt(b.select(positive, l2sum, 1.0)), l2sum)
    return grad * clipnorm / b.maximum(l2norm, clipnorm)


def clip_by_global_norm(grads: Sequence[Node], clipnorm: Node) -> list[Node]:
    """Scale every gradient by c / max(global norm, c); a non-finite norm makes the scale NaN."""
    squared = b.reduce_sum(grads[0] * grads[0])
    for grad in grads[1:]:
        squared = squared + b.reduce_sum(grad * grad)
    norm = b.sqrt(squared)
    scale = clipnorm * b.minimum(1.0 / norm, 1.0 / clipnorm) + (norm - norm)
    return [grad * scale for grad in grads]


def clip_by_value(grad: Node, clipvalue: Node) -> Node:
    return b.clip(grad, -clipvalue, clipvalue)
