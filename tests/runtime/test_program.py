"""Program calls: validation before native code runs, fresh outputs, bound states, status errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from graphc_runtime import Library, StateStore
from graphc_runtime.buffers import data_address

from graphc.codegen import build_library
from graphc.ir import Graph, TensorType
from graphc.ops import builders as b


def _graph() -> Graph:
    g = Graph("affine")
    x = g.input("x", TensorType((None, 3)))
    scale = g.input("scale", TensorType((3,)))
    w = g.state("w", TensorType((3,)))
    g.outputs["y"] = x * scale + w
    g.updates["w"] = w + 1.0
    return g


def _free() -> Graph:
    g = Graph("free")
    x = g.input("x", TensorType((2, None)))
    g.outputs["total"] = b.reduce_sum(x)
    return g


@pytest.fixture(scope="module")
def so_path(tmp_path_factory: pytest.TempPathFactory):
    return build_library({"affine": _graph(), "free": _free()}, tmp_path_factory.mktemp("rt"), name="rt")


@pytest.fixture
def library(so_path) -> Library:
    library = Library.load(so_path)
    library.bind(StateStore(library.state_specs()))
    return library


def test_files_and_manifest(so_path) -> None:
    manifest = json.loads(so_path.with_name("rt.manifest.json").read_text())
    assert so_path.name == "librt.so"
    assert so_path.with_name("rt_affine.o").is_file() and so_path.with_name("rt_free.o").is_file()
    entry = manifest["programs"]["affine"]
    assert entry["symbol"] == "graphc_affine"
    assert [(a["kind"], a["name"], a["shape"]) for a in entry["args"]] == [
        ("input", "x", [None, 3]), ("input", "scale", [3]), ("state", "w", [3]), ("output", "y", [None, 3])]
    assert set(manifest["target"]) == {"triple", "cpu", "features"}
    assert Library.load(so_path, manifest).manifest == manifest


def test_call_infers_the_batch_and_returns_fresh_outputs(library) -> None:
    program = library.programs["affine"]
    x = np.arange(6, dtype=np.float64).reshape(2, 3)
    first = program(x=x, scale=[1, 2, 3])["y"]
    second = program(x=x, scale=[1, 2, 3])["y"]
    assert first is not second and first.dtype == np.float32
    np.testing.assert_array_equal(first, x * [1, 2, 3])
    np.testing.assert_array_equal(second, x * [1, 2, 3] + 1.0)
    assert library.programs["free"](x=np.ones((2, 7)))["total"] == 14.0


def test_non_contiguous_inputs_are_copied(library) -> None:
    x = np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2].T
    out = library.programs["free"](x=x)["total"]
    assert out == x.sum()


def test_read_only_inputs_are_read_in_place(library) -> None:
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    x.flags.writeable = False
    assert data_address(x) == x.ctypes.data
    assert library.programs["free"](x=x)["total"] == 15.0
    assert library.programs["free"](x=np.broadcast_to(np.float32(2), (2, 5)))["total"] == 20.0


def test_scalar_inputs_take_any_number_and_refuse_arrays(tmp_path) -> None:
    g = Graph("scaled")
    g.outputs["y"] = g.input("x", TensorType((None, 2))) * g.input("rate", TensorType(()))
    program = Library.load(build_library({"scaled": g}, tmp_path)).programs["scaled"]
    x = np.array([[1.0, -2.0]], np.float32)
    for rate in (0.1, 3, np.float32(0.1), np.float64(0.1), np.array(0.1), np.array(0.1, np.float16)):
        np.testing.assert_array_equal(program(x=x, rate=rate)["y"], x * np.float32(rate))
    with pytest.raises(ValueError, match=r"input 'rate' expected shape \(\), got \(2,\)"):
        program(x=x, rate=np.zeros(2))


def test_data_address_is_the_first_element() -> None:
    array = np.zeros((4, 4), np.float32)
    assert data_address(array) == array.ctypes.data
    assert data_address(array[1:]) == array.ctypes.data + 16


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"x": np.zeros((2, 4)), "scale": np.zeros(3)}, r"'x' expected shape \(2, 3\), got \(2, 4\)"),
        ({"x": np.zeros((2, 3)), "scale": np.zeros(4)}, r"'scale' expected shape \(3,\), got \(4,\)"),
        ({"x": np.zeros(3), "scale": np.zeros(3)}, r"'x' expected shape \(1, 3\), got \(3,\)"),
        ({"x": np.zeros((2, 3))}, "missing input 'scale'"),
        ({"x": np.zeros((2, 3)), "scale": np.zeros(3), "bias": 1.0}, "unknown input 'bias'"),
        ({"batch": 3, "x": np.zeros((2, 3)), "scale": np.zeros(3)},
         r"'x' expected shape \(3, 3\), got \(2, 3\)"),
        ({"x": np.zeros((0, 3)), "scale": np.zeros(3)}, "batch must be >= 1, got 0"),
        ({"batch": -2, "x": np.zeros((2, 3)), "scale": np.zeros(3)}, "batch must be >= 1, got -2"),
    ],
)
def test_bad_calls_raise_before_native_code_runs(library, kwargs, pattern: str) -> None:
    program = library.programs["affine"]
    before = program._template[2]
    frames = len(program._frames)
    with pytest.raises(ValueError, match=pattern):
        program(**kwargs)
    state_after = np.asarray(program._bound[0])
    assert (state_after == 0).all() and program._template[2] == before
    assert len(program._frames) == frames  # refused before a call frame was taken


def test_states_must_be_bound(so_path) -> None:
    library = Library.load(so_path)
    with pytest.raises(RuntimeError, match="bind"):
        library.programs["affine"](x=np.zeros((1, 3)), scale=np.zeros(3))
    with pytest.raises(KeyError, match="'w'"):
        library.bind(StateStore([]))


def test_nonzero_status_raises(library, monkeypatch) -> None:
    program = library.programs["free"]
    monkeypatch.setattr(program, "_fn", lambda batch, argv, workspace: 7)
    with pytest.raises(RuntimeError, match="status 7"):
        program(x=np.ones((2, 2)))


def test_missing_files_are_reported(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="libnone.so"):
        Library.load(tmp_path / "libnone.so")
