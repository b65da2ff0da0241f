"""Which scan bodies treat the batch's rows independently (and may run group by group): the types and
each op's row_local fact, dead nodes aside."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from graphc.ir.graph import Graph, Node
from graphc.ir.types import TensorType
from graphc.ops import builders as b
from graphc.ops.rows import rows_independent
from graphc.ops.scan import runs_by_rows

H = 3


def _body(step: Callable[[Node, Node, Node], Node], counter: bool = False) -> Graph:
    """h' = step(h, x, u) for carries h (N, H) [and an int counter], element x (N, H), constant u."""
    body = Graph("step")
    h = body.input("h", TensorType((None, H)))
    count = body.input("count", TensorType((), "int32")) if counter else None
    x = body.input("x", TensorType((None, H)))
    u = body.input("u", TensorType((H, H)))
    new = step(h, x, u)
    body.outputs["h"] = new
    if count is not None:
        body.outputs["count"] = count + 1
    body.outputs["y"] = new
    return body


def _lstm_like(h: Node, x: Node, u: Node) -> Node:
    z = b.matmul(h, u) + x
    gate = b.sigmoid(b.slice_(z, (0, 0), (None, 2)))
    rest = b.pad(b.tanh(b.slice_(z, (0, 2), (None, 1))), ((0, 0), (0, 1)))
    dead = b.reduce_sum(z)  # not an output: ignored
    assert dead is not None
    return b.concatenate([gate, b.slice_(rest, (0, 0), (None, 1))], 1) * b.reduce_max(z, (1,), keepdims=True)


def test_a_gated_step_runs_by_rows() -> None:
    body = _body(_lstm_like)
    assert rows_independent(body) and runs_by_rows(body, 1)


@pytest.mark.parametrize("step", [
    lambda h, x, u: h - b.reduce_sum(h, (0,), keepdims=True),  # a sum over the batch
    lambda h, x, u: h * b.batch_size(h.graph),  # the batch size as a value
    lambda h, x, u: h + b.random_uniform(h.graph.input("seed", TensorType((), "int64")), (None, H), 0),
    lambda h, x, u: b.matmul(b.matmul(h, x, transpose_b=True), x),  # (N, N): each row reads every row
], ids=["batch-sum", "batch-size", "random", "rows-times-rows"])
def test_steps_that_mix_rows_do_not(step: Callable[[Node, Node, Node], Node]) -> None:
    assert not rows_independent(_body(step))


def test_a_carry_without_a_batch_axis_is_shared_by_every_group() -> None:
    body = _body(lambda h, x, u: b.tanh(b.matmul(h, u) + x), counter=True)
    assert rows_independent(body) and not runs_by_rows(body, 2)
