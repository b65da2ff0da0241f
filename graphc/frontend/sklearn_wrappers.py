"""scikit-learn estimators around graphc models (an optional extra: pip install 'graphc[sklearn]').

KerasClassifier / KerasRegressor follow Keras 2's `keras.wrappers.scikit_learn`
(KERAS_REFERENCE_LAYERS.md 9.1): `build_fn` returns a compiled model, constructor keywords
(`sk_params`) are routed to whichever of build_fn, fit, predict and evaluate names them, `fit`
returns the History, the classifier's labels go through `classes_`, and the regressor scores
-loss. SKLearnClassifier / SKLearnRegressor follow Keras 3's `keras.wrappers` (9.2): `model` is a
function `model(X=..., y=..., **model_kwargs)` or a compiled model, `fit` returns self, the
classifier one-hot encodes its labels and scores accuracy, the regressor scores R^2. Models pickle
as architecture + weights + compile arguments, so process pools (GridSearchCV(n_jobs=2)) work.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.metrics import r2_score
except ImportError as error:  # pragma: no cover - the message is the point
    raise ImportError(
        "graphc's scikit-learn wrappers need scikit-learn: pip install 'graphc[sklearn]'"
    ) from error

from graphc.frontend import saving
from graphc.frontend.models import Model, Sequential
from graphc.frontend.utils import to_categorical

ROUTED = (Sequential.fit, Sequential.predict, Sequential.evaluate)


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters and parameters[name].kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )


class _KerasWrapper(BaseEstimator):
    """Keras 2's BaseWrapper: build_fn and the sk_params routed by name."""

    def __init__(self, build_fn: Callable[..., Model] | None = None, **sk_params: Any) -> None:
        self.build_fn = build_fn
        self.sk_params = sk_params
        self.check_params(sk_params)

    def _builder(self) -> Callable[..., Model]:
        if self.build_fn is None:
            return self.__call__  # type: ignore[attr-defined,no-any-return]
        if not (inspect.isfunction(self.build_fn) or inspect.ismethod(self.build_fn)):
            return self.build_fn.__call__  # type: ignore[no-any-return]
        return self.build_fn

    def check_params(self, params: dict[str, Any]) -> None:
        targets = [*ROUTED, self._builder()]
        for name in params:
            if not any(_accepts(fn, name) for fn in targets):
                raise ValueError(f"{name} is not a legal parameter")

    def get_params(self, deep: bool = True, **params: Any) -> dict[str, Any]:
        return {**self.sk_params, "build_fn": self.build_fn}

    def set_params(self, **params: Any) -> _KerasWrapper:
        self.check_params({k: v for k, v in params.items() if k != "build_fn"})
        if "build_fn" in params:
            self.build_fn = params.pop("build_fn")
        self.sk_params.update(params)
        return self

    def filter_sk_params(
        self, fn: Callable[..., Any], override: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        chosen = {name: value for name, value in self.sk_params.items() if _accepts(fn, name)}
        chosen.update(override or {})
        return chosen

    def _build(self) -> Model:
        builder = self._builder()
        model = builder(**self.filter_sk_params(builder))
        if not isinstance(model, Model) or not model.compiled:
            raise ValueError("build_fn must return a compiled graphc model (call model.compile(...) in it)")
        return model

    def _fit_model(self, x: Any, y: Any, **kwargs: Any) -> Any:
        self.model = self._build()
        self.n_features_in_ = int(np.prod(np.shape(x)[1:]))
        fit_args = self.filter_sk_params(Sequential.fit, kwargs)
        return self.model.fit(x, y, **fit_args)


def _fresh_copy(model: Model) -> Model:
    """Keras's clone_model and compile: the architecture with new weights, compiled the same way."""
    copied = saving.model_from_json(model.to_json())
    training = saving.training_config(model)
    if training is not None:
        saving.compile_from(copied, training)
    return copied


def _loss_name(model: Model) -> str:
    loss = model.loss
    return loss if isinstance(loss, str) else getattr(loss, "name", "")


class KerasClassifier(ClassifierMixin, _KerasWrapper):
    """Keras 2's classifier wrapper: classes_ from the labels, predict gives labels, score accuracy."""

    def fit(self, x: Any, y: Any, **kwargs: Any) -> Any:
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] > 1:
            self.classes_ = np.arange(y.shape[1])
        elif (y.ndim == 2 and y.shape[1] == 1) or y.ndim == 1:
            self.classes_ = np.unique(y)
            y = np.searchsorted(self.classes_, y)
        else:
            raise ValueError(f"Invalid shape for y: {y.shape}")
        self.n_classes_ = len(self.classes_)
        return self._fit_model(x, y, **kwargs)

    def _fit_model(self, x: Any, y: Any, **kwargs: Any) -> Any:
        self.model = self._build()
        self.n_features_in_ = int(np.prod(np.shape(x)[1:]))
        if _loss_name(self.model) == "categorical_crossentropy" and np.asarray(y).ndim != 2:
            y = to_categorical(y, len(self.classes_))
        return self.model.fit(x, y, **self.filter_sk_params(Sequential.fit, kwargs))

    def predict_proba(self, x: Any, **kwargs: Any) -> np.ndarray:
        probabilities = self.model.predict(x, **self.filter_sk_params(Sequential.predict, kwargs))
        if probabilities.shape[1] == 1:
            probabilities = np.hstack([1 - probabilities, probabilities])
        return probabilities

    def predict(self, x: Any, **kwargs: Any) -> np.ndarray:
        probabilities = self.model.predict(x, **self.filter_sk_params(Sequential.predict, kwargs))
        if probabilities.shape[-1] > 1:
            indices = probabilities.argmax(axis=-1)
        else:
            indices = (probabilities > 0.5).astype("int32")
        return self.classes_[indices]

    def score(self, x: Any, y: Any, **kwargs: Any) -> float:
        y = np.searchsorted(self.classes_, np.asarray(y))
        if _loss_name(self.model) == "categorical_crossentropy" and y.ndim != 2:
            y = to_categorical(y, len(self.classes_))
        logs = self.model.evaluate(
            x, y, return_dict=True, **self.filter_sk_params(Sequential.evaluate, kwargs)
        )
        for name in ("accuracy", "acc"):
            if name in logs:
                return float(logs[name])
        raise ValueError(
            "The model is not configured to compute accuracy. You should pass "
            "`metrics=['accuracy']` to the `model.compile()` method."
        )


