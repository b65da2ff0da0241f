"""The graphc runtime: loads a compiled library and calls its programs. Needs only numpy."""

from graphc_runtime.library import Library, Program
from graphc_runtime.spec import ArgSpec
from graphc_runtime.store import StateStore
from graphc_runtime.threads import get_num_threads, set_num_threads

__all__ = ["ArgSpec", "Library", "Program", "StateStore", "get_num_threads", "set_num_threads"]
