"""The peer side of bench_peers.py: the same models in PyTorch (eager), JAX (jit) or ONNX Runtime.

Runs in benchmarks/.peers-venv (setup_peers.sh); prints one JSON object of median seconds.
ONNX Runtime is an inference engine, so it reports the inference rows only.
Run by bench_peers.py, or: .peers-venv/bin/python peer_models.py torch|jax|onnxruntime --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from common import MLP_SIZES, TINY_SIZES, median_s  # noqa: E402

EPOCH, BATCH = 60000, 128


def data(n: int, sizes: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, sizes[0]), dtype=np.float32), rng.integers(0, sizes[-1], n).astype(np.int64)


def run_torch(threads: int, repeats: int) -> dict[str, float]:
    import torch

    torch.set_num_threads(threads)

    def model(sizes: tuple[int, ...]) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        layers: list[torch.nn.Module] = []
        for i in range(len(sizes) - 1):
            layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(torch.nn.ReLU())
        net = torch.nn.Sequential(*layers)
        return net, torch.optim.Adam(net.parameters(), lr=1e-3)

    loss_fn = torch.nn.CrossEntropyLoss()

    def stepper(sizes: tuple[int, ...]):
        net, opt = model(sizes)

        def step(x: torch.Tensor, y: torch.Tensor) -> float:
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(x), y)
            loss.backward()
            opt.step()
            return loss

        return net, step

    out: dict[str, float] = {}
    net, step = stepper(MLP_SIZES)
    x, y = (torch.from_numpy(a) for a in data(BATCH, MLP_SIZES))
    out["mlp_step"] = median_s(lambda: step(x, y), repeats)
    with torch.inference_mode():
        x1 = x[:1].clone()
        out["infer_1"] = median_s(lambda: torch.softmax(net(x1), 1), repeats * 10)
        out["infer_128"] = median_s(lambda: torch.softmax(net(x), 1), repeats)
    _, tiny = stepper(TINY_SIZES)
    xt, yt = (torch.from_numpy(a) for a in data(16, TINY_SIZES))
    out["tiny_step"] = median_s(lambda: tiny(xt, yt), repeats * 10)
    _, step = stepper(MLP_SIZES)
    xe, ye = (torch.from_numpy(a) for a in data(EPOCH, MLP_SIZES))

    def epoch() -> None:
        order = torch.randperm(EPOCH)
        for start in range(0, EPOCH, BATCH):
            index = order[start:start + BATCH]
            step(xe[index], ye[index])

    out["epoch"] = median_s(epoch, 3, warmup=1)
    return out


def jax_adam_step(loss):
    """Keras's Adam on `loss(params, x, y)` as one JAX function of (params, m, v, t, x, y), returning
    (params, m, v, t, loss value): the step every JAX row times (bench_first_call.py's too)."""
    import jax
    import jax.numpy as jnp

    def adam_step(params, m, v, t, x, y, lr=1e-3, b1=0.9, b2=0.999, eps=1e-7):
        value, grads = jax.value_and_grad(loss)(params, x, y)
        t = t + 1
        m = jax.tree_util.tree_map(lambda m_, g: b1 * m_ + (1 - b1) * g, m, grads)
        v = jax.tree_util.tree_map(lambda v_, g: b2 * v_ + (1 - b2) * g * g, v, grads)
        alpha = lr * jnp.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        params = jax.tree_util.tree_map(lambda p, m_, v_: p - alpha * m_ / (jnp.sqrt(v_) + eps), params, m, v)
        return params, m, v, t, value

    return adam_step


def run_jax(repeats: int) -> dict[str, float]:
    import jax
    import jax.numpy as jnp

    def init(sizes: tuple[int, ...], seed: int = 0) -> list[tuple[jax.Array, jax.Array]]:
        keys = jax.random.split(jax.random.PRNGKey(seed), len(sizes) - 1)
        return [(jax.random.normal(k, (a, b)) * jnp.sqrt(2.0 / a), jnp.zeros(b))
                for k, a, b in zip(keys, sizes[:-1], sizes[1:], strict=True)]

    def forward(params, x):
        for w, b in params[:-1]:
            x = jax.nn.relu(x @ w + b)
        w, b = params[-1]
        return x @ w + b

    def loss(params, x, y):
        logp = jax.nn.log_softmax(forward(params, x))
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    step = jax.jit(jax_adam_step(loss), donate_argnums=(0, 1, 2))
    predict = jax.jit(lambda params, x: jax.nn.softmax(forward(params, x)))

    def state(sizes):
        params = init(sizes)
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        return [params, zeros, jax.tree_util.tree_map(jnp.zeros_like, params), jnp.float32(0)]

    out: dict[str, float] = {}
    s = state(MLP_SIZES)
    x, y = (jnp.asarray(a) for a in data(BATCH, MLP_SIZES))
    start = time.perf_counter()
    *s[:4], value = step(*s, x, y)
    value.block_until_ready()
    out["compile_cold"] = time.perf_counter() - start

    def one(xb, yb):
        nonlocal s
        *s[:4], value = step(*s, xb, yb)
        return value

    out["mlp_step"] = median_s(lambda: one(x, y).block_until_ready(), repeats)
    params = s[0]
    x1 = x[:1]
    out["infer_1"] = median_s(lambda: predict(params, x1).block_until_ready(), repeats * 10)
    out["infer_128"] = median_s(lambda: predict(params, x).block_until_ready(), repeats)
    s = state(TINY_SIZES)
    xt, yt = (jnp.asarray(a) for a in data(16, TINY_SIZES))
    out["tiny_step"] = median_s(lambda: one(xt, yt).block_until_ready(), repeats * 10)
    s = state(MLP_SIZES)
    xe, ye = data(EPOCH, MLP_SIZES)
    rng = np.random.default_rng(1)

    def epoch() -> None:
        order = rng.permutation(EPOCH)
        value = None
        for start in range(0, EPOCH, BATCH):
            index = order[start:start + BATCH]
            value = one(xe[index], ye[index])
        value.block_until_ready()

    out["epoch"] = median_s(epoch, 3, warmup=1)
    return out


def run_onnxruntime(threads: int, repeats: int) -> dict[str, float]:
    """The MLP's inference graph (MatMul, Add, Relu, Softmax) built with onnx.helper, run by ORT."""
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, weights, current = [], [], "x"
    for i, (fan_in, fan_out) in enumerate(zip(MLP_SIZES[:-1], MLP_SIZES[1:], strict=True)):
        w = (rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        b = np.zeros(fan_out, np.float32)
        weights += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes += [helper.make_node("MatMul", [current, f"w{i}"], [f"m{i}"]),
                  helper.make_node("Add", [f"m{i}", f"b{i}"], [f"a{i}"])]
        current = f"a{i}"
        if i < len(MLP_SIZES) - 2:
            nodes.append(helper.make_node("Relu", [current], [f"r{i}"]))
            current = f"r{i}"
    nodes.append(helper.make_node("Softmax", [current], ["y"], axis=1))
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, MLP_SIZES[0]])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, MLP_SIZES[-1]])]
    graph = helper.make_graph(nodes, "mlp", inputs, outputs, weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                           providers=["CPUExecutionProvider"])
    x, _ = data(BATCH, MLP_SIZES)
    x1 = x[:1].copy()
    return {"infer_1": median_s(lambda: session.run(None, {"x": x1}), repeats * 10),
            "infer_128": median_s(lambda: session.run(None, {"x": x}), repeats)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("framework", choices=("torch", "jax", "onnxruntime"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    runners = {"torch": lambda: run_torch(args.threads, args.repeats), "jax": lambda: run_jax(args.repeats),
               "onnxruntime": lambda: run_onnxruntime(args.threads, args.repeats)}
    result = runners[args.framework]()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
