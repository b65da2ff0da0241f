"""Rendering DOT text to an image through the `graphviz` package (which runs Graphviz's `dot`), or
writing the text itself; `source` gives the object notebooks display inline."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from graphc_runtime import atomic

if TYPE_CHECKING:
    import graphviz

IMAGE_FORMATS = ("svg", "png", "pdf")
TEXT_FORMATS = ("dot", "gv")
INSTALL_HINT = ("install Graphviz with `apt-get install graphviz` (Debian/Ubuntu), `dnf install graphviz` "
                "(Fedora) or `brew install graphviz` (macOS), or write a .dot file, which needs no Graphviz")


class GraphvizNotFoundError(RuntimeError):
    """The `dot` program is needed to render an image and is not on PATH."""


def render_format(path: Path, format: str | None) -> str:
    """The format asked for, else the file suffix, else png (as keras.utils.plot_model does)."""
    fmt = (format or path.suffix.lstrip(".") or "png").lower()
    if fmt not in IMAGE_FORMATS + TEXT_FORMATS:
        source = "`format`" if format else f"the suffix of {str(path)!r}"
        raise ValueError(f"render: {source} must name one of {IMAGE_FORMATS + TEXT_FORMATS}, got {fmt!r}")
    return fmt


def has_dot() -> bool:
    return shutil.which("dot") is not None


def render(diagram: str | graphviz.Digraph, path: str | Path, format: str | None = None) -> Path:
    """Write a diagram (DOT text or a graphviz object) to `path` as svg/png/pdf (needs the `dot`
    program) or as DOT text (.dot, .gv)."""
    dot_text = diagram if isinstance(diagram, str) else diagram.source
    out = Path(path)
    fmt = render_format(out, format)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt in TEXT_FORMATS:
        atomic.write_text(out, dot_text)
        return out
    import graphviz  # on first render: importing it costs ~40 ms that drawing DOT text never needs

    try:
        image = source(dot_text).pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise GraphvizNotFoundError(
            f"rendering {str(out)!r} as {fmt} needs the Graphviz `dot` program, which is not on PATH: "
            f"{INSTALL_HINT}") from None
    except graphviz.CalledProcessError as error:
        detail = (error.stderr or b"").decode(errors="replace").strip()
        raise RuntimeError(f"dot failed to render {str(out)!r} (exit status {error.returncode}): "
                           f"{detail}") from None
    atomic.write_bytes(out, image)
    return out


def source(dot_text: str) -> graphviz.Source:
    """The diagram as a graphviz.Source: Jupyter shows it inline (SVG), `.render()` writes files."""
    import graphviz

    return graphviz.Source(dot_text)
