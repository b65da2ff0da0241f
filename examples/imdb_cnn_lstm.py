"""The tutorials' IMDB CNN-LSTM: Embedding(5000, 32, input_length=500), Conv1D(32, 3, same, relu),
MaxPooling1D(2), LSTM(100), Dense(1, sigmoid); the same script as imdb_lstm.py with --cnn."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from imdb_lstm import main  # noqa: E402 - the sibling example, found through the path above

if __name__ == "__main__":
    main(cnn=True)
