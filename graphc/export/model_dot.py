"""`model_to_dot` and `plot_model`: one box per layer, as keras.utils draws a model.

The labels follow Keras's record layout: `name|Class`, then the activation, the dtype and
the `input:`/`output:` shape table when asked for. Node ids are the (unique) layer names.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from graphc.export.dot import check_rankdir, digraph, escape_record, plain
from graphc.export.render import render
from graphc.frontend import activations

if TYPE_CHECKING:
    import graphviz

    from graphc.frontend.layers.base import Layer
    from graphc.frontend.models import Model


def _shape(shape: Sequence[int | None]) -> str:
    return str(tuple(shape))


Shape = tuple[int | None, ...]


def _layer_rows(model: Model) -> list[tuple[Layer, list[Shape], Shape, list[str]]]:
    """(layer, input shapes, output shape, names of the layers feeding it) in drawing order."""
    rows = []
    for tensor in model.inputs:
        rows.append((tensor.layer, [tensor.shape], tensor.shape, []))
    for layer, in_tensors, out in model.operations:
        rows.append((layer, [t.shape for t in in_tensors], out.shape, [t.layer.name for t in in_tensors]))
    return rows


def _activation_name(layer: Layer) -> str | None:
    fn = getattr(layer, "activation", None)
    return None if fn is None else activations.serialize(fn)


def model_to_dot(model: Model, show_shapes: bool = False, show_dtype: bool = False,
                 show_layer_names: bool = True, rankdir: str = "TB", expand_nested: bool = False,
                 dpi: int = 96, show_layer_activations: bool = False) -> graphviz.Digraph:
    """The model's layer graph as a graphviz.Digraph, as keras.utils.model_to_dot returns a pydot graph
    (`.source` is the DOT text); graphc models do not nest, so `expand_nested` changes nothing."""
    check_rankdir(rankdir)
    if not getattr(model, "built", False):
        raise ValueError(f"model {getattr(model, 'name', model)!r} has no input shape yet, so it has no "
                         "layer graph to draw: give the first layer an input_shape or start from Input()")
    if isinstance(dpi, bool) or not isinstance(dpi, int) or dpi <= 0:
        raise ValueError(f"model_to_dot: `dpi` must be a positive int, got {dpi!r}")
    dot = digraph(model.name, {"rankdir": rankdir, "concentrate": True, "dpi": dpi},
                  {"shape": "record", "fontname": "Helvetica", "fontsize": 11})
    for layer, in_shapes, out_shape, _ in _layer_rows(model):
        label = escape_record(type(layer).__name__)
        activation = _activation_name(layer) if show_layer_activations else None
        if activation is not None:
            label = f"{{{label}|{escape_record(activation)}}}"
        if show_layer_names:
            label = f"{escape_record(layer.name)}|{label}"
        if show_dtype:
            label = f"{label}|{escape_record('float32')}"
        if show_shapes:
            inputs = escape_record(", ".join(_shape(s) for s in in_shapes))
            label = f"{{{label}}}|{{input:|output:}}|{{{{{inputs}}}|{{{escape_record(_shape(out_shape))}}}}}"
        dot.node(plain(layer.name), label=plain(label))
    for layer, _, _, sources in _layer_rows(model):
        for source in sources:
            dot.edge(plain(source), plain(layer.name))
    return dot


def plot_model(model: Model, to_file: str | Path = "model.png", show_shapes: bool = False,
               show_dtype: bool = False, show_layer_names: bool = True, rankdir: str = "TB",
               expand_nested: bool = False, dpi: int = 96,
               show_layer_activations: bool = False) -> graphviz.Digraph:
    """Draw the model into `to_file` (.png/.svg/.pdf need Graphviz's `dot`, .dot writes the text);
    returns the diagram as a graphviz.Digraph, which a notebook cell displays inline, as Keras's
    plot_model returns an image there."""
    diagram = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype,
                        show_layer_names=show_layer_names, rankdir=rankdir, expand_nested=expand_nested,
                        dpi=dpi, show_layer_activations=show_layer_activations)
    render(diagram.source, to_file)
    return diagram
