"""Label text for diagrams, and a new `graphviz.Digraph`.

Diagrams are built as `graphviz.Digraph` objects, which quote identifiers and attribute values
for the DOT language (and display inline in Jupyter); making the DOT text needs no Graphviz
installation, only rendering an image does. Backslashes that reach a label are Graphviz's own
label escapes, so user-supplied text goes through `escape_label` (or `escape_record` inside
record labels) and `plain` (never read as an HTML-like label, even when it looks like `<...>`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import graphviz

RANKDIRS = ("TB", "LR", "BT", "RL")
_RECORD_SPECIALS = "{}|<>"


def escape_label(text: str) -> str:
    """Text shown literally in a label: backslashes doubled, newlines as Graphviz's centered `\\n`."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def escape_record(text: str) -> str:
    """Text shown literally in one field of a record label."""
    text = escape_label(text)
    for char in _RECORD_SPECIALS:
        text = text.replace(char, "\\" + char)
    return text


def check_rankdir(rankdir: str) -> str:
    if rankdir not in RANKDIRS:
        raise ValueError(f"rankdir must be one of {RANKDIRS}, got {rankdir!r}")
    return rankdir


def plain(value: object) -> Any:
    """An identifier or attribute value graphviz quotes as a plain string (never HTML-like).

    A final odd backslash would escape the closing quote, so a space follows it (in an
    identifier such as a layer name; labels have their backslashes doubled already).
    """
    import graphviz

    text = "true" if value is True else "false" if value is False else str(value)
    if (len(text) - len(text.rstrip("\\"))) % 2:
        text += " "
    return graphviz.nohtml(text)


def attrs(values: dict[str, object]) -> dict[str, Any]:
    return {key: plain(value) for key, value in values.items()}


def digraph(name: str, graph_attr: dict[str, object], node_attr: dict[str, object],
            edge_attr: dict[str, object] | None = None) -> graphviz.Digraph:
    """graphviz is imported on the first diagram: it costs ~40 ms that `import graphc` never pays."""
    import graphviz

    return graphviz.Digraph(plain(name), graph_attr=attrs(graph_attr), node_attr=attrs(node_attr),
                            edge_attr=attrs(edge_attr or {}))
