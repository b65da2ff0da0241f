"""The declarative pattern matcher behind simplify."""

from __future__ import annotations

from graphc.ir import Graph, TensorType
from graphc.ir.graph import Node
from graphc.ops import builders as b
from graphc.passes.patterns import Match, Pat, PatternMatcher, const


def _graph() -> tuple[Graph, Node]:
    g = Graph("p")
    return g, g.input("x", TensorType((None, 3)))


def test_nested_patterns_bind_names_and_back_references_must_agree() -> None:
    g, x = _graph()
    y = g.input("y", TensorType((None, 3)))
    pattern = Pat("add", (Pat("exp", (Pat(name="a"),)), Pat("exp", (Pat(name="a"),))))
    same = b.exp(x) + b.exp(x)
    bound: dict[str, Node] = {}
    assert pattern.match(same, bound) and bound["a"] is x
    assert not pattern.match(b.exp(x) + b.exp(y), {})


def test_commutative_ops_match_either_order_others_do_not() -> None:
    g, x = _graph()
    one_plus = Pat("add", (Pat(name="v"), const(1.0)))
    assert one_plus.match(1.0 + x, {}) and one_plus.match(x + 1.0, {})
    minus_one = Pat("sub", (Pat(name="v"), const(1.0)))
    assert minus_one.match(x - 1.0, {}) and not minus_one.match(1.0 - x, {})


def test_where_and_constant_value_restrict_a_match() -> None:
    g, x = _graph()
    assert not Pat("mul", (Pat(name="v"), const(1.0))).match(x * 2.0, {})
    assert not Pat("exp", where=lambda n: n.shape == (None, 4)).match(b.exp(x), {})


def test_rules_apply_to_a_fixed_point_and_count_what_fired() -> None:
    g, x = _graph()
    nested = x
    for _ in range(4):
        nested = b.unary("neg", nested)

    def unwrap(m: Match) -> Node:
        return m["v"]

    def decline(m: Match) -> None:
        return None

    matcher = PatternMatcher([(Pat("neg", (Pat("neg", (Pat(name="v"),)),)), unwrap),
                              (Pat("exp"), decline)])
    counts: dict[str, int] = {}
    assert matcher.rewrite(nested, list(nested.inputs), g, None, counts) is x
    assert counts == {"unwrap": 2}
    assert matcher.rewrite(b.exp(x), [x], g, None, counts) is None and counts == {"unwrap": 2}
