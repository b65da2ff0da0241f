"""The peer side of bench_lstm.py: Embedding + LSTM(100) + Dense(1), Adam, binary cross-entropy, in
PyTorch (nn.LSTM; eager or torch.compile) or JAX (jit of an LSTM cell in lax.scan, Adam by hand);
median seconds of a training step and of inference as one JSON object. Run by bench_lstm.py, or:
.peers-venv/bin/python peer_lstm.py torch|torch_compile|jax [--steps 500 --batch 64]"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from common import median_s  # noqa: E402

WORDS, WIDTH, UNITS = 5000, 32, 100


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("framework", choices=("torch", "torch_compile", "jax"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    ids = rng.integers(1, WORDS, (args.batch, args.steps))
    labels = rng.integers(0, 2, (args.batch, 1)).astype(np.float32)
    run = run_jax if args.framework == "jax" else run_torch
    print(json.dumps(run(args, ids, labels)))


def run_torch(args: argparse.Namespace, ids: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    import torch
    from torch import nn

    torch.set_num_threads(args.threads)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(WORDS, WIDTH)
            self.lstm = nn.LSTM(WIDTH, UNITS, batch_first=True)
            self.dense = nn.Linear(UNITS, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out, _ = self.lstm(self.embedding(x))
            return self.dense(out[:, -1])

    net = Net()
    if args.framework == "torch_compile":
        net = torch.compile(net)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = torch.from_numpy(ids.astype(np.int64)), torch.from_numpy(labels)
    loss_fn = nn.BCEWithLogitsLoss()

    def step() -> None:
        optimizer.zero_grad()
        loss_fn(net(x), y).backward()
        optimizer.step()

    def infer() -> None:
        with torch.no_grad():
            torch.sigmoid(net(x))

    return {"train_step": median_s(step, args.repeats), "predict": median_s(infer, args.repeats)}


def run_jax(args: argparse.Namespace, ids: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The LSTM as JAX users write it: a cell stepped by lax.scan over time-major inputs."""
    import jax
    import jax.numpy as jnp

    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    params = {
        "embedding": jax.random.normal(keys[0], (WORDS, WIDTH)) * 0.05,
        "w": jax.random.normal(keys[1], (WIDTH, 4 * UNITS)) * 0.1,
        "u": jax.random.normal(keys[2], (UNITS, 4 * UNITS)) * 0.1,
        "b": jnp.zeros(4 * UNITS),
        "dense": jax.random.normal(keys[3], (UNITS, 1)) * 0.1,
        "dense_b": jnp.zeros(1),
    }

    def logits(p, x):
        z = jnp.einsum("ntf,fg->tng", p["embedding"][x], p["w"]) + p["b"]

        def cell(carry, z_t):
            h, c = carry
            gates = z_t + h @ p["u"]
            i, f, g, o = jnp.split(gates, 4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), None

        zeros = jnp.zeros((x.shape[0], UNITS))
        (h, _), _ = jax.lax.scan(cell, (zeros, zeros), z)
        return h @ p["dense"] + p["dense_b"]

    def loss(p, x, y):
        z = logits(p, x)
        return jnp.mean(jnp.maximum(z, 0) - z * y + jnp.log1p(jnp.exp(-jnp.abs(z))))

    def adam(p, m, v, t, x, y, lr=1e-3, b1=0.9, b2=0.999, eps=1e-7):
        grads = jax.grad(loss)(p, x, y)
        t = t + 1
        m = jax.tree_util.tree_map(lambda a, g: b1 * a + (1 - b1) * g, m, grads)
        v = jax.tree_util.tree_map(lambda a, g: b2 * a + (1 - b2) * g * g, v, grads)
        alpha = lr * jnp.sqrt(1 - b2**t) / (1 - b1**t)
        return (
            jax.tree_util.tree_map(lambda a, m_, v_: a - alpha * m_ / (jnp.sqrt(v_) + eps), p, m, v),
            m,
            v,
            t,
        )

    step = jax.jit(adam, donate_argnums=(0, 1, 2))
    predict = jax.jit(lambda p, x: jax.nn.sigmoid(logits(p, x)))
    state = [
        params,
        jax.tree_util.tree_map(jnp.zeros_like, params),
        jax.tree_util.tree_map(jnp.zeros_like, params),
        jnp.float32(0),
    ]
    x, y = jnp.asarray(ids), jnp.asarray(labels)

    def one() -> None:
        state[:] = step(*state, x, y)
        state[3].block_until_ready()

    return {
        "train_step": median_s(one, args.repeats),
        "predict": median_s(lambda: predict(state[0], x).block_until_ready(), args.repeats),
    }


if __name__ == "__main__":
    main()
