"""The LLVM worker queue: children give the in-process object, waiting threads help, failures fall back."""

from __future__ import annotations

import threading

import pytest

from graphc.codegen import compile_programs, llvm_workers
from graphc.codegen.target import FULL, LIGHT, Pipeline, compile_ir, target_spec
from graphc.ir import Graph, TensorType
from graphc.ops import builders as b


def _ir(width: int) -> str:
    g = Graph("g")
    x, w = g.input("x", TensorType((None, width))), g.input("w", TensorType((width, 3)))
    g.outputs["y"] = b.tanh(b.matmul(x, w))
    return compile_programs({"g": g}).llvm_ir["g"]


def test_a_worker_gives_the_in_process_object() -> None:
    spec, text = target_spec(), _ir(5)
    for hidden, pipeline in ((False, FULL), (True, LIGHT), (False, Pipeline(1, True, 3))):
        queued = llvm_workers.submit(text, spec, hidden=hidden, pipeline=pipeline)
        assert llvm_workers.wait(queued) == compile_ir(text, spec, hidden=hidden, pipeline=pipeline)


def test_many_jobs_all_finish_with_their_own_objects() -> None:
    spec = target_spec()
    texts = [_ir(width) for width in range(3, 9)]
    jobs = [llvm_workers.submit(text, spec) for text in texts]
    for text, job in zip(texts, jobs, strict=True):
        assert llvm_workers.wait(job) == compile_ir(text, spec)


def test_waiting_thread_compiles_queued_jobs_when_no_child_can(monkeypatch: pytest.MonkeyPatch) -> None:
    queue = llvm_workers._Queue()
    monkeypatch.setattr(llvm_workers, "_current", lambda: queue)
    monkeypatch.setattr(llvm_workers, "max_workers", lambda: 0)  # no feeder thread ever starts
    spec, text = target_spec(), _ir(6)
    job = llvm_workers.submit(text, spec)
    assert not job.done() and len(queue.pending) == 1
    assert llvm_workers.wait(job) == compile_ir(text, spec)
    assert not queue.pending


def test_a_child_that_dies_leaves_its_job_to_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    queue = llvm_workers._Queue()
    monkeypatch.setattr(llvm_workers, "_current", lambda: queue)
    original = llvm_workers._Child.compile

    def die_first(child: llvm_workers._Child, job: llvm_workers._Job) -> bytes | None:
        child.process.kill()
        child.process.wait()
        return original(child, job)

    monkeypatch.setattr(llvm_workers._Child, "compile", die_first)
    spec, text = target_spec(), _ir(7)
    assert llvm_workers.wait(llvm_workers.submit(text, spec)) == compile_ir(text, spec)
    queue.close()


def test_invalid_ir_raises_the_llvm_error_to_the_waiting_thread() -> None:
    job = llvm_workers.submit("define void @f( {", target_spec())
    with pytest.raises(RuntimeError, match="LLVM IR parsing error"):
        llvm_workers.wait(job)


def test_a_forked_child_gets_its_own_queue() -> None:
    import os

    spec, text = target_spec(), _ir(5)
    llvm_workers.wait(llvm_workers.submit(text, spec))  # the parent's queue has a child compiler
    parent_queue = llvm_workers._current()
    pid = os.fork()
    if pid == 0:  # the child: its own queue, its own compiler, the same object
        ok = llvm_workers._current() is not parent_queue
        ok = ok and llvm_workers.wait(llvm_workers.submit(text, spec)) == compile_ir(text, spec)
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_start_runs_the_children_before_any_job_and_only_once(monkeypatch: pytest.MonkeyPatch) -> None:
    queue = llvm_workers._Queue()
    monkeypatch.setattr(llvm_workers, "_current", lambda: queue)
    monkeypatch.setattr(llvm_workers, "max_workers", lambda: 1)
    llvm_workers.start()
    llvm_workers.start()
    for _ in range(500):  # the feeder starts its child on its own thread
        with queue.cond:
            if queue.children:
                break
        threading.Event().wait(0.01)
    assert queue.feeders == 1 and len(queue.children) == 1 and not queue.pending
    child = queue.children[0]
    spec, text = target_spec(), _ir(4)
    assert llvm_workers.wait(llvm_workers.submit(text, spec)) == compile_ir(text, spec)
    assert queue.feeders == 1 and queue.children == [child]
    queue.close()


def test_a_handed_over_job_is_with_a_child_when_submit_returns(monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread about to go on running Python waits (lock released) for an idle child's feeder to take
    the job; without an idle feeder it returns at once (the job queued)."""
    queue = llvm_workers._Queue()
    monkeypatch.setattr(llvm_workers, "_current", lambda: queue)
    monkeypatch.setattr(llvm_workers, "HAND_OVER_SECONDS", 30.0)  # a loaded machine's feeder may be slow
    queue.start()
    for _ in range(1000):
        if queue.idle == llvm_workers.max_workers():
            break
        threading.Event().wait(0.005)
    spec, text = target_spec(), _ir(6)
    job = llvm_workers.submit(text, spec, hand_over=True)
    assert job.running() or job.done()
    assert llvm_workers.wait(job) == compile_ir(text, spec)
    monkeypatch.setattr(queue, "idle", 0)
    monkeypatch.setattr(queue, "submit", lambda job: False)  # queued, no feeder waiting: no wait
    assert not llvm_workers.submit(text, spec, hand_over=True).running()
    queue.close()

