"""The peer side of bench_peers.py's CNN rows: the tutorial CNN and the CIFAR-style CNN in PyTorch
(eager and torch.compile), JAX (jit) and ONNX Runtime (inference).

tutorial: Conv2D(32, 5x5, relu) on 28x28x1, MaxPooling 2x2, Flatten, Dense(128, relu),
Dense(10, softmax), Adam. cifar: examples/cifar_style_cnn.py's model (three 3x3 'same' convolutions
with BatchNormalization and relu, two max-pools, GlobalAveragePooling2D, Dense(10, softmax)) on
32x32x3, Adam. Rows: training step at batch 64, inference at batch 64 and 1; median seconds as one
JSON object. Run by bench_peers.py, or: .peers-venv/bin/python peer_cnn.py torch|torch_compile|jax|onnxruntime
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from common import median_s  # noqa: E402

BATCH = 64
SHAPES = {"tutorial": (28, 28, 1), "cifar": (32, 32, 3)}


def data(model: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((n, *SHAPES[model]), dtype=np.float32), rng.integers(0, 10, n).astype(np.int64)


def run_torch(threads: int, repeats: int, compiled: bool) -> dict[str, float]:
    import torch
    from torch import nn

    torch.set_num_threads(threads)

    def net(model: str) -> nn.Module:
        if model == "tutorial":
            return nn.Sequential(
                nn.Conv2d(1, 32, 5),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Flatten(),
                nn.Linear(12 * 12 * 32, 128),
                nn.ReLU(),
                nn.Linear(128, 10),
            )
        return nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1),
            nn.BatchNorm2d(32, momentum=0.1),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(64, 10),
        )

    loss_fn = nn.CrossEntropyLoss()

    def measure(model: str) -> dict[str, float]:
        out: dict[str, float] = {}
        module = net(model)
        forward = torch.compile(module) if compiled else module
        opt = torch.optim.Adam(module.parameters(), lr=1e-3)
        x_np, y_np = data(model, BATCH)
        x = torch.from_numpy(x_np).permute(0, 3, 1, 2).contiguous()
        y = torch.from_numpy(y_np)

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            loss_fn(forward(x), y).backward()
            opt.step()

        out[f"{model}_step"] = median_s(step, repeats)
        module.eval()
        with torch.inference_mode():
            x1 = x[:1].clone()
            out[f"{model}_infer_64"] = median_s(lambda: torch.softmax(forward(x), 1), repeats)
            out[f"{model}_infer_1"] = median_s(lambda: torch.softmax(forward(x1), 1), repeats * 5)
        return out

    return {key: value for model in SHAPES for key, value in measure(model).items()}


def run_jax(repeats: int) -> dict[str, float]:
    import jax
    import jax.numpy as jnp
    from jax import lax

    def conv(x, w, padding):
        return lax.conv_general_dilated(x, w, (1, 1), padding, dimension_numbers=("NHWC", "HWIO", "NHWC"))

    def pool(x):
        return lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")

    def bn(x, gamma, beta):
        mean = x.mean(axis=(0, 1, 2))
        var = x.var(axis=(0, 1, 2))
        return gamma * (x - mean) / jnp.sqrt(var + 1e-3) + beta

    def init(model: str):
        key = iter(jax.random.split(jax.random.PRNGKey(0), 8))
        normal = lambda shape, fan: jax.random.normal(next(key), shape) * jnp.sqrt(2.0 / fan)  # noqa: E731
        if model == "tutorial":
            return {
                "w1": normal((5, 5, 1, 32), 25),
                "b1": jnp.zeros(32),
                "w2": normal((4608, 128), 4608),
                "b2": jnp.zeros(128),
                "w3": normal((128, 10), 128),
                "b3": jnp.zeros(10),
            }
        params = {}
        for i, (cin, cout) in enumerate(((3, 32), (32, 32), (32, 64))):
            params[f"w{i}"] = normal((3, 3, cin, cout), 9 * cin)
            params[f"g{i}"], params[f"beta{i}"] = jnp.ones(cout), jnp.zeros(cout)
        params["wd"], params["bd"] = normal((64, 10), 64), jnp.zeros(10)
        return params

    def forward(model: str, p, x):
        if model == "tutorial":
            h = pool(jax.nn.relu(conv(x, p["w1"], "VALID") + p["b1"]))
            h = jax.nn.relu(h.reshape(h.shape[0], -1) @ p["w2"] + p["b2"])
            return h @ p["w3"] + p["b3"]
        h = x
        for i in range(3):
            h = jax.nn.relu(bn(conv(h, p[f"w{i}"], "SAME"), p[f"g{i}"], p[f"beta{i}"]))
            if i:
                h = pool(h)
        return h.mean(axis=(1, 2)) @ p["wd"] + p["bd"]

    def measure(model: str) -> dict[str, float]:
        out: dict[str, float] = {}

        def loss(p, x, y, model=model):
            logp = jax.nn.log_softmax(forward(model, p, x))
            return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

        def adam(p, m, v, t, x, y, loss=loss):
            value, g = jax.value_and_grad(loss)(p, x, y)
            t = t + 1
            m = jax.tree_util.tree_map(lambda a, b: 0.9 * a + 0.1 * b, m, g)
            v = jax.tree_util.tree_map(lambda a, b: 0.999 * a + 0.001 * b * b, v, g)
            alpha = 1e-3 * jnp.sqrt(1 - 0.999**t) / (1 - 0.9**t)
            p = jax.tree_util.tree_map(lambda a, b, c: a - alpha * b / (jnp.sqrt(c) + 1e-7), p, m, v)
            return p, m, v, t, value

        step = jax.jit(adam, donate_argnums=(0, 1, 2))
        predict = jax.jit(lambda p, x, model=model: jax.nn.softmax(forward(model, p, x)))
        params = init(model)
        state = [
            params,
            jax.tree_util.tree_map(jnp.zeros_like, params),
            jax.tree_util.tree_map(jnp.zeros_like, params),
            jnp.float32(0),
        ]
        x_np, y_np = data(model, BATCH)
        x, y = jnp.asarray(x_np), jnp.asarray(y_np)

        def one() -> None:
            nonlocal state
            *state[:4], value = step(*state, x, y)
            value.block_until_ready()

        out[f"{model}_step"] = median_s(one, repeats)
        p, x1 = state[0], x[:1]
        out[f"{model}_infer_64"] = median_s(lambda: predict(p, x).block_until_ready(), repeats)
        out[f"{model}_infer_1"] = median_s(lambda: predict(p, x1).block_until_ready(), repeats * 5)
        return out

    return {key: value for model in SHAPES for key, value in measure(model).items()}


def run_onnxruntime(threads: int, repeats: int) -> dict[str, float]:
    """Both inference graphs (NCHW, BatchNormalization in inference form) built with onnx.helper."""
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def measure(model: str) -> dict[str, float]:
        out: dict[str, float] = {}
        nodes, weights = [], []

        def const(name: str, value: np.ndarray, weights=weights) -> str:
            weights.append(numpy_helper.from_array(value.astype(np.float32), name))
            return name

        if model == "tutorial":
            nodes += [
                helper.make_node(
                    "Conv",
                    ["x", const("w1", rng.normal(size=(32, 1, 5, 5)) * 0.2), const("b1", np.zeros(32))],
                    ["c1"],
                ),
                helper.make_node("Relu", ["c1"], ["r1"]),
                helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
                helper.make_node("Flatten", ["p1"], ["f"]),
                helper.make_node(
                    "Gemm",
                    ["f", const("w2", rng.normal(size=(4608, 128)) * 0.02), const("b2", np.zeros(128))],
                    ["d1"],
                ),
                helper.make_node("Relu", ["d1"], ["r2"]),
                helper.make_node(
                    "Gemm",
                    ["r2", const("w3", rng.normal(size=(128, 10)) * 0.1), const("b3", np.zeros(10))],
                    ["logits"],
                ),
            ]
        else:
            current = "x"
            for i, (cin, cout) in enumerate(((3, 32), (32, 32), (32, 64))):
                nodes.append(
                    helper.make_node(
                        "Conv",
                        [current, const(f"w{i}", rng.normal(size=(cout, cin, 3, 3)) * 0.1)],
                        [f"c{i}"],
                        pads=[1, 1, 1, 1],
                    )
                )
                nodes.append(
                    helper.make_node(
                        "BatchNormalization",
                        [
                            f"c{i}",
                            const(f"g{i}", np.ones(cout)),
                            const(f"be{i}", np.zeros(cout)),
                            const(f"m{i}", np.zeros(cout)),
                            const(f"v{i}", np.ones(cout)),
                        ],
                        [f"n{i}"],
                    )
                )
                nodes.append(helper.make_node("Relu", [f"n{i}"], [f"r{i}"]))
                current = f"r{i}"
                if i:
                    nodes.append(
                        helper.make_node("MaxPool", [current], [f"p{i}"], kernel_shape=[2, 2], strides=[2, 2])
                    )
                    current = f"p{i}"
            nodes += [
                helper.make_node("GlobalAveragePool", [current], ["g"]),
                helper.make_node("Flatten", ["g"], ["f"]),
                helper.make_node(
                    "Gemm",
                    ["f", const("wd", rng.normal(size=(64, 10)) * 0.1), const("bd", np.zeros(10))],
                    ["logits"],
                ),
            ]
        nodes.append(helper.make_node("Softmax", ["logits"], ["y"], axis=1))
        h, w, c = SHAPES[model]
        inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, c, h, w])]
        outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 10])]
        graph = helper.make_graph(nodes, model, inputs, outputs, weights)
        onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        onnx.checker.check_model(onnx_model)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(
            onnx_model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        x = np.ascontiguousarray(data(model, BATCH)[0].transpose(0, 3, 1, 2))
        x1 = x[:1].copy()
        out[f"{model}_infer_64"] = median_s(lambda: session.run(None, {"x": x}), repeats)
        out[f"{model}_infer_1"] = median_s(lambda: session.run(None, {"x": x1}), repeats * 5)
        return out

    return {key: value for model in SHAPES for key, value in measure(model).items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("framework", choices=("torch", "torch_compile", "jax", "onnxruntime"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    runners = {
        "torch": lambda: run_torch(args.threads, args.repeats, False),
        "torch_compile": lambda: run_torch(args.threads, args.repeats, True),
        "jax": lambda: run_jax(args.repeats),
        "onnxruntime": lambda: run_onnxruntime(args.threads, args.repeats),
    }
    print(json.dumps(runners[args.framework]()))


if __name__ == "__main__":
    main()
