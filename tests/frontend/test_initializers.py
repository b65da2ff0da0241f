"""Initializers: the Keras limits and standard deviations, orthogonality, seeds and lookup."""

from __future__ import annotations

import math

import numpy as np
import pytest

from graphc.frontend import initializers as init
from graphc.frontend.seeding import global_rng, set_random_seed


@pytest.mark.parametrize("shape, fans", [
    ((), (1, 1)), ((7,), (7, 7)), ((20, 30), (20, 30)), ((3, 3, 16, 32), (144, 288)), ((5, 4, 8), (20, 40)),
])
def test_compute_fans(shape, fans):
    assert init.compute_fans(shape) == fans


def _std_tolerance(n: int) -> float:
    """Relative tolerance on a sample standard deviation: about 6 standard errors."""
    return 6.0 / math.sqrt(2 * n)


UNIFORM = [
    ("glorot_uniform", lambda fi, fo: math.sqrt(6 / (fi + fo))),
    ("he_uniform", lambda fi, fo: math.sqrt(6 / fi)),
    ("lecun_uniform", lambda fi, fo: math.sqrt(3 / fi)),
]


@pytest.mark.parametrize("name, limit_of", UNIFORM)
@pytest.mark.parametrize("shape", [(300, 200), (3, 3, 32, 64)])
def test_uniform_variance_scaling_limits(name, limit_of, shape):
    values = init.get(name)(shape)
    assert values.dtype == np.float32 and values.shape == shape
    limit = limit_of(*init.compute_fans(shape))
    assert np.abs(values).max() <= limit
    assert np.abs(values).max() > 0.99 * limit
    assert values.std() == pytest.approx(limit / math.sqrt(3), rel=_std_tolerance(values.size))
    assert abs(values.mean()) < 6 * limit / math.sqrt(3 * values.size)


NORMAL = [
    ("glorot_normal", lambda fi, fo: math.sqrt(2 / (fi + fo))),
    ("he_normal", lambda fi, fo: math.sqrt(2 / fi)),
    ("lecun_normal", lambda fi, fo: math.sqrt(1 / fi)),
]


@pytest.mark.parametrize("name, std_of", NORMAL)
def test_truncated_normal_variance_scaling(name, std_of):
    shape = (400, 300)
    values = init.get(name)(shape)
    target = std_of(*init.compute_fans(shape))
    stddev = target / 0.87962566103423978
    assert np.abs(values).max() <= 2 * stddev * (1 + 1e-6)
    assert values.std() == pytest.approx(target, rel=_std_tolerance(values.size))


def test_variance_scaling_modes_and_untruncated_normal():
    shape = (250, 500)
    fan_out = init.VarianceScaling(scale=3.0, mode="fan_out", distribution="uniform", seed=1)(shape)
    assert np.abs(fan_out).max() <= math.sqrt(9.0 / 500)
    assert fan_out.std() == pytest.approx(math.sqrt(3.0 / 500), rel=_std_tolerance(fan_out.size))
    untruncated = init.VarianceScaling(2.0, "fan_avg", "untruncated_normal", seed=2)(shape)
    assert untruncated.std() == pytest.approx(math.sqrt(2.0 / 375), rel=_std_tolerance(untruncated.size))
    assert np.abs(untruncated).max() > 2.5 * math.sqrt(2.0 / 375)


def test_random_distributions():
    shape = (500, 400)
    u = init.RandomUniform(-0.2, 0.6, seed=3)(shape)
    assert u.min() >= -0.2 and u.max() <= 0.6
    assert u.mean() == pytest.approx(0.2, abs=0.01)
    n = init.RandomNormal(mean=1.0, stddev=0.5, seed=4)(shape)
    assert n.mean() == pytest.approx(1.0, abs=0.01)
    assert n.std() == pytest.approx(0.5, rel=_std_tolerance(n.size))
    t = init.TruncatedNormal(mean=-1.0, stddev=0.1, seed=5)(shape)
    assert np.abs(t + 1.0).max() <= 0.2 + 1e-6
    assert t.std() == pytest.approx(0.1 * 0.87962566103423978, rel=_std_tolerance(t.size))
    assert init.get("uniform")((100, 100)).max() <= 0.05
    assert init.get("normal")((300, 300)).std() == pytest.approx(0.05, rel=0.02)


