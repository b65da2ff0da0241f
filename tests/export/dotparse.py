"""A small parser for the DOT subset graphc writes, so tests can check diagrams structurally.

Statements: `digraph ID {`, `graph|node|edge [attrs];`, `ID [attrs];`, `ID -> ID [attrs];`,
`subgraph ID { ... }`. IDs and values are quoted strings (only `\\"` is an escape in DOT) or
bare words/numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(r'\s*(?:("(?:[^"\\]|\\.)*")|(->)|([{}\[\];=,])|([A-Za-z0-9_.#\-]+))', re.S)


@dataclass
class Cluster:
    name: str
    attrs: dict[str, str] = field(default_factory=dict)
    nodes: list[str] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)


@dataclass
class Dot:
    name: str
    graph_attrs: dict[str, str] = field(default_factory=dict)
    node_defaults: dict[str, str] = field(default_factory=dict)
    nodes: dict[str, dict[str, str]] = field(default_factory=dict)
    edges: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)

    def label_lines(self, node: str) -> list[str]:
        return self.nodes[node].get("label", node).split("\\n")

    def classes(self, node: str) -> set[str]:
        return set(self.nodes[node].get("class", "").split())

    def all_clusters(self) -> list[Cluster]:
        found: list[Cluster] = []
        stack = list(self.clusters)
        while stack:
            cluster = stack.pop(0)
            found.append(cluster)
            stack.extend(cluster.clusters)
        return found


def _tokens(text: str) -> list[str]:
    tokens = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"bad DOT at {pos}: {text[pos:pos + 30]!r}")
        tokens.append(next(g for g in match.groups() if g is not None))
        pos = match.end()
    return tokens


def _value(token: str) -> str:
    if token.startswith('"'):
        return token[1:-1].replace('\\"', '"')
    return token


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.tokens[self.pos]
        if expected is not None and token != expected:
            raise ValueError(f"expected {expected!r}, got {token!r} at token {self.pos}")
        self.pos += 1
        return token

    def attrs(self) -> dict[str, str]:
        result: dict[str, str] = {}
        if self.peek() != "[":
            return result
        self.take("[")
        while self.peek() != "]":
            key = _value(self.take())
            self.take("=")
            result[key] = _value(self.take())
            if self.peek() == ",":
                self.take(",")
        self.take("]")
        return result

    def parse(self) -> Dot:
        self.take("digraph")
        dot = Dot(_value(self.take()))
        self.take("{")
        self.body(dot, None)
        if self.peek() is not None:
            raise ValueError(f"text after the closing brace: {self.tokens[self.pos:]}")
        return dot

    def body(self, dot: Dot, cluster: Cluster | None) -> None:
        while self.peek() != "}":
            token = self.take()
            if token in ("graph", "node", "edge"):
                attrs = self.attrs()
                if token == "graph":
                    (cluster.attrs if cluster else dot.graph_attrs).update(attrs)
                elif token == "node" and cluster is None:
                    dot.node_defaults.update(attrs)
            elif token == "subgraph":
                child = Cluster(_value(self.take()))
                self.take("{")
                self.body(dot, child)
                (cluster.clusters if cluster else dot.clusters).append(child)
            else:
                name = _value(token)
                if self.peek() == "->":
                    self.take("->")
                    dot.edges.append((name, _value(self.take()), self.attrs()))
                else:
                    if name in dot.nodes:
                        raise ValueError(f"node {name!r} declared twice")
                    dot.nodes[name] = self.attrs()
                    if cluster is not None:
                        cluster.nodes.append(name)
            if self.peek() == ";":
                self.take(";")
        self.take("}")


def parse_dot(diagram: str | Any) -> Dot:
    """DOT text, or a graphviz object's `.source`."""
    return _Parser(diagram if isinstance(diagram, str) else diagram.source).parse()
