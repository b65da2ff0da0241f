"""The peer side of bench_lstm.py: the IMDB LSTM in PyTorch (nn.LSTM; eager or torch.compile), Adam,
binary cross-entropy; median seconds of a training step and of inference at batch 64 as one JSON
object. Run by bench_lstm.py, or: .peers-venv/bin/python peer_lstm.py torch|torch_compile"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
from common import median_s  # noqa: E402

BATCH, STEPS, WORDS, WIDTH, UNITS = 64, 500, 5000, 32, 100


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("framework", choices=("torch", "torch_compile"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
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
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.integers(1, WORDS, (BATCH, STEPS)).astype(np.int64))
    y = torch.from_numpy(rng.integers(0, 2, (BATCH, 1)).astype(np.float32))
    loss_fn = nn.BCEWithLogitsLoss()

    def step() -> None:
        optimizer.zero_grad()
        loss_fn(net(x), y).backward()
        optimizer.step()

    def infer() -> None:
        with torch.no_grad():
            torch.sigmoid(net(x))

    print(json.dumps({"train_step": median_s(step, args.repeats), "predict": median_s(infer, args.repeats)}))


if __name__ == "__main__":
    main()
