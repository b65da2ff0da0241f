"""Importing this module registers every primitive op."""

from graphc.ops import contraction, elementwise, indexing, layout, random, reduction, sources

MODULES = (sources, elementwise, reduction, contraction, layout, random, indexing)
