"""keras.wrappers (Keras 3's scikit-learn estimators; Keras 2's live in keras.wrappers.scikit_learn)."""


def __getattr__(name: str) -> object:
    """The estimators import scikit-learn, an optional extra: load them only when asked for."""
    if name in ("SKLearnClassifier", "SKLearnRegressor"):
        from graphc.frontend import sklearn_wrappers

        return getattr(sklearn_wrappers, name)
    raise AttributeError(f"module 'graphc.keras.wrappers' has no attribute {name!r}")
