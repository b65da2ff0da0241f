"""keras.preprocessing.text"""

from graphc.frontend.text import Tokenizer, hashing_trick, one_hot, text_to_word_sequence

__all__ = ["Tokenizer", "hashing_trick", "one_hot", "text_to_word_sequence"]
