"""A readers-writer lock: concurrent predicts read the states together, a training step writes alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ReadWriteLock:
    """Many readers or one writer; a waiting writer holds back new readers, so training is never starved.

    Not reentrant: a thread holding either side must not ask for the other (no program call nests
    another one, so the runtime never does).
    """

    def __init__(self) -> None:
        self._turnstile = threading.Lock()  # a writer holds it from its request until its release
        self._count_lock = threading.Lock()
        self._no_readers = threading.Condition(self._count_lock)
        self._readers = 0
        self._writer_waiting = False  # set under _count_lock by a writer about to wait for the readers

    def acquire_read(self) -> None:
        self._turnstile.acquire()
        self._count_lock.acquire()
        self._readers += 1
        self._count_lock.release()
        self._turnstile.release()

    def release_read(self) -> None:
        with self._count_lock:
            self._readers -= 1
            if not self._readers and self._writer_waiting:  # notify_all costs ~0.4 us a call
                self._no_readers.notify_all()

    def acquire_write(self) -> None:
        self._turnstile.acquire()
        if self._readers:  # holding the turnstile, the count can only fall: no lock needed to see 0
            with self._count_lock:
                while self._readers:
                    self._writer_waiting = True
                    self._no_readers.wait()
                self._writer_waiting = False

    def release_write(self) -> None:
        self._turnstile.release()

    @contextmanager
    def reading(self) -> Iterator[None]:
        self.acquire_read()
        try:
            yield
        finally:
            self.release_read()

    @contextmanager
    def writing(self) -> Iterator[None]:
        self.acquire_write()
        try:
            yield
        finally:
            self.release_write()
