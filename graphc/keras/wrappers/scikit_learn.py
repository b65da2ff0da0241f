"""keras.wrappers.scikit_learn (Keras 2): KerasClassifier and KerasRegressor."""

from graphc.frontend.sklearn_wrappers import KerasClassifier, KerasRegressor

__all__ = ["KerasClassifier", "KerasRegressor"]
