"""Writing DOT text: quoting, attribute lists, statements and clusters.

DOT is produced here as plain text so that diagrams need no Graphviz installation; only
rendering to an image does. Strings are quoted as the DOT language defines them (only `\\"`
is an escape there); backslashes that reach a label are Graphviz's own label escapes, so
user-supplied text goes through `escape_label` (or `escape_record` inside record labels).
"""

from __future__ import annotations

from collections.abc import Mapping

Attrs = Mapping[str, object]

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


def quote(value: object) -> str:
    """A DOT quoted string; a final backslash would escape the closing quote, so a space follows it."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    text = str(value).replace('"', '\\"')
    if text.endswith("\\"):
        text += " "
    return f'"{text}"'


def attr_list(attrs: Attrs) -> str:
    return "[" + ", ".join(f"{key}={quote(value)}" for key, value in attrs.items()) + "]"


def check_rankdir(rankdir: str) -> str:
    if rankdir not in RANKDIRS:
        raise ValueError(f"rankdir must be one of {RANKDIRS}, got {rankdir!r}")
    return rankdir


class DotWriter:
    """Accumulates the statements of one `digraph`, with nested clusters."""

    def __init__(self, name: str) -> None:
        self.lines = [f"digraph {quote(name)} {{"]
        self.depth = 1

    def _emit(self, text: str) -> None:
        self.lines.append("  " * self.depth + text)

    def defaults(self, kind: str, attrs: Attrs) -> None:
        """`graph`, `node` or `edge` default attributes."""
        self._emit(f"{kind} {attr_list(attrs)};")

    def node(self, node_id: str, attrs: Attrs) -> None:
        self._emit(f"{quote(node_id)} {attr_list(attrs)};")

    def edge(self, src: str, dst: str, attrs: Attrs | None = None) -> None:
        tail = f" {attr_list(attrs)}" if attrs else ""
        self._emit(f"{quote(src)} -> {quote(dst)}{tail};")

    def begin_cluster(self, name: str, attrs: Attrs) -> None:
        self._emit(f"subgraph {quote('cluster_' + name)} {{")
        self.depth += 1
        self.defaults("graph", attrs)

    def end_cluster(self) -> None:
        self.depth -= 1
        self._emit("}")

    def text(self) -> str:
        return "\n".join([*self.lines, "}"]) + "\n"
