"""The graphc runtime: loads a compiled library and calls its programs. Needs only numpy."""

from graphc_runtime.library import Library, Program
from graphc_runtime.spec import ArgSpec
from graphc_runtime.store import StateStore

__all__ = ["ArgSpec", "Library", "Program", "StateStore"]
