"""keras.datasets.imdb, from local files only (no downloads)."""

from graphc.frontend.text_datasets import get_imdb_word_index, load_imdb

load_data = load_imdb
get_word_index = get_imdb_word_index

__all__ = ["get_word_index", "load_data"]