def test_constants_and_identity():
    np.testing.assert_array_equal(init.get("zeros")((2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(init.get("one")((4,)), np.ones(4))
    np.testing.assert_array_equal(init.Constant(2.5)((2, 2)), np.full((2, 2), 2.5))
    np.testing.assert_array_equal(init.Identity(gain=3.0)((2, 3)), 3.0 * np.eye(2, 3))
    with pytest.raises(ValueError, match="2-D"):
        init.Identity()((3,))


@pytest.mark.parametrize("shape", [(50, 20), (20, 50), (16, 64), (3, 3, 4, 8)])
def test_orthogonal(shape):
    q = init.Orthogonal(gain=1.5, seed=7)(shape)
    assert q.shape == shape
    flat = q.reshape(-1, shape[-1]).astype(np.float64) / 1.5
    rows, cols = flat.shape
    gram = flat.T @ flat if rows >= cols else flat @ flat.T
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=1e-5)
    with pytest.raises(ValueError, match="rank >= 2"):
        init.Orthogonal()((5,))


def test_seeds_are_reproducible():
    a = init.GlorotUniform(seed=42)((10, 10))
    np.testing.assert_array_equal(a, init.GlorotUniform(seed=42)((10, 10)))
    np.testing.assert_array_equal(a, init.GlorotUniform(seed=42)((10, 10)))
    assert not np.array_equal(a, init.GlorotUniform(seed=43)((10, 10)))
    unseeded = init.HeNormal()
    assert not np.array_equal(unseeded((10, 10)), unseeded((10, 10)))
    set_random_seed(123)
    first = [init.get("glorot_uniform")((4, 4)), init.Orthogonal()((4, 4))]
    set_random_seed(123)
    second = [init.get("glorot_uniform")((4, 4)), init.Orthogonal()((4, 4))]
    for x, y in zip(first, second, strict=True):
        np.testing.assert_array_equal(x, y)


def test_get_accepts_keras_forms():
    assert isinstance(init.get("glorot_uniform"), init.GlorotUniform)
    assert isinstance(init.get("GlorotUniform"), init.GlorotUniform)
    assert isinstance(init.get("zero"), init.Zeros)
    instance = init.RandomNormal(stddev=0.3)
    assert init.get(instance) is instance
    k224 = init.get({"class_name": "VarianceScaling",
                     "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}})
    assert isinstance(k224, init.VarianceScaling) and k224.distribution == "uniform"
    k224_normal = init.get({"class_name": "VarianceScaling",
                            "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "normal", "seed": 1}})
    assert k224_normal.distribution == "truncated_normal"
    k3 = init.get({"module": "keras.initializers", "class_name": "GlorotUniform",
                   "config": {"seed": None, "input_axes": None, "output_axes": None},
                   "registered_name": None})
    assert isinstance(k3, init.GlorotUniform)


def test_serialize_round_trips():
    for original in (init.GlorotUniform(seed=3), init.RandomUniform(-1.0, 2.0), init.Orthogonal(gain=2.0),
                     init.Constant(0.5), init.VarianceScaling(2.0, "fan_out", "uniform"), init.Zeros()):
        config = init.serialize(original)
        restored = init.get(config)
        assert type(restored) is type(original)
        assert restored.get_config() == original.get_config()
    assert init.serialize(init.GlorotUniform()) == {
        "module": "keras.initializers", "class_name": "GlorotUniform",
        "config": {"seed": None, "input_axes": None, "output_axes": None}, "registered_name": None}
    assert init.RandomNormal().get_config() == {"mean": 0.0, "stddev": 0.05, "seed": None}


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="unknown initializer 'glorot'"):
        init.get("glorot")
    with pytest.raises(ValueError, match="unknown initializer class 'Foo'"):
        init.get({"class_name": "Foo", "config": {}})
    with pytest.raises(ValueError, match="bad config for initializer 'RandomUniform'"):
        init.get({"class_name": "RandomUniform", "config": {"bogus": 1}})
    with pytest.raises(ValueError, match="mode"):
        init.VarianceScaling(mode="fan_middle")
    with pytest.raises(ValueError, match="distribution"):
        init.VarianceScaling(distribution="cauchy")
    with pytest.raises(ValueError, match="scale"):
        init.VarianceScaling(scale=0.0)
    with pytest.raises(ValueError, match="seed"):
        init.RandomUniform(seed="x")
    with pytest.raises(ValueError, match="float32"):
        init.Zeros()((2,), dtype="float64")


def test_set_random_seed_drives_the_global_generator():
    set_random_seed(7)
    first = global_rng().integers(0, 1000, size=5)
    set_random_seed(7)
    np.testing.assert_array_equal(global_rng().integers(0, 1000, size=5), first)
    with pytest.raises(ValueError, match="seed"):
        set_random_seed(-1)
