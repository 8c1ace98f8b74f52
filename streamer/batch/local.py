"""Batch work on this machine: a pool of worker processes, each keeping its engine between tasks.

Workers are spawned (a fresh interpreter each: no thread state is forked) and ignore Ctrl-C and
SIGTERM; the command tells them to stop through a shared event, so each ends its task cleanly. Frames written
are counted in shared memory for the progress bar. A worker that dies breaks the pool: `result`
raises `WorkerLost` for every task it held, and the caller restarts the pool and tries again.
"""

from __future__ import annotations

import multiprocessing
import signal
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from streamer.batch.work import Task, TaskResult, run_task


class WorkerLost(Exception):
    """The process running a task died (killed, out of memory) before it returned."""


_frames: Any = None
_stop: Any = None


def _init_worker(frames: Any, stop: Any) -> None:
    global _frames, _stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the command stops them through `stop`
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _frames, _stop = frames, stop


def _count(n: int) -> None:
    with _frames.get_lock():
        _frames.value += n


def _run_in_worker(task: Task) -> TaskResult:
    return run_task(task, _count, _stop)


class LocalExecutor:
    """`workers` processes on this machine. Retrying after a lost worker is left to the caller."""

    retries_itself = False

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.capacity = workers  # tasks handed out at once: the manifest's "running" stays true
        self.where = f"this machine, {workers} worker{'s' * (workers != 1)}"
        self._context = multiprocessing.get_context("spawn")
        self._frames = self._context.Value("q", 0)
        self._stop = self._context.Event()
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.workers, mp_context=self._context, initializer=_init_worker, initargs=(self._frames, self._stop)
        )

    def submit(self, task: Task) -> Future:
        return self._pool.submit(_run_in_worker, task)

    def wait(self, handles: list[Future], timeout: float) -> list[Future]:
        done, _ = wait(handles, timeout, return_when=FIRST_COMPLETED)
        return list(done)

    def result(self, handle: Future) -> TaskResult:
        try:
            return handle.result()
        except BrokenProcessPool as exc:
            raise WorkerLost("a worker process died") from exc

    def restart(self) -> None:
        """A fresh pool after a worker died (the broken one cannot take tasks)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()

    def frames_done(self) -> int:
        return int(self._frames.value)

    def stop(self, handles: list[Future]) -> None:
        """Ask running tasks to end now (they keep nothing of their item)."""
        self._stop.set()
        for handle in handles:
            handle.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
