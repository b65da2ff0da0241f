"""Optimizers against plain-numpy transcriptions of the Keras 3 update formulas (KERAS_REFERENCE §4)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import pytest

from graphc.frontend import optimizers
from graphc.frontend.optimizers import SGD, Adadelta, Adagrad, Adam, Adamax, Nadam, Optimizer, RMSprop
from graphc.interpreter import evaluate
from graphc.ir import Graph, TensorType
from graphc.ops import builders as b
from graphc.ops.autodiff import gradients

W0 = np.array([1.0, -0.5])
V0 = np.array([[0.3, -2.0], [0.0, 1.5]])


class Trainer:
    """One built update graph for loss = sum(w²) (+ sum(v²)), run step by step in float64."""

    def __init__(self, opt: Optimizer, two_params: bool = False) -> None:
        self.opt = opt
        self.graph = Graph("test")
        names = ["dense/kernel"] + (["dense/bias"] if two_params else [])
        starts = [W0, V0][: len(names)]
        params = [self.graph.state(n, TensorType(s.shape), trainable=True)
                  for n, s in zip(names, starts, strict=True)]
        loss = b.reduce_sum(params[0] * params[0])
        for p in params[1:]:
            loss = loss + b.reduce_sum(p * p)
        grads = gradients(loss, params)
        with self.graph.scope(role="update"):
            self.plan = opt.build(self.graph, list(zip(names, params, grads, strict=True)))
        self.graph.updates.update(self.plan.updates)
        self.state = {n: np.zeros(s.type.concrete(1)) for n, s in self.graph.states.items()}
        self.state.update(zip(names, (s.copy() for s in starts), strict=True))
        for name, value in self.plan.initial_values.items():
            self.state[name] = np.full(self.state[name].shape, value)

    def step(self) -> np.ndarray:
        _, updated = evaluate(self.graph, self.opt.feeds(np.float64), self.state, dtype=np.float64)
        assert set(updated) == set(self.state) - {"rng/step"}
        self.state.update(updated)
        return self.state["dense/kernel"].copy()

    def run(self, steps: int = 3, between: Callable[[int], None] | None = None) -> list[np.ndarray]:
        trajectory = []
        for i in range(steps):
            if between is not None:
                between(i)
            trajectory.append(self.step())
        return trajectory


# -- numpy transcriptions of the Keras 3 formulas (g = 2w) --------------------------------------
def ref_sgd(lr, momentum=0.0, nesterov=False, decay=0.0, lrs=None, steps=3, w0=W0):
    w, m, out = w0.copy(), np.zeros_like(w0), []
    for it in range(steps):
        g = 2 * w
        lr_t = (lrs[it] if lrs else lr) / (1 + decay * it)
        if momentum == 0:
            w = w - lr_t * g
        else:
            m = momentum * m - lr_t * g
            w = w + (momentum * m - lr_t * g if nesterov else m)
        out.append(w)
    return out


def ref_rmsprop(lr, rho=0.9, momentum=0.0, eps=1e-7, centered=False):
    w, v, a, mom, out = W0.copy(), 0 * W0, 0 * W0, 0 * W0, []
    for _ in range(3):
        g = 2 * w
        v = rho * v + (1 - rho) * g**2
        if centered:
            a = rho * a + (1 - rho) * g
            den = v - a**2 + eps
        else:
            den = v + eps
        inc = lr * g / np.sqrt(den)
        if momentum > 0:
            mom = momentum * mom + inc
            inc = mom
        w = w - inc
        out.append(w)
    return out


def ref_adagrad(lr, init=0.1, eps=1e-7):
    w, acc, out = W0.copy(), np.full(2, init), []
    for _ in range(3):
        g = 2 * w
        acc = acc + g**2
        w = w - lr * g / np.sqrt(acc + eps)
        out.append(w)
    return out


def ref_adadelta(lr, rho=0.95, eps=1e-7):
    w, eg, ed, out = W0.copy(), 0 * W0, 0 * W0, []
    for _ in range(3):
        g = 2 * w
        eg = rho * eg + (1 - rho) * g**2
        delta = -np.sqrt(ed + eps) / np.sqrt(eg + eps) * g
        ed = rho * ed + (1 - rho) * delta**2
        w = w + lr * delta
        out.append(w)
    return out


def ref_adam(lr, b1=0.9, b2=0.999, eps=1e-7, amsgrad=False):
    w, m, v, vhat, out = W0.copy(), 0 * W0, 0 * W0, 0 * W0, []
    for t in range(1, 4):
        g = 2 * w
        m = m + (g - m) * (1 - b1)
        v = v + (g**2 - v) * (1 - b2)
        vhat = np.maximum(vhat, v)
        alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        w = w - alpha * m / (np.sqrt(vhat if amsgrad else v) + eps)
        out.append(w)
    return out


def ref_adamax(lr, b1=0.9, b2=0.999, eps=1e-7):
    w, m, u, out = W0.copy(), 0 * W0, 0 * W0, []
    for t in range(1, 4):
        g = 2 * w
        m = m + (g - m) * (1 - b1)
        u = np.maximum(b2 * u, np.abs(g))
        w = w - lr * m / ((1 - b1**t) * (u + eps))
        out.append(w)
    return out


def ref_nadam(lr, b1=0.9, b2=0.999, eps=1e-7, schedule=1.0, steps=3):
    w, m, v, prod, out = W0.copy(), 0 * W0, 0 * W0, 1.0, []
    for t in range(1, steps + 1):
        g = 2 * w
        mu_t = b1 * (1 - 0.5 * 0.96 ** (schedule * t))
        mu_next = b1 * (1 - 0.5 * 0.96 ** (schedule * (t + 1)))
        prod = prod * mu_t
        m = m + (g - m) * (1 - b1)
        v = v + (g**2 - v) * (1 - b2)
        m_hat = mu_next * m / (1 - prod * mu_next) + (1 - mu_t) * g / (1 - prod)
        v_hat = v / (1 - b2**t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(w)
    return out


TRAJECTORIES = [
    ("sgd", lambda: SGD(0.1), ref_sgd(0.1)),
    ("sgd-momentum", lambda: SGD(0.1, momentum=0.9), ref_sgd(0.1, 0.9)),
    ("sgd-nesterov", lambda: SGD(0.1, momentum=0.9, nesterov=True), ref_sgd(0.1, 0.9, True)),
    ("rmsprop", lambda: RMSprop(0.01, rho=0.8), ref_rmsprop(0.01, 0.8)),
    ("rmsprop-epsilon", lambda: RMSprop(0.01, epsilon=0.1), ref_rmsprop(0.01, eps=0.1)),
    ("rmsprop-centered", lambda: RMSprop(0.01, centered=True), ref_rmsprop(0.01, centered=True)),
    ("rmsprop-momentum", lambda: RMSprop(0.01, momentum=0.5), ref_rmsprop(0.01, momentum=0.5)),
    ("rmsprop-centered-momentum", lambda: RMSprop(0.01, rho=0.7, momentum=0.3, epsilon=1e-3, centered=True),
     ref_rmsprop(0.01, 0.7, 0.3, 1e-3, True)),
    ("adagrad", lambda: Adagrad(0.1), ref_adagrad(0.1)),
    ("adagrad-init", lambda: Adagrad(0.1, initial_accumulator_value=0.5, epsilon=1e-3),
     ref_adagrad(0.1, 0.5, 1e-3)),
    ("adadelta", lambda: Adadelta(1.0, rho=0.8, epsilon=1e-3), ref_adadelta(1.0, 0.8, 1e-3)),
    ("adam", lambda: Adam(0.1), ref_adam(0.1)),
    ("adam-custom", lambda: Adam(0.1, beta_1=0.5, beta_2=0.6, epsilon=1e-3), ref_adam(0.1, 0.5, 0.6, 1e-3)),
    ("amsgrad", lambda: Adam(0.1, beta_2=0.5, amsgrad=True), ref_adam(0.1, b2=0.5, amsgrad=True)),
    ("adamax", lambda: Adamax(0.1, beta_1=0.8, beta_2=0.7), ref_adamax(0.1, 0.8, 0.7)),
    ("nadam", lambda: Nadam(0.1), ref_nadam(0.1)),
    ("nadam-custom", lambda: Nadam(0.1, beta_1=0.7, beta_2=0.8, epsilon=1e-3),
     ref_nadam(0.1, 0.7, 0.8, 1e-3)),
]


@pytest.mark.parametrize("case, make, expected", TRAJECTORIES, ids=[t[0] for t in TRAJECTORIES])
def test_three_steps_follow_the_keras3_formulas(case, make, expected):
    # Nadam's 0.96 enters the graph as a float32 constant log(0.96): about 1e-7 relative.
    rtol = 2e-7 if case.startswith("nadam") else 1e-12
    np.testing.assert_allclose(Trainer(make()).run(), expected, rtol=rtol, atol=1e-15)


def test_variants_change_the_trajectory():
    """The variant cases above would not catch a missing variant if it made no difference."""
    assert not np.allclose(ref_adam(0.1, b2=0.5, amsgrad=True), ref_adam(0.1, b2=0.5))
    assert not np.allclose(ref_rmsprop(0.01, centered=True), ref_rmsprop(0.01))
    assert not np.allclose(ref_sgd(0.1, 0.9, True), ref_sgd(0.1, 0.9))


def test_reference_example_sgd_nesterov():
    trajectory = Trainer(SGD(0.1, momentum=0.9, nesterov=True)).run()
    np.testing.assert_allclose([w[0] for w in trajectory], [0.62, 0.2224, -0.108352], rtol=1e-12)


def test_legacy_lr_and_decay_follow_keras2():
    with pytest.warns(DeprecationWarning):
        opt = SGD(lr=0.1, decay=0.5)
    trajectory = Trainer(opt).run()
    np.testing.assert_allclose(trajectory, ref_sgd(0.1, decay=0.5), rtol=1e-12)
    w = [W0[0]] + [t[0] for t in trajectory]
    used = [(w[i] - w[i + 1]) / (2 * w[i]) for i in range(3)]
    np.testing.assert_allclose(used, [0.1, 0.1 / 1.5, 0.05], rtol=1e-12)
    assert opt.learning_rate == 0.1 and opt.decay == 0.5


def test_legacy_decay_with_momentum():
    with pytest.warns(DeprecationWarning):
        opt = SGD(0.1, momentum=0.9, decay=0.25)
    np.testing.assert_allclose(Trainer(opt).run(), ref_sgd(0.1, 0.9, decay=0.25), rtol=1e-12)


def test_nadam_keras2_schedule_decay():
    with pytest.warns(DeprecationWarning):
        opt = Nadam(0.1, schedule_decay=0.004)
    np.testing.assert_allclose(Trainer(opt).run(), ref_nadam(0.1, schedule=0.004), rtol=2e-7)
    assert not np.allclose(ref_nadam(0.1, schedule=0.004), ref_nadam(0.1))


def test_learning_rate_change_takes_effect_without_rebuilding():
    opt = SGD(0.1, momentum=0.5)
    trainer = Trainer(opt)
    schedule = [0.1, 0.05, 0.2]

    def set_lr(i: int) -> None:
        opt.learning_rate = schedule[i]

    np.testing.assert_allclose(trainer.run(between=set_lr), ref_sgd(None, 0.5, lrs=schedule), rtol=1e-12)
    assert opt.hyperparameters["learning_rate"] == 0.2


def test_other_hyperparameters_are_runtime_inputs_too():
    opt = Adam(0.1)
    trainer = Trainer(opt)
    trainer.step()
    opt.beta_1 = 0.5
    changed = trainer.step()
    reference = Trainer(Adam(0.1))
    reference.step()
    assert not np.allclose(changed, reference.step())
    assert trainer.plan.hyperparameter_inputs == {
        "hp/learning_rate": "learning_rate", "hp/beta_1": "beta_1", "hp/beta_2": "beta_2",
        "hp/epsilon": "epsilon", "hp/1-beta_1": "1-beta_1", "hp/1-beta_2": "1-beta_2"}


def test_structural_switches_refuse_changes_the_built_graph_cannot_follow():
    opt = SGD(0.1)
    Trainer(opt)
    with pytest.raises(ValueError, match="momentum.*compile"):
        opt.momentum = 0.9
    opt = SGD(0.1, momentum=0.9)
    trainer = Trainer(opt)
    opt.momentum = 0.0  # the built momentum path with momentum 0 is plain SGD
    np.testing.assert_allclose(trainer.run(), ref_sgd(0.1), rtol=1e-12)
    opt = SGD(0.1, clipnorm=1.0)
    Trainer(opt)
    with pytest.raises(ValueError, match="clipnorm"):
        opt.clipnorm = None


def test_state_names_initial_values_and_counter():
    trainer = Trainer(Adam(amsgrad=True), two_params=True)
    assert set(trainer.plan.updates) == {
        "dense/kernel", "dense/bias", "optimizer/iterations",
        *(f"optimizer/{slot}/dense/{p}" for slot in ("momentum", "velocity", "velocity_hat")
          for p in ("kernel", "bias"))}
    assert trainer.plan.initial_values == {}
    trainer.run(2)
    assert trainer.state["optimizer/iterations"] == 2.0
    adagrad = Trainer(Adagrad(initial_accumulator_value=0.25))
    assert adagrad.plan.initial_values == {"optimizer/accumulator/dense/kernel": 0.25}
    nadam = Trainer(Nadam())
    assert nadam.plan.initial_values == {"optimizer/u_product": 1.0}
    assert set(nadam.graph.inputs) == set(nadam.plan.hyperparameter_inputs)
    assert all(nadam.graph.inputs[name].type == TensorType(()) for name in nadam.graph.inputs)


def test_counter_resumes_from_iterations():
    """A step built after `iterations` steps continues the schedules (t, Nadam's Π) where they were."""
    first = Trainer(Nadam(0.1))
    first.step()
    opt = Nadam(0.1)
    opt.iterations = 1
    resumed = Trainer(opt)
    assert resumed.plan.initial_values["optimizer/iterations"] == 1.0
    for name in resumed.state:
        if name != "optimizer/u_product":
            resumed.state[name] = first.state[name].copy()
    np.testing.assert_allclose(resumed.run(2), ref_nadam(0.1)[1:], rtol=2e-7)


# -- clipping and weight decay (K3 base_optimizer) ----------------------------------------------
def _sgd_two_params(lr, clip: Callable[[list[np.ndarray]], list[np.ndarray]], wd: float = 0.0):
    ws, out = [W0.copy(), V0.copy()], []
    for _ in range(3):
        grads = clip([2 * w for w in ws])
        ws = [w - w * wd * lr for w in ws]
        ws = [w - lr * g for w, g in zip(ws, grads, strict=True)]
        out.append(ws[0])
    return out


def _by_norm(c):
    return lambda gs: [g * c / max(np.linalg.norm(g), c) for g in gs]


def _by_global_norm(c):
    def clip(gs):
        norm = math.sqrt(sum(float(np.sum(g * g)) for g in gs))
        return [g * (c * min(1 / norm, 1 / c)) for g in gs]
    return clip


@pytest.mark.parametrize("kwargs, clip", [
    ({"clipnorm": 1.0}, _by_norm(1.0)),
    ({"global_clipnorm": 2.0}, _by_global_norm(2.0)),
    ({"clipvalue": 0.7}, lambda gs: [np.clip(g, -0.7, 0.7) for g in gs]),
], ids=["clipnorm", "global_clipnorm", "clipvalue"])
def test_gradient_clipping(kwargs, clip):
    expected = _sgd_two_params(0.1, clip)
    assert not np.allclose(expected, _sgd_two_params(0.1, lambda gs: gs))
    np.testing.assert_allclose(Trainer(SGD(0.1, **kwargs), two_params=True).run(), expected, rtol=1e-12)


def test_clipnorm_of_a_zero_gradient_stays_zero():
    graph = Graph()
    w = graph.state("w", TensorType((2,)))
    with graph.scope(role="update"):
        plan = SGD(0.1, clipnorm=1.0).build(graph, [("w", w, b.broadcast_to(graph.constant(0.0), (2,)))])
    graph.updates.update(plan.updates)
    _, updated = evaluate(graph, {"hp/learning_rate": 0.1, "hp/clipnorm": 1.0},
                          {"w": W0, "optimizer/iterations": 0.0}, dtype=np.float64)
    np.testing.assert_array_equal(updated["w"], W0)


def test_weight_decay_is_applied_before_the_update():
    expected = _sgd_two_params(0.1, lambda gs: gs, wd=0.3)
    trainer = Trainer(SGD(0.1, weight_decay=0.3), two_params=True)
    np.testing.assert_allclose(trainer.run(), expected, rtol=1e-12)


# -- defaults, warnings, validation --------------------------------------------------------------
K3_DEFAULTS = [
    (SGD, "SGD", {"learning_rate": 0.01, "momentum": 0.0}, {"nesterov": False}),
    (RMSprop, "rmsprop", {"learning_rate": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7},
     {"centered": False}),
    (Adagrad, "adagrad", {"learning_rate": 0.001, "epsilon": 1e-7}, {"initial_accumulator_value": 0.1}),
    (Adadelta, "adadelta", {"learning_rate": 0.001, "rho": 0.95, "epsilon": 1e-7}, {}),
    (Adam, "adam", {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
     {"amsgrad": False}),
    (Adamax, "adamax", {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}, {}),
    (Nadam, "nadam", {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}, {}),
]


@pytest.mark.parametrize("cls, name, hyperparameters, flags", K3_DEFAULTS, ids=[d[1] for d in K3_DEFAULTS])
def test_defaults_are_the_keras3_table(cls, name, hyperparameters, flags):
    opt = cls()
    assert dict(opt.hyperparameters) == hyperparameters
    assert opt.name == name and opt.iterations == 0
    for flag, value in flags.items():
        assert getattr(opt, flag) == value
    config = opt.get_config()
    assert {k: config[k] for k in hyperparameters} == hyperparameters
    assert config["clipnorm"] is config["clipvalue"] is config["global_clipnorm"] is None


@pytest.mark.parametrize("kwargs, count", [
    ({"lr": 0.1}, 1), ({"decay": 0.1}, 1), ({"lr": 0.1, "decay": 0.0}, 2),
])
def test_legacy_warnings_fire_once_each_in_one_line(kwargs, count):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        SGD(**kwargs)
    assert len(caught) == count
    for warning, key in zip(caught, kwargs, strict=True):
        assert warning.category is DeprecationWarning
        assert "\n" not in str(warning.message) and f"`{key}`" in str(warning.message)
        assert warning.filename == __file__


def test_lr_overrides_learning_rate_as_in_keras2():
    with pytest.warns(DeprecationWarning):
        assert Adam(learning_rate=0.5, lr=0.2).learning_rate == 0.2


def test_keras2_epsilon_none_means_1e_7():
    assert Adam(epsilon=None).epsilon == 1e-7
    assert RMSprop(epsilon=None).epsilon == 1e-7


@pytest.mark.parametrize("cls, kwargs, arg", [
    (SGD, {"learning_rate": float("nan")}, "learning_rate"),
    (SGD, {"learning_rate": -0.1}, "learning_rate"),
    (Adam, {"learning_rate": "fast"}, "learning_rate"),
    (SGD, {"momentum": 1.5}, "momentum"),
    (SGD, {"momentum": -0.1}, "momentum"),
    (SGD, {"nesterov": "yes"}, "nesterov"),
    (RMSprop, {"rho": 2.0}, "rho"),
    (RMSprop, {"epsilon": -1e-7}, "epsilon"),
    (Adam, {"beta_1": 1.0}, "beta_1"),
    (Adam, {"beta_2": float("inf")}, "beta_2"),
    (Adagrad, {"initial_accumulator_value": -1.0}, "initial_accumulator_value"),
    (SGD, {"clipnorm": -1.0}, "clipnorm"),
    (SGD, {"decay": -0.5}, "decay"),
    (SGD, {"name": ""}, "name"),
])
def test_bad_values_raise_naming_argument_expected_and_actual(cls, kwargs, arg):
    value = next(iter(kwargs.values()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(ValueError) as info:
            cls(**kwargs)
    message = str(info.value)
    assert f"`{arg}`" in message and "must be" in message and repr(value) in message


def test_bad_assignment_raises_and_keeps_the_old_value():
    opt = SGD(0.1)
    with pytest.raises(ValueError, match=r"`learning_rate` must be a finite float >= 0, got -1"):
        opt.learning_rate = -1
    assert opt.learning_rate == 0.1


def test_unknown_and_conflicting_arguments():
    with pytest.raises(ValueError, match="momentun"):
        SGD(momentun=0.9)
    with pytest.raises(ValueError, match="only one of"):
        SGD(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(NotImplementedError, match="use_ema"):
        Adam(use_ema=True)


def test_feeds_follow_the_built_step():
    opt = RMSprop(0.01)
    with pytest.raises(RuntimeError, match="build"):
        opt.feeds()
    Trainer(opt)
    feeds = opt.feeds()
    assert set(feeds) == {"hp/learning_rate", "hp/rho", "hp/1-rho", "hp/epsilon"}
    assert feeds["hp/rho"].dtype == np.float32 and feeds["hp/rho"].shape == ()
    assert feeds["hp/1-rho"] == np.float32(1.0 - 0.9)  # from the double, not 1 - float32(0.9)
    opt.rho = 0.5
    assert opt.feeds()["hp/rho"] == 0.5 and opt.feeds()["hp/1-rho"] == 0.5


def test_adam_in_float32_takes_keras_3s_steps_exactly():
    """Keras 3 writes `1 - self.beta_1` with Python floats (double) and casts the result once; in
    float32 that differs from 1 - float32(0.9) by 2.4e-8, which grew to 2e-6 in the weights after
    three steps of rate 0.1 when graphc computed it in float32."""
    from graphc.keras import Sequential, backend
    from graphc.keras.layers import Dense

    backend.clear_session()
    model = Sequential([Dense(1, use_bias=False, input_shape=(2,))])
    model.compile(Adam(0.1), "mse")
    w = np.array([[0.7], [-1.3]], dtype=np.float32)
    model.set_weights([w])
    x = np.array([[1.0, 2.0], [-0.5, 0.25], [3.0, -1.0]], dtype=np.float32)
    y = np.array([[0.5], [-1.0], [2.0]], dtype=np.float32)
    f32 = np.float32
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for t in range(1, 4):
        g = (f32(2.0) * x.T @ (x @ w - y) / f32(3.0)).astype(np.float32)
        lr_t = f32(0.1) * np.sqrt(f32(1) - f32(0.999) ** f32(t)) / (f32(1) - f32(0.9) ** f32(t))
        m = m + (g - m) * f32(1 - 0.9)
        v = v + (g * g - v) * f32(1 - 0.999)
        w = w - m * lr_t / (np.sqrt(v) + f32(1e-7))
        model.train_on_batch(x, y)
    np.testing.assert_allclose(model.get_weights()[0], w, rtol=3e-7, atol=0)


def test_no_trainable_weights_gives_an_empty_plan():
    opt = Adam()
    plan = opt.build(Graph(), [])
    assert (plan.updates, plan.initial_values, plan.hyperparameter_inputs) == ({}, {}, {})
    assert opt.feeds() == {}


def test_gradient_shape_must_match_the_parameter():
    graph = Graph()
    w = graph.state("w", TensorType((2,)))
    with pytest.raises(ValueError, match=r"'w'.*\(3,\)"):
        SGD().build(graph, [("w", w, graph.state("g", TensorType((3,))))])


# -- get / serialize / deserialize --------------------------------------------------------------
@pytest.mark.parametrize("name, cls", [("sgd", SGD), ("RMSprop", RMSprop), ("ADAGRAD", Adagrad),
                                       ("adadelta", Adadelta), ("Adam", Adam), ("adamax", Adamax),
                                       ("nadam", Nadam)])
def test_get_by_name(name, cls):
    assert type(optimizers.get(name)) is cls


def test_get_unknown_lists_the_names_and_passes_instances_through():
    with pytest.raises(ValueError, match="adagrad.*sgd"):
        optimizers.get("adamw")
    opt = Adam()
    assert optimizers.get(opt) is opt


@pytest.mark.parametrize("opt", [
    SGD(0.2, momentum=0.5, nesterov=True, clipnorm=2.0), RMSprop(0.01, rho=0.8, centered=True),
    Adagrad(initial_accumulator_value=0.3), Adadelta(1.0), Adam(beta_2=0.99, amsgrad=True, name="a"),
    Adamax(global_clipnorm=3.0), Nadam(epsilon=1e-4, weight_decay=0.01),
], ids=lambda o: type(o).__name__)
def test_serialize_round_trip(opt):
    config = optimizers.serialize(opt)
    assert config["class_name"] == type(opt).__name__ and config["module"] == "keras.optimizers"
    again = optimizers.get(config)
    assert type(again) is type(opt) and again.get_config() == opt.get_config()
    assert dict(again.hyperparameters) == dict(opt.hyperparameters)


def test_keras2_configs_load_quietly_with_their_meaning():
    config = {"class_name": "SGD", "config": {"lr": 0.1, "momentum": 0.9, "decay": 0.5, "nesterov": False,
                                              "is_legacy_optimizer": True}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt = optimizers.deserialize(config)
        nadam = optimizers.deserialize({"class_name": "Nadam", "config": {
            "lr": 0.002, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "schedule_decay": 0.004}})
    assert (opt.learning_rate, opt.momentum, opt.decay) == (0.1, 0.9, 0.5)
    np.testing.assert_allclose(Trainer(opt).run(), ref_sgd(0.1, 0.9, decay=0.5), rtol=1e-12)
    assert (nadam.learning_rate, nadam.schedule_decay) == (0.002, 0.004)
    assert optimizers.deserialize(optimizers.serialize(nadam)).schedule_decay == 0.004


def test_learning_rate_schedules_feed_the_rate_of_each_step() -> None:
    """Keras 3's formulas at step = steps already applied; the step reads the schedule's value."""
    from graphc.keras.layers import Dense
    from graphc.keras.models import Sequential
    from graphc.keras.optimizers import SGD, schedules

    exponential = schedules.ExponentialDecay(0.1, decay_steps=2, decay_rate=0.5)
    assert [exponential(s) for s in (0, 1, 2)] == pytest.approx([0.1, 0.1 * 0.5 ** 0.5, 0.05])
    stair = schedules.InverseTimeDecay(1.0, 2, 1.0, staircase=True)
    assert [stair(s) for s in (0, 1, 2, 3)] == pytest.approx([1.0, 1.0, 0.5, 0.5])
    piecewise = schedules.PiecewiseConstantDecay([1, 3], [1.0, 0.5, 0.1])
    assert [piecewise(s) for s in range(5)] == [1.0, 1.0, 0.5, 0.5, 0.1]
    cosine = schedules.CosineDecay(1.0, 4, alpha=0.1)
    assert [cosine(s) for s in (0, 2, 4, 9)] == pytest.approx([1.0, 0.55, 0.1, 0.1])
    model = Sequential([Dense(1, input_shape=(1,), use_bias=False, kernel_initializer="zeros")])
    model.compile(SGD(learning_rate=piecewise), "mse")
    x, y = np.ones((1, 1), np.float32), np.ones((1, 1), np.float32)
    weights = []
    for _ in range(4):  # w <- w - lr * 2 (w - 1): the rates 1.0, 1.0, 0.5, 0.5 of steps 0..3
        model.fit(x, y, epochs=1, verbose=0)
        weights.append(float(model.get_weights()[0][0, 0]))
    expected, w = [], 0.0
    for rate in (1.0, 1.0, 0.5, 0.5):
        w -= rate * 2 * (w - 1)
        expected.append(w)
    assert weights == pytest.approx(expected)
    config = model.optimizer.get_config()["learning_rate"]
    assert config["class_name"] == "PiecewiseConstantDecay"
    assert SGD.from_config(model.optimizer.get_config())._lr_schedule(2) == 0.5
    with pytest.raises(TypeError, match="schedule"):
        model.optimizer.learning_rate = 0.3