class KerasRegressor(RegressorMixin, _KerasWrapper):
    """Keras 2's regressor wrapper: predict squeezes, score is -loss (scikit-learn maximises it)."""

    def fit(self, x: Any, y: Any, **kwargs: Any) -> Any:
        return self._fit_model(x, y, **kwargs)

    def predict(self, x: Any, **kwargs: Any) -> np.ndarray:
        return np.squeeze(self.model.predict(x, **self.filter_sk_params(Sequential.predict, kwargs)))

    def score(self, x: Any, y: Any, **kwargs: Any) -> float:
        logs = self.model.evaluate(
            x, y, return_dict=True, **self.filter_sk_params(Sequential.evaluate, kwargs)
        )
        return -float(logs["loss"])


class _SKLearnWrapper(BaseEstimator):
    """Keras 3's wrappers: `model` is a function returning a compiled model, or a compiled model."""

    def __init__(
        self,
        model: Any,
        warm_start: bool = False,
        model_kwargs: dict[str, Any] | None = None,
        fit_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.model = model
        self.warm_start = warm_start
        self.model_kwargs = model_kwargs
        self.fit_kwargs = fit_kwargs

    def _make(self, x: np.ndarray, y: np.ndarray) -> Model:
        if isinstance(self.model, Model):
            if self.warm_start:
                return getattr(self, "model_", self.model)
            return _fresh_copy(self.model)
        built = self.model(X=x, y=y, **(self.model_kwargs or {}))
        if not isinstance(built, Model) or not built.compiled:
            raise ValueError("`model` must return a compiled graphc model")
        return built

    def _fit_encoded(self, x: Any, y: np.ndarray, **kwargs: Any) -> _SKLearnWrapper:
        x = np.asarray(x)
        self.n_features_in_ = x.shape[1] if x.ndim > 1 else 1
        self.model_ = self._make(x, y)
        self.history_ = self.model_.fit(x, y, **{**(self.fit_kwargs or {}), **kwargs})
        return self


class SKLearnClassifier(ClassifierMixin, _SKLearnWrapper):
    """Labels one-hot encoded (even two classes) for training; predict maps argmax back to them."""

    def fit(self, x: Any, y: Any, **kwargs: Any) -> SKLearnClassifier:
        y = np.asarray(y).reshape(-1)
        self.classes_ = np.unique(y)
        encoded = np.eye(len(self.classes_), dtype=np.float32)[np.searchsorted(self.classes_, y)]
        self._fit_encoded(x, encoded, **kwargs)
        return self

    def decision_function(self, x: Any) -> np.ndarray:
        return self.model_.predict(np.asarray(x), verbose=0)

    def predict(self, x: Any) -> np.ndarray:
        return self.classes_[self.decision_function(x).argmax(axis=-1)]


class SKLearnRegressor(RegressorMixin, _SKLearnWrapper):
    """y trained as a column, predictions returned 1-D; score is R^2."""

    def fit(self, x: Any, y: Any, **kwargs: Any) -> SKLearnRegressor:
        self._fit_encoded(x, np.asarray(y, dtype=np.float32).reshape(len(y), -1), **kwargs)
        return self

    def predict(self, x: Any) -> np.ndarray:
        return self.model_.predict(np.asarray(x), verbose=0).reshape(len(x), -1).squeeze(-1)

    def score(self, x: Any, y: Any, sample_weight: Any = None) -> float:
        return float(r2_score(y, self.predict(x), sample_weight=sample_weight))
