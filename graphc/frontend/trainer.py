"""compile / fit / evaluate / predict: Python drives epochs and batches, native code does each step."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from graphc.frontend import compile_metrics
from graphc.frontend import losses as losses_mod
from graphc.frontend import metrics as metrics_mod
from graphc.frontend import optimizers as optimizers_mod
from graphc.frontend.batch_sources import BatchSource, is_batch_source
from graphc.frontend.callbacks import Callback, CallbackList, History, WritesFiles
from graphc.frontend.data import (
    as_float_array,
    batches,
    check_batch_size,
    check_labels,
    check_not_empty,
    check_same_length,
    fit_labels_to,
    split_validation,
)
from graphc.frontend.data_parallel import (
    BroadcastsVariables,
    Collective,
    DataParallelStep,
    agree_steps,
    any_rank,
    average_states,
    broadcast_states,
    check_same_model,
    collective_of,
    combine_totals,
)
from graphc.frontend.engine import CompiledModel
from graphc.frontend.layers.base import STATE_ROWS
from graphc.frontend.model_inputs import ModelInputs
from graphc.frontend.optimizers.step import ITERATIONS, OPTIMIZER_STATE_PREFIX
from graphc.frontend.programs import (
    COUNT_PREFIX,
    LABELS,
    LOSS,
    METRIC_PREFIX,
    TRAINING_CALL,
    WEIGHTED,
    LossSpec,
    MultiLossSpec,
    build_programs,
    declared_batch_size,
    input_name,
    label_name,
    prediction_name,
    train_graph,
)
from graphc.frontend.sample_weights import sample_weights, weight_feeds
from graphc.frontend.seeding import global_rng

_CROSSENTROPY_ALIASES = ("crossentropy", "ce")
_IGNORED_COMPILE_ARGS = ("run_eagerly", "steps_per_execution", "jit_compile", "auto_scale_loss")


class Trainer:
    """The training API shared by every model."""

    def __init__(self) -> None:
        self.optimizer: Any = None
        self.loss: Any = None
        self.compiled = False
        self.stop_training = False
        self.history: History | None = None
        self._metric_ids: Any = []  # a list for every output, or a dict by output name
        self._weighted_metric_ids: Any = []  # the same forms, for compile(weighted_metrics=...)
        self._loss_weights: Any = None
        self._spec: LossSpec | None = None
        self._engine: CompiledModel | None = None
        self._label_data_shape: tuple[int | None, ...] | None = None
        self._pending_slots: dict[str, np.ndarray] = {}
        self._stateful: tuple[str, int | None] | None = None
        self._engine_lock = threading.RLock()  # compile and engine swaps, never held around a step

    # -- compile ----------------------------------------------------------------------------
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, metrics: Sequence[Any] | None = None,
                loss_weights: Any = None, weighted_metrics: Any = None, **kwargs: Any) -> None:
        unknown = set(kwargs) - set(_IGNORED_COMPILE_ARGS)
        if unknown:
            raise TypeError(f"compile() got unexpected keyword arguments {sorted(unknown)}")
        if loss is None:
            raise ValueError("compile() needs a `loss`, e.g. loss='mse' or loss='binary_crossentropy'")
        several = len(self.outputs) > 1
        if loss_weights is not None and not several:
            raise ValueError("compile(): loss_weights weighs the losses of several outputs; this model has "
                             "one output")
        resolved_optimizer = optimizers_mod.get(optimizer)
        names = self._output_names() if several else ["output"]
        for each in _per_output(loss, names, "loss").values():
            if not (isinstance(each, str) and each in _CROSSENTROPY_ALIASES):
                losses_mod.get(each)
        weights = _per_output(1.0 if loss_weights is None else loss_weights, names, "loss_weights")
        if any(isinstance(w, bool) or not isinstance(w, (int, float)) for w in weights.values()):
            raise ValueError(f"compile(): loss_weights must be numbers, got {loss_weights!r}")
        if several:
            metric_ids: Any = compile_metrics.per_output(metrics, names, "metrics")
            weighted_ids: Any = compile_metrics.per_output(weighted_metrics, names, "weighted_metrics")
        else:
            metric_ids = compile_metrics.as_list(metrics)
            weighted_ids = compile_metrics.as_list(weighted_metrics)
        for ids in (metric_ids, weighted_ids):
            for identifier in (ids if isinstance(ids, list) else sum(ids.values(), [])):
                metrics_mod.resolve(identifier, (None, 1), (None, 1))
        # Everything above may raise; only a compile that succeeds replaces the compiled state.
        with self._engine_lock:
            self.optimizer = resolved_optimizer
            self._metric_ids = metric_ids
            self._weighted_metric_ids = weighted_ids
            self._loss_weights = loss_weights
            self.loss = loss
            self.compiled = True
            self._spec = None
            self._engine = None

    def expected_loss_spec(self) -> LossSpec:
        """The loss and metrics as fit resolves them: for the labels fit last saw, else for the labels
        the loss asks for (class indices for a sparse loss, the prediction's shape otherwise)."""
        if self._spec is not None:
            return self._spec
        if len(self.outputs) > 1:
            guess = (None, *(tuple(t.shape[1:]) for t in self.outputs))
            return self._resolve_spec(self._resolve_spec(guess).label_shape)
        return self._resolve_spec(self._resolve_spec(tuple(self.outputs[0].shape)).label_shape)

    def _resolve_spec(self, label_data_shape: tuple[Any, ...]) -> Any:
        """Resolve the loss and metrics against the label data, as Keras does on the first batch;
        with several outputs, per output (label_data_shape is then (None, one shape per output))."""
        if len(self.outputs) == 1:
            spec = self._output_spec(self.loss, self._metric_ids, self._weighted_metric_ids, label_data_shape,
                                     tuple(self.outputs[0].shape))
            compile_metrics.name_metrics([spec], [None])
            return spec
        names = self._output_names()
        losses = _per_output(self.loss, names, "loss")
        given_weights = 1.0 if self._loss_weights is None else self._loss_weights
        weights = _per_output(given_weights, names, "loss_weights")
        specs = []
        for index, (name, tensor) in enumerate(zip(names, self.outputs, strict=True)):
            data_shape = (None, *label_data_shape[index + 1])
            specs.append(self._output_spec(losses[name], self._metric_ids[name],
                                           self._weighted_metric_ids[name], data_shape, tuple(tensor.shape)))
        compile_metrics.name_metrics(specs, names)
        return MultiLossSpec(specs, names, [float(weights[name]) for name in names])

    @staticmethod
    def _output_spec(loss_id: Any, metric_ids: list[Any], weighted_ids: list[Any],
                     label_data_shape: tuple[int | None, ...], pred_shape: tuple[int | None, ...]
                     ) -> LossSpec:
        if isinstance(loss_id, str) and loss_id in _CROSSENTROPY_ALIASES:
            loss_id = metrics_mod.resolve_loss_alias(loss_id, label_data_shape, pred_shape)
        loss = losses_mod.get(loss_id)
        metrics = [metrics_mod.resolve(m, label_data_shape, pred_shape) for m in metric_ids]
        weighted = [metrics_mod.weighted(metrics_mod.resolve(m, label_data_shape, pred_shape))
                    for m in weighted_ids]
        return LossSpec(loss, metrics, tuple(loss.label_shape(pred_shape)), weighted)

    # -- engines ----------------------------------------------------------------------------
    def _engine_for(self, x: np.ndarray, y: np.ndarray | None = None) -> CompiledModel:
        """The engine for this data; with labels, the loss is resolved only when they do not fit it.

        Labels of shape (N,) and (N, 1) both fit a (None, 1) loss, so a validation set given in the
        other form never swaps the engine under a running fit.
        """
        engine = self._engine
        if (engine is not None and tuple(x.shape[1:]) == self._input_sample_shape()
                and (y is None or (self._spec is not None and (None, *y.shape[1:]) == self._label_data_shape
                                   and engine.has("train_step")))):
            self._check_input_values(x)
            return engine  # nothing to change: no lock on the per-batch path
        with self._engine_lock:
            engine = self._engine_for_locked(x, y)
        self._check_input_values(x)
        return engine

    def _as_input(self, x: Any) -> Any:
        """x as float32; a 1-D x for a model whose input is one feature becomes a column (Keras 2's habit).
        A model with several inputs takes a list (or a dict by input name): a ModelInputs."""
        if len(self.inputs) > 1:
            return ModelInputs.of(x, [tensor.layer.name for tensor in self.inputs])
        array = as_float_array(x, "x")
        if array.ndim == 1 and self.inputs and tuple(self.inputs[0].shape[1:]) == (1,):
            return array[:, None]
        return array

    def _check_input_values(self, x: Any) -> None:
        """The layers that read the model input directly check its values (Embedding's ids)."""
        arrays = x.arrays if isinstance(x, ModelInputs) else (x,)
        inputs = {id(tensor): index for index, tensor in enumerate(self.inputs)}
        for layer, sources, _ in self.operations:
            if not layer.takes_list and id(sources[0]) in inputs:
                index = inputs[id(sources[0])]
                what = "input x" if len(arrays) == 1 else f"input x[{index}]"
                layer.check_input_values(arrays[index], what)

    def _input_sample_shape(self) -> tuple[Any, ...] | None:
        if len(self.inputs) > 1:
            return tuple(tuple(tensor.shape[1:]) for tensor in self.inputs)
        return tuple(self.inputs[0].shape[1:]) if self.inputs else None

    def _predictions(self, results: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        count = len(self.outputs)
        return [results[prediction_name(i, count)] for i in range(count)]

    def _output_names(self) -> list[str]:
        return [tensor.layer.name for tensor in self.outputs]

    def _as_labels(self, y: Any) -> Any:
        """y as float32; for several outputs a list or a dict by output layer name: a ModelInputs."""
        if len(self.outputs) > 1:
            return ModelInputs.of(y, self._output_names(), what="outputs")
        return as_float_array(y, "y")

    def _sample_weights(self, y: Any, sample_weight: Any, class_weight: Any, what: str) -> Any:
        return sample_weights(y, sample_weight, class_weight, what, self._output_names())

    def _label_feeds(self, y: Any) -> dict[str, np.ndarray]:
        if isinstance(y, ModelInputs):
            return {label_name(i, len(y.arrays)): array for i, array in enumerate(y.arrays)}
        return {LABELS: y}

    def _input_feeds(self, x: Any) -> dict[str, np.ndarray]:
        """The predict/train/eval programs' input arguments for this x (and the rows a stateful
        recurrent layer reads its states with, for a batch of exactly its declared size)."""
        if isinstance(x, ModelInputs):
            feeds = {input_name(i, len(x.arrays)): array for i, array in enumerate(x.arrays)}
        else:
            feeds = {"x": x}
        if self._stateful is not None:
            layer, declared = self._stateful
            if len(x) != declared:
                raise ValueError(f"layer {layer!r} is stateful with batch size {declared}: every batch must "
                                 f"hold {declared} samples, got {len(x)} (pass batch_size={declared} to fit, "
                                 "evaluate and predict, with a sample count it divides)")
            feeds[STATE_ROWS] = np.arange(len(x), dtype=np.int32)
        return feeds

    def reset_states(self) -> None:
        """Zero the carried states of every stateful layer (Keras's model.reset_states)."""
        for layer in self.layers:
            if layer.stateful:
                layer.reset_states()

    def _engine_for_locked(self, x: np.ndarray, y: np.ndarray | None) -> CompiledModel:
        self.build_for_input(tuple(x.shape[1:]))
        if y is not None:
            if not self.compiled:
                raise RuntimeError(f"model {self.name!r} must be compiled before training or evaluating: "
                                   "call model.compile(optimizer, loss, metrics) first")
            label_data_shape = (None, *y.shape[1:])
            if self._spec is None or not self._labels_fit(label_data_shape):
                self._spec = self._resolve_spec(label_data_shape)
                self._label_data_shape = label_data_shape
                self._engine = None
        if self._engine is None or (y is not None and not self._engine.has("train_step")):
            programs = build_programs(self, self._spec if self.compiled and self._spec else None,
                                      self.optimizer)
            self._engine = CompiledModel(programs, self.weights, self.name)
            stateful = [layer.name for layer in self.layers if layer.stateful]
            # (first stateful layer, the batch size every batch must have): checked per batch
            self._stateful = (stateful[0], declared_batch_size(self)) if stateful else None
            for layer in self.layers:
                layer.bind_state_store(self._engine.store)
            if self._pending_slots and self._engine.has("train_step"):
                pending, self._pending_slots = self._pending_slots, {}  # tried once, even if it raises
                unused = self._engine.load_states(pending)
                if unused:
                    warnings.warn(f"optimizer state {unused} matches no slot of "
                                  f"{type(self.optimizer).__name__} and was not restored", stacklevel=3)
        return self._engine

    def _labels_fit(self, label_data_shape: tuple[Any, ...]) -> bool:
        if isinstance(self._spec, MultiLossSpec):
            return all(_fits(spec.label_shape, (None, *shape))
                       for spec, shape in zip(self._spec.specs, label_data_shape[1:], strict=True))
        return _fits(self._spec.label_shape, label_data_shape)

    def _labels(self, y: Any) -> Any:
        """Labels in the exact shape the compiled loss takes, checked as Keras checks them."""
        if isinstance(self._spec, MultiLossSpec):
            return ModelInputs([self._output_labels(part, spec, tensor.shape[-1]) for part, spec, tensor
                                in zip(y.arrays, self._spec.specs, self.outputs, strict=True)])
        return self._output_labels(y, self._spec, self.outputs[0].shape[-1])

    @staticmethod
    def _output_labels(y: np.ndarray, spec: LossSpec, classes: Any) -> np.ndarray:
        y = fit_labels_to(y, spec.label_shape, spec.loss.name)
        check_labels(y, spec.loss.name, classes if spec.loss.sparse else None)
        return y

    def optimizer_slots(self) -> list[tuple[str, tuple[int, ...]]]:
        """(state name, shape) of every optimizer variable but the step count, in the training step's
        order: per trainable weight its slots, which is Keras 3's optimizer-variable order."""
        engine = self._engine
        if engine is not None and engine.has("train_step"):
            shapes = {name: tuple(engine.store[name].shape) for name in engine.state_names("train_step")}
        else:
            if not self.compiled:
                raise RuntimeError(f"model {self.name!r} has no optimizer: compile it first")
            graph, _ = train_graph(self, self.expected_loss_spec(), self.optimizer)
            shapes = {name: tuple(node.shape) for name, node in graph.states.items()}
        return [(name, shape) for name, shape in shapes.items()
                if name.startswith(OPTIMIZER_STATE_PREFIX) and name != ITERATIONS]

    def _count_results(self) -> dict[str, Callable[[dict[str, np.ndarray]], float]]:
        """How each counted metric (confusion metrics, and every weighted metric) turns its summed
        counts into its value."""
        spec = self._spec
        metrics = [*spec.metrics, *spec.weighted_metrics] if spec is not None else []
        return {m.name: m.result_from for m in metrics if hasattr(m, "result_from")}

    def _restore_optimizer_slots(self, values: Mapping[str, np.ndarray]) -> None:
        """Slot values (`optimizer/<slot>` names, as saved) to start the next training step from."""
        with self._engine_lock:
            self._pending_slots = {name: np.asarray(value) for name, value in values.items()}
            if self._engine is not None and self._engine.has("train_step"):
                self._engine = None

    # -- fit --------------------------------------------------------------------------------
    def fit(self, x: Any = None, y: Any = None, batch_size: int | None = None, epochs: int = 1,
            verbose: Any = "auto", callbacks: Sequence[Any] | None = None, validation_split: float = 0.0,
            validation_data: Any = None, shuffle: bool | str = True, class_weight: Any = None,
            sample_weight: Any = None, initial_epoch: int = 0, steps_per_epoch: int | None = None,
            validation_steps: int | None = None, validation_batch_size: int | None = None,
            validation_freq: int | Sequence[int] = 1, **kwargs: Any) -> History:
        if "nb_epoch" in kwargs:
            warnings.warn("fit(): `nb_epoch` is a Keras 1 argument; use `epochs`", DeprecationWarning,
                          stacklevel=2)
            epochs = kwargs.pop("nb_epoch")
        if kwargs:
            raise TypeError(f"fit() got unexpected keyword arguments {sorted(kwargs)}")
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"fit(): `epochs` must be a non-negative integer, got {epochs!r}")
        batch_size = check_batch_size(batch_size)
        if is_batch_source(x):
            if y is not None or validation_split or sample_weight is not None or class_weight is not None:
                raise ValueError("fit(): with a generator or Sequence as x, give no y, validation_split, "
                                 "sample_weight or class_weight (the source yields (x, y) batches)")
            train_source = BatchSource(x, steps_per_epoch, "fit()", need_labels=True)
            steps = train_source.steps

            def epoch_batches() -> Iterator[Batch3]:
                return self._source_batches(train_source)
        else:
            if steps_per_epoch is not None:
                raise ValueError("fit(): steps_per_epoch applies to generators and Sequences; with arrays, "
                                 "batch_size sets the steps")
            x_all, y_all = self._as_input(x), self._as_labels(y)
            check_same_length(x_all, y_all)
            check_not_empty(x_all, "fit()")
            w_all = self._sample_weights(y_all, sample_weight, class_weight, "fit()")
            if validation_data is None and validation_split:
                x_all, y_all, *held_out = split_validation(x_all, y_all, validation_split)
                # Keras 3 splits sample_weight with x and y and validates with the held-out part;
                # class_weight weighs the training batches only.
                if sample_weight is not None:
                    held_out.append(w_all[len(x_all):])
                validation_data = tuple(held_out)
                w_all = None if w_all is None else w_all[:len(x_all)]
            self._engine_for(x_all, y_all)
            x_train, y_train = x_all, self._labels(y_all)
            steps = -(-len(x_train) // batch_size)

            def epoch_batches() -> Iterator[Batch3]:
                order = _epoch_order(len(x_train), batch_size, shuffle)
                for index in batches(len(x_train), batch_size, order):
                    yield x_train[index], y_train[index], None if w_all is None else w_all[index]

        collective = collective_of(self.optimizer)
        local_steps = steps
        verbose = 1 if verbose == "auto" else int(verbose)
        callbacks = _as_callback_sequence(callbacks)
        if collective is not None:
            if steps is None:
                raise ValueError("fit(): data-parallel training runs the same number of steps on every rank; "
                                 "give steps_per_epoch for a source of unknown length")
            local_steps, steps = steps, agree_steps(collective, steps)
            root = next((c.root_rank for c in callbacks if isinstance(c, BroadcastsVariables)), 0)
            if collective.rank != 0:  # one progress bar and one writer of each file
                verbose = 0
                callbacks = [c for c in callbacks if not isinstance(c, WritesFiles)]
        validate = self._validation(validation_data, validation_steps, validation_batch_size or batch_size,
                                    collective)
        callback_list = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=self,
                                     verbose=verbose, epochs=epochs, steps=steps)
        self.history = next(c for c in callback_list.callbacks if isinstance(c, History))
        self.stop_training = False
        callback_list.on_train_begin()
        started = collective is None
        for epoch in range(initial_epoch, epochs):
            callback_list.on_epoch_begin(epoch)
            tracker = _RunningMeans(self._count_results())
            done = 0
            train, train_weighted = None, False
            batches_in = epoch_batches() if collective is None else _padded(epoch_batches(), steps)
            for step, batch in enumerate(batches_in):
                if batch is None:  # data parallel: this rank's data ran out; the others still step
                    train.idle(self.optimizer.feeds())
                    self.optimizer.count_step()
                    self.stop_training = any_rank(collective, self.stop_training)
                    if self.stop_training:
                        break
                    continue
                xb, yb, wb = batch
                if train is None or train_weighted != (wb is not None):  # per epoch (a callback may have
                    # recompiled the model), and when a source's batches start or stop carrying weights
                    engine = self._engine_for(xb[:1], yb[:1])
                    if not started:
                        self._start_data_parallel(engine, collective, root)
                        started = True
                    train = self._training_step(engine, collective, wb is not None)
                    train_weighted = wb is not None
                callback_list.on_train_batch_begin(step)
                feeds = {**self._input_feeds(xb), **self._label_feeds(yb), **weight_feeds(wb)}
                outputs = train(len(xb), feeds, self.optimizer.feeds())
                self.optimizer.count_step()
                tracker.add(outputs, len(xb))
                callback_list.on_train_batch_end(step, tracker.logs())
                done += 1
                if collective is not None:
                    self.stop_training = any_rank(collective, self.stop_training)
                if self.stop_training:
                    break
            if done == 0 or (local_steps is not None and done < local_steps and not self.stop_training):
                warnings.warn("fit(): your input ran out of data; interrupting training. Make sure that your "
                              "generator can generate at least `steps_per_epoch * epochs` batches",
                              UserWarning, stacklevel=2)
                self.stop_training = True
            self._sync_iterations()
            if collective is not None:
                tracker.combine(collective)
                self._average_statistics(collective)
            logs = tracker.logs()
            if validate is not None and done and _should_validate(epoch, validation_freq):
                logs.update({f"val_{k}": v for k, v in validate().items()})
            callback_list.on_epoch_end(epoch, logs)
            if collective is not None:
                self.stop_training = any_rank(collective, self.stop_training)
            if self.stop_training:
                break
        callback_list.on_train_end()
        return self.history

    def _training_step(self, engine: CompiledModel, collective: Collective | None, weighted: bool
                       ) -> Any:
        """The step fit calls per batch: the compiled training step, or with a collective the
        data-parallel step (gradients summed across ranks between the backward pass and the update)."""
        if collective is not None:
            return DataParallelStep(engine, collective, weighted)
        name = WEIGHTED["train_step"] if weighted else "train_step"
        engine.program(name)  # compiled now, before the first batch's callbacks run
        # asked for per batch: a tiered build's optimized library replaces the first one mid-epoch
        return lambda batch, feeds, hyperparameters: engine.program(name)(batch, **feeds, **hyperparameters)

    def _start_data_parallel(self, engine: CompiledModel, collective: Collective, root: int) -> None:
        """Every rank checks that the ranks built the same model, then takes root's weights and
        optimizer state, so the ranks start equal and, applying equal gradients, stay equal."""
        check_same_model(collective, self.name, [(w.path, tuple(w.shape)) for w in self.weights])
        broadcast_states(collective, engine.store, root)
        self._sync_iterations()

    def _average_statistics(self, collective: Collective) -> None:
        engine = self._engine
        if engine is not None:
            average_states(collective, engine.store,
                           [w.path for w in self.weights if not w.trainable and w.path in engine.store])

    def _source_batches(self, source: BatchSource) -> Iterator[Batch3]:
        """A source's batches checked as array data is: float x, labels in the loss's form, and the
        sample weights of (x, y, sample_weight) batches."""
        for batch in source.epoch():
            xb, yb = self._as_input(batch.x), self._as_labels(batch.y)
            check_same_length(xb, yb)
            check_not_empty(xb, source.what)
            wb = self._sample_weights(yb, batch.sample_weight, None, source.what)
            self._engine_for(xb, yb)
            yield xb, self._labels(yb), wb

    def _validation(self, data: Any, steps: int | None, batch_size: int,
                    collective: Collective | None = None) -> Callable[[], dict[str, float]] | None:
        """A function giving the validation logs of the current weights, or None without validation data."""
        if data is None:
            return None
        if is_batch_source(data):
            source = BatchSource(data, steps, "fit() validation data", need_labels=True)
            return lambda: self._evaluate_batches(self._source_batches(source), collective=collective)
        x_val, y_raw, w_val = _unpack_validation(data, self._as_input, self._as_labels, self._sample_weights)
        check_not_empty(x_val, "fit() validation data")
        self.build_for_input(tuple(x_val.shape[1:]))
        # Checked now when the loss is known (array training data), else after the first training batch.
        checked = [self._labels(y_raw)] if self._spec is not None else []

        def validate() -> dict[str, float]:
            if not checked:
                checked.append(self._labels(y_raw))
            return self._evaluate_arrays(x_val, checked[0], batch_size, collective=collective, weights=w_val)

        return validate

    def _sync_iterations(self) -> None:
        engine = self._engine
        if engine is not None and "optimizer/iterations" in engine.store:
            self.optimizer.iterations = int(engine.store["optimizer/iterations"])

    # -- evaluate / predict -----------------------------------------------------------------
    def _evaluate_arrays(self, x: np.ndarray, y: np.ndarray, batch_size: int,
                         callback_list: CallbackList | None = None, collective: Collective | None = None,
                         weights: np.ndarray | None = None) -> dict[str, float]:
        self._engine_for(x, y)
        return self._evaluate_batches(((x[index], y[index], None if weights is None else weights[index])
                                       for index in batches(len(x), batch_size)), callback_list, collective)

    def _evaluate_batches(self, batches_in: Iterator[Batch3], callback_list: CallbackList | None = None,
                          collective: Collective | None = None) -> dict[str, float]:
        """The logs over the batches; with a collective, over every rank's batches (fit's validation
        in data-parallel training, so every rank's callbacks see the same numbers)."""
        tracker = _RunningMeans(self._count_results())
        programs: dict[bool, Any] = {}  # by weighted: a source's batches may start or stop carrying weights
        for step, (xb, yb, wb) in enumerate(batches_in):
            program = programs.get(wb is not None)
            if program is None:
                name = "eval_step" if wb is None else WEIGHTED["eval_step"]
                program = programs[wb is not None] = self._engine_for(xb[:1], yb[:1]).program(name)
            if callback_list is not None:
                callback_list.on_test_batch_begin(step)
            feeds = {**self._input_feeds(xb), **self._label_feeds(yb), **weight_feeds(wb)}
            tracker.add(program(len(xb), **feeds), len(xb))
            if callback_list is not None:
                callback_list.on_test_batch_end(step, tracker.logs())
        if collective is not None:
            tracker.combine(collective)
        return tracker.logs()

    def evaluate(self, x: Any = None, y: Any = None, batch_size: int | None = None, verbose: Any = "auto",
                 sample_weight: Any = None, steps: int | None = None, callbacks: Sequence[Any] | None = None,
                 return_dict: bool = False) -> Any:
        batch_size = check_batch_size(batch_size)
        verbose = 1 if verbose == "auto" else int(verbose)
        if is_batch_source(x):
            if y is not None or sample_weight is not None:
                raise ValueError("evaluate(): with a generator or Sequence as x, give no y or sample_weight")
            source = BatchSource(x, steps, "evaluate()", need_labels=True)
            pairs = self._source_batches(source)
            step_count = source.steps
        else:
            if steps is not None:
                raise ValueError("evaluate(): steps applies to generators and Sequences; with arrays, "
                                 "batch_size sets the steps")
            x_all, y_all = self._as_input(x), self._as_labels(y)
            check_same_length(x_all, y_all)
            check_not_empty(x_all, "evaluate()")
            w_all = self._sample_weights(y_all, sample_weight, None, "evaluate()")
            self._engine_for(x_all, y_all)
            y_all = self._labels(y_all)
            pairs = ((x_all[index], y_all[index], None if w_all is None else w_all[index])
                     for index in batches(len(x_all), batch_size))
            step_count = -(-len(x_all) // batch_size)
        callback_list = CallbackList(callbacks, add_progbar=verbose != 0, model=self, verbose=verbose,
                                     epochs=1, steps=step_count)
        callback_list.on_test_begin()
        logs = self._evaluate_batches(pairs, callback_list)
        callback_list.on_test_end(logs)
        if return_dict:
            return logs
        values = [logs[name] for name in self.metrics_names]
        return values[0] if len(values) == 1 else values

    def predict(self, x: Any, batch_size: int | None = None, verbose: Any = "auto", steps: int | None = None,
                callbacks: Sequence[Any] | None = None) -> np.ndarray:
        batch_size = check_batch_size(batch_size)
        if is_batch_source(x):
            source = BatchSource(x, steps, "predict()", need_labels=False)
            inputs = (self._as_input(batch.x) for batch in source.epoch())
            step_count = source.steps
        else:
            if steps is not None:
                raise ValueError("predict(): steps applies to generators and Sequences; with arrays, "
                                 "batch_size sets the steps")
            x_all = self._as_input(x)
            self._engine_for(x_all)
            inputs = (x_all[index] for index in batches(len(x_all), batch_size))
            step_count = -(-len(x_all) // batch_size)
        verbose = 1 if verbose == "auto" else int(verbose)
        callback_list = CallbackList(callbacks, add_progbar=verbose != 0, model=self, verbose=verbose,
                                     epochs=1, steps=step_count)
        callback_list.on_predict_begin()
        results = []
        for step, xb in enumerate(inputs):
            callback_list.on_predict_batch_begin(step)
            predict = self._engine_for(xb).program("predict")
            results.append(self._predictions(predict(len(xb), **self._input_feeds(xb))))
            callback_list.on_predict_batch_end(step, {})
        callback_list.on_predict_end()
        if not results:
            empty = [np.zeros((0, *t.shape[1:]), dtype=np.float32) for t in self.outputs]
            return empty[0] if len(empty) == 1 else empty
        per_output = [np.concatenate(parts) for parts in zip(*results, strict=True)]
        return per_output[0] if len(per_output) == 1 else per_output

    # -- Keras 2's generator methods ------------------------------------------------------------
    def fit_generator(self, generator: Any, steps_per_epoch: int | None = None, epochs: int = 1,
                      **kwargs: Any) -> History:
        warnings.warn("fit_generator() is deprecated in Keras 2 and gone from Keras 3; use fit(generator)",
                      DeprecationWarning, stacklevel=2)
        return self.fit(generator, steps_per_epoch=steps_per_epoch, epochs=epochs, **kwargs)

    def evaluate_generator(self, generator: Any, steps: int | None = None, **kwargs: Any) -> Any:
        warnings.warn("evaluate_generator() is deprecated in Keras 2 and gone from Keras 3; use "
                      "evaluate(generator)", DeprecationWarning, stacklevel=2)
        return self.evaluate(generator, steps=steps, **kwargs)

    def predict_generator(self, generator: Any, steps: int | None = None, **kwargs: Any) -> np.ndarray:
        warnings.warn("predict_generator() is deprecated in Keras 2 and gone from Keras 3; use "
                      "predict(generator)", DeprecationWarning, stacklevel=2)
        return self.predict(generator, steps=steps, **kwargs)

    # -- single batches ---------------------------------------------------------------------
    def train_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None, class_weight: Any = None,
                       return_dict: bool = False) -> Any:
        return self._one_batch("train_step", x, y, sample_weight, class_weight, return_dict)

    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                      return_dict: bool = False) -> Any:
        return self._one_batch("eval_step", x, y, sample_weight, None, return_dict)

    def predict_on_batch(self, x: Any, training: bool = False) -> np.ndarray:
        x_all = self._as_input(x)
        program = self._engine_for(x_all).program(TRAINING_CALL if training else "predict")
        outputs = self._predictions(program(len(x_all), **self._input_feeds(x_all)))
        return outputs[0] if len(outputs) == 1 else outputs

    def _one_batch(self, program_name: str, x: Any, y: Any, sample_weight: Any, class_weight: Any,
                   return_dict: bool) -> Any:
        xb, yb = self._as_input(x), self._as_labels(y)
        check_same_length(xb, yb)
        what = "train_on_batch()" if program_name == "train_step" else "test_on_batch()"
        check_not_empty(xb, what)
        wb = self._sample_weights(yb, sample_weight, class_weight, what)
        engine = self._engine_for(xb, yb)
        yb = self._labels(yb)
        feeds = self.optimizer.feeds() if program_name == "train_step" else {}
        inputs = {**self._input_feeds(xb), **self._label_feeds(yb), **weight_feeds(wb)}
        tracker = _RunningMeans(self._count_results())
        if program_name == "train_step":
            step = self._training_step(engine, collective_of(self.optimizer), wb is not None)
            tracker.add(step(len(xb), inputs, feeds), len(xb))
            self._sync_iterations()
        else:
            program = engine.program(program_name if wb is None else WEIGHTED[program_name])
            tracker.add(program(len(xb), **inputs), len(xb))
        logs = tracker.logs()
        if return_dict:
            return logs
        values = [logs[name] for name in self.metrics_names]
        return values[0] if len(values) == 1 else values

    @property
    def metrics_names(self) -> list[str]:
        """The order evaluate() returns its values in (Keras 3's: the loss, the compiled metrics, the
        weighted metrics, then each output's own loss)."""
        if len(self.outputs) > 1 and self.compiled:
            spec = self.expected_loss_spec()
            losses = [f"{name}_loss" for name in spec.names]
            return [LOSS, *(m.name for m in [*spec.metrics, *spec.weighted_metrics]), *losses]
        if self._spec is not None:
            return [LOSS, *(m.name for m in [*self._spec.metrics, *self._spec.weighted_metrics])]
        plain, weighted = compile_metrics.log_names(  # before the first batch resolves them
            [[compile_metrics.identifier_name(m) for m in self._metric_ids]],
            [[compile_metrics.identifier_name(m) for m in self._weighted_metric_ids]], [None])
        return [LOSS, *plain[0], *weighted[0]]


# x, y, sample weights (one array, one per output, or None: unweighted)
Batch3 = tuple[np.ndarray, np.ndarray, "np.ndarray | ModelInputs | None"]


class _RunningMeans:
    """Sample-weighted means over the batches seen so far, as Keras's Mean trackers keep them, and
    the summed counts of counted metrics (confusion metrics, weighted metrics), whose results
    `results` computes from the totals."""

    def __init__(self, results: Mapping[str, Callable[[dict[str, np.ndarray]], float]] | None = None) -> None:
        self.totals: dict[str, Any] = {}
        self.count = 0
        self.results = results or {}

    def add(self, outputs: dict[str, np.ndarray], batch: int) -> None:
        for name, value in outputs.items():
            if name == LOSS or name.startswith(METRIC_PREFIX):
                self.totals[name] = self.totals.get(name, 0.0) + float(value) * batch
            elif name.startswith(COUNT_PREFIX):
                self.totals[name] = self.totals.get(name, 0.0) + np.asarray(value, dtype=np.float64)
        self.count += batch

    def combine(self, collective: Collective) -> None:
        """Sum the totals over the ranks: the logs become the means over every rank's samples."""
        self.totals, self.count = combine_totals(collective, self.totals, self.count)

    def logs(self) -> dict[str, float]:
        """Sorted by name: the order Keras 3 logs, prints and records them in History."""
        if not self.count:
            return {}
        logs: dict[str, float] = {}
        counts: dict[str, dict[str, np.ndarray]] = {}
        for name, total in self.totals.items():
            if name.startswith(METRIC_PREFIX):
                logs[name[len(METRIC_PREFIX):]] = total / self.count
            elif name.startswith(COUNT_PREFIX):
                metric, key = name[len(COUNT_PREFIX):].rsplit("/", 1)
                counts.setdefault(metric, {})[key] = total
        for metric, values in counts.items():
            logs[metric] = self.results[metric](values)
        logs[LOSS] = self.totals[LOSS] / self.count
        return dict(sorted(logs.items()))


def _epoch_order(count: int, batch_size: int, shuffle: bool | str) -> np.ndarray | None:
    if shuffle == "batch":
        starts = global_rng().permutation(-(-count // batch_size)) * batch_size
        return np.concatenate([np.arange(s, min(s + batch_size, count)) for s in starts])
    if shuffle:
        return global_rng().permutation(count)
    return None


def _should_validate(epoch: int, freq: int | Sequence[int]) -> bool:
    if isinstance(freq, int):
        return (epoch + 1) % freq == 0
    return epoch + 1 in freq


def _unpack_validation(data: Any, as_input: Callable[[Any], Any], as_labels: Callable[[Any], Any],
                       weigh: Callable[..., Any]) -> tuple[Any, Any, Any]:
    """(x_val, y_val) or Keras's (x_val, y_val, val_sample_weight)."""
    if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
        raise ValueError("`validation_data` must be a tuple (x_val, y_val) or (x_val, y_val, "
                         "val_sample_weight)")
    x_val = as_input(data[0]) if not isinstance(data[0], ModelInputs) else data[0]
    y_val = as_labels(data[1]) if not isinstance(data[1], ModelInputs) else data[1]
    check_same_length(x_val, y_val)
    weights = data[2] if len(data) == 3 else None
    return x_val, y_val, weigh(y_val, weights, None, "fit() validation data")


def _padded(batches_in: Iterator[Batch3], steps: int) -> Iterator[Batch3 | None]:
    """This rank's batches, then None until every rank's `steps` steps are done."""
    count = 0
    for batch in batches_in:
        yield batch
        count += 1
    for _ in range(count, steps):
        yield None


def _as_callback_sequence(callbacks: Any) -> list[Any]:
    if callbacks is None:
        return []
    return [callbacks] if isinstance(callbacks, Callback) else list(callbacks)


def _per_output(value: Any, names: list[str], what: str) -> dict[str, Any]:
    """compile()'s loss or loss_weights per output: one for all, a list in output order, or a dict by
    output name (as Keras takes them)."""
    if isinstance(value, dict) and not ({"class_name", "config"} <= set(value)):
        unknown = set(value) - set(names)
        if unknown or len(value) != len(names):
            raise ValueError(f"compile(): `{what}` names outputs {sorted(value)}; the model's outputs are "
                             f"{names}")
        return dict(value)
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ValueError(f"compile(): `{what}` has {len(value)} entries; the model has {len(names)} "
                             f"outputs {names}")
        return dict(zip(names, value, strict=True))
    return dict.fromkeys(names, value)


def _fits(label_shape: tuple[Any, ...], label_data_shape: tuple[Any, ...]) -> bool:
    want = tuple(label_shape[1:])
    have = tuple(label_data_shape[1:])
    return have in (want, want + (1,)) or have + (1,) == want

