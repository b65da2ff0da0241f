"""model_to_dot / plot_model: one record node per layer, Keras's label layout, rendering by file suffix."""

from __future__ import annotations

import graphviz
import pytest

from graphc.export import GraphvizNotFoundError, has_dot, render
from graphc.keras import Input, Model
from graphc.keras.layers import Activation, Dense
from graphc.keras.models import Sequential
from graphc.keras.utils import model_to_dot, plot_model
from tests.export.dotparse import parse_dot
from tests.export.models import small_cnn, small_mlp

needs_dot = pytest.mark.skipif(not has_dot(), reason="Graphviz `dot` is not installed")
MAGIC = {"svg": b"<?xml", "png": b"\x89PNG", "pdf": b"%PDF"}


def test_one_record_per_layer_named_and_classed_with_edges_in_order() -> None:
    model = small_mlp(dropout=0.5)
    dot = parse_dot(model_to_dot(model))
    names = [model.inputs[0].layer.name] + [layer.name for layer in model.layers]
    assert list(dot.nodes) == names
    assert dot.node_defaults["shape"] == "record"
    assert dot.graph_attrs == {"rankdir": "TB", "concentrate": "true", "dpi": "96"}
    classes = ["InputLayer", "Dense", "Dropout", "Dense"]
    assert [dot.nodes[n]["label"] for n in names] == [f"{n}|{c}" for n, c in zip(names, classes, strict=True)]
    assert [(a, c) for a, c, _ in dot.edges] == list(zip(names, names[1:], strict=False))


def test_image_model_draws_one_record_per_layer() -> None:
    model = small_cnn()
    dot = parse_dot(model_to_dot(model))
    classes = [dot.nodes[layer.name]["label"].split("|")[1] for layer in model.layers]
    assert classes == ["Conv2D", "BatchNormalization", "MaxPooling2D", "Flatten", "Dense"]


def test_shapes_dtype_and_activations_follow_the_keras_label_layout() -> None:
    inputs = Input(shape=(5,), name="features")
    hidden = Dense(7, activation="tanh", name="hidden")(inputs)
    outputs = Activation("sigmoid", name="squash")(hidden)
    model = Model(inputs, outputs, name="functional_model")
    dot = parse_dot(model_to_dot(model, show_shapes=True, show_dtype=True, show_layer_activations=True,
                                 rankdir="LR", dpi=200))
    assert dot.name == "functional_model" and dot.graph_attrs["rankdir"] == "LR"
    assert dot.graph_attrs["dpi"] == "200"
    assert dot.nodes["features"]["label"] == (
        "{features|InputLayer|float32}|{input:|output:}|{{(None, 5)}|{(None, 5)}}")
    assert dot.nodes["hidden"]["label"] == (
        "{hidden|{Dense|tanh}|float32}|{input:|output:}|{{(None, 5)}|{(None, 7)}}")
    assert dot.nodes["squash"]["label"] == (
        "{squash|{Activation|sigmoid}|float32}|{input:|output:}|{{(None, 7)}|{(None, 7)}}")
    bare = parse_dot(model_to_dot(model, show_layer_names=False))
    assert bare.nodes["hidden"]["label"] == "Dense"


def test_unbuilt_models_and_bad_arguments_raise_clear_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match="input shape"):
        model_to_dot(Sequential([Dense(3)]))
    with pytest.raises(ValueError, match="rankdir"):
        model_to_dot(small_mlp(), rankdir="sideways")
    with pytest.raises(ValueError, match="dpi"):
        model_to_dot(small_mlp(), dpi=0)
    with pytest.raises(ValueError, match="suffix.*'bmp'"):
        plot_model(small_mlp(), to_file=tmp_path / "model.bmp")


def test_dot_suffix_writes_the_text_without_graphviz(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", "")
    model = small_mlp()
    plot_model(model, to_file=tmp_path / "model.dot", show_shapes=True)
    assert (tmp_path / "model.dot").read_text() == model_to_dot(model, show_shapes=True).source


def test_images_without_graphviz_say_how_to_install_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(GraphvizNotFoundError, match="apt-get install graphviz"):
        plot_model(small_mlp(), to_file=tmp_path / "model.png")
    assert not (tmp_path / "model.png").exists()


@needs_dot
@pytest.mark.parametrize("fmt", ["svg", "png", "pdf"])
def test_plot_model_renders_the_format_of_the_suffix(tmp_path, fmt: str) -> None:
    path = tmp_path / f"model.{fmt}"
    plot_model(small_mlp(), to_file=path, show_shapes=True)
    assert path.read_bytes().startswith(MAGIC[fmt])


@needs_dot
def test_svg_draws_every_layer(tmp_path) -> None:
    model = small_mlp()
    svg = render(model_to_dot(model), tmp_path / "layers.svg").read_text()
    for layer in model.layers:
        assert f"<title>{layer.name}</title>" in svg


@needs_dot
def test_render_reports_graphviz_errors(tmp_path) -> None:
    with pytest.raises(RuntimeError, match="dot failed"):
        render("digraph { a -> }", tmp_path / "broken.svg")


@needs_dot
def test_plot_model_returns_a_diagram_a_notebook_shows_inline(tmp_path) -> None:
    model = small_mlp()
    shown = plot_model(model, to_file=tmp_path / "model.dot", show_shapes=True)
    assert isinstance(shown, graphviz.Digraph)
    assert shown.source == model_to_dot(model, show_shapes=True).source
    bundle = shown._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith("<?xml") and "<svg" in bundle["image/svg+xml"]
