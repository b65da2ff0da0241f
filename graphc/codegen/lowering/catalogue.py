"""Importing this module registers the lowering of every op."""

from graphc.codegen.lowering import elementwise, gemm, indexing, layout, random, reduce, sources

MODULES = (sources, elementwise, reduce, gemm, layout, random, indexing)
