"""A queue of LLVM compile jobs served by child processes that live as long as this one.

llvmlite serializes every LLVM call behind one lock, so modules compile side by side only in
other processes. A child Python started per module cost ~0.1 s of CPU each (interpreter start,
llvmlite import), a quarter of a cold build's work on two cores: these children start on
first use, one per CPU but one, and take job after job in the order submitted (callers submit
the longest first), or as soon as a build knows it will compile (`start`: a child's start, ~0.1 s
of CPU, then overlaps the build's own Python work instead of delaying its first job). The thread
that builds compiles too: its own last module, then, while it
waits for a result with `wait`, jobs still queued, so no core idles at the end of a build
while a job waits for a child. A child that cannot start or answer is dropped; its job
compiles in this process instead.

The child is target.py run as a script with `--serve`: requests on its stdin, one JSON header
line then the IR texts' bytes (a job may link several modules); replies on its stdout, one JSON
header line then the object bytes.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Collection, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import IO

from graphc.codegen import target
from graphc.codegen.target import FULL, Pipeline, TargetSpec, compile_ir


def max_workers() -> int:
    """One child per CPU but one: the thread that waits for the build compiles too."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cpus - 1)


@dataclass
class _Job:
    texts: tuple[str, ...]
    spec: TargetSpec
    hidden: bool
    pipeline: Pipeline
    keep: frozenset[str] | None
    future: Future[bytes] = field(default_factory=Future)

    def run_here(self) -> None:
        try:
            self.future.set_result(compile_ir(self.texts, self.spec, hidden=self.hidden,
                                              pipeline=self.pipeline, keep=self.keep))
        except BaseException as error:  # noqa: BLE001 - handed to whoever waits on the job
            self.future.set_exception(error)


class _Child:
    """One child compiler and its pipes."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, target.__file__, "--serve"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.broken = False

    def compile(self, job: _Job) -> bytes | None:
        """The object file, or None if LLVM refused the module or the child failed (then `broken`)."""
        texts = [text.encode() for text in job.texts]
        pipeline = job.pipeline
        header = dict(job.spec.as_dict(), hidden=job.hidden, speed_level=pipeline.speed_level,
                      vectorize=pipeline.vectorize, codegen_level=pipeline.codegen_level,
                      keep=None if job.keep is None else sorted(job.keep),
                      sizes=[len(text) for text in texts])
        stdin: IO[bytes] = self.process.stdin
        stdout: IO[bytes] = self.process.stdout
        try:
            stdin.write(json.dumps(header).encode() + b"\n" + b"".join(texts))
            stdin.flush()
            reply = json.loads(stdout.readline())
            body = stdout.read(reply["size"]) if reply.get("ok") else b""
        except (OSError, ValueError, KeyError, TypeError):
            self.broken = True
            return None
        if reply.get("ok") and len(body) != reply["size"]:
            self.broken = True
        return body if reply.get("ok") and not self.broken else None

    def close(self) -> None:
        for pipe in (self.process.stdin, self.process.stdout):
            try:
                pipe.close()  # the child exits at the end of its input
            except OSError:
                pass


class _Queue:
    """Pending jobs, and one feeder thread per child taking them in order."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.pending: deque[_Job] = deque()
        self.feeders = 0
        self.idle = 0  # feeders waiting for a job
        self.children: list[_Child] = []
        self.pid = os.getpid()

    def start(self) -> None:
        """Every feeder and its child, unless running already."""
        with self.cond:
            while self.feeders < max_workers():
                self._add_feeder()

    def submit(self, job: _Job) -> bool:
        """Queue the job; returns whether a feeder is waiting for it."""
        with self.cond:
            self.pending.append(job)
            if self.feeders < max_workers():
                self._add_feeder()
            self.cond.notify()
            return self.idle > 0

    def _add_feeder(self) -> None:
        self.feeders += 1
        threading.Thread(target=self._feed, name="graphc-llvm", daemon=True).start()

    def take(self, block: bool) -> _Job | None:
        with self.cond:
            while block and not self.pending:
                self.idle += 1
                try:
                    self.cond.wait()
                finally:
                    self.idle -= 1
            return self.pending.popleft() if self.pending else None

    def _feed(self) -> None:
        child = self._start_child()  # before the first job: its start overlaps the job's preparation
        while True:
            job = self.take(block=True)
            if not job.future.set_running_or_notify_cancel():
                continue
            if child is None:
                child = self._start_child()
            code = child.compile(job) if child is not None else None
            if code is not None:
                job.future.set_result(code)
                continue
            if child is not None and child.broken:
                child.close()
                child = None
            job.run_here()  # compiles it after all, or raises LLVM's own error to the waiting thread

    def _start_child(self) -> _Child | None:
        try:
            child = _Child()
        except OSError:
            return None
        with self.cond:
            self.children.append(child)
        return child

    def close(self) -> None:
        with self.cond:
            children, self.children = self.children, []
        for child in children:
            child.close()


_queue = _Queue()
_queue_lock = threading.Lock()


def _current() -> _Queue:
    """This process's queue: a forked child must not share its parent's pipes and threads."""
    global _queue
    with _queue_lock:
        if _queue.pid != os.getpid():
            _queue = _Queue()
        return _queue


def start() -> None:
    """Start the children now, for a build about to compile (a no-op once they run)."""
    _current().start()


HAND_OVER_SECONDS = 0.02  # a feeder slower than this to take a job is left to it


def submit(ir_text: str | Sequence[str], spec: TargetSpec, *, hidden: bool = False,
           pipeline: Pipeline = FULL, keep: Collection[str] | None = None, hand_over: bool = False
           ) -> Future[bytes]:
    """compile_ir's object file for this IR, compiled by a child (or by a thread in `wait`).

    hand_over: if a child is idle, return once its feeder has taken the job. A thread that goes on
    running Python (emitting the next module) holds the interpreter's lock, which the feeder waits
    for up to the switch interval (5 ms) before it can send the job; here this thread sleeps instead.
    """
    texts = (ir_text,) if isinstance(ir_text, str) else tuple(ir_text)
    job = _Job(texts, spec, hidden, pipeline, None if keep is None else frozenset(keep))
    idle = _current().submit(job)
    deadline = time.monotonic() + HAND_OVER_SECONDS
    while hand_over and idle and not job.future.running() and not job.future.done() \
            and time.monotonic() < deadline:
        time.sleep(0.0002)
    return job.future


def wait(future: Future[bytes]) -> bytes:
    """The job's object file; until it is ready, this thread compiles jobs still queued."""
    queue = _current()
    while not future.done():
        job = queue.take(block=False)
        if job is None:
            break
        if job.future.set_running_or_notify_cancel():
            job.run_here()
    return future.result()


atexit.register(lambda: _current().close())
