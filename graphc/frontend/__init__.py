"""The Keras-like frontend: layers, models, training loop, callbacks and utilities."""
