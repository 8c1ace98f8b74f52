"""Batch work on Ray: each video (or part of one) is a Ray task.

`--ray` starts a local Ray instance; `--ray ADDRESS` joins a cluster as `ray.init(address=...)`
does. Inputs and outputs must be paths every node can reach (a shared filesystem), and every node
needs streamer installed in the same environment.

Each task asks for the CPUs its job uses (the engine's threads times the frames a job stylizes at
once) and one GPU when the style runs on a GPU. Ray retries a task whose worker died (killed, out of
memory) up to `MAX_RETRIES` times; a task that fails for its input returns that as its result and is
not retried. Frames written are counted by a small actor for the progress bar. Stopping cancels the
running tasks (Ray raises KeyboardInterrupt in them, and each ends its job cleanly).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from streamer.batch.local import WorkerLost
from streamer.batch.work import Task, TaskResult, run_task
from streamer.errors import DeviceUnavailableError

MAX_RETRIES = 2
COUNT_EVERY_S = 0.5


class _FrameCounter:
    """Frames written by every task, for the progress bar."""

    def __init__(self) -> None:
        self.frames = 0

    def add(self, n: int) -> None:
        self.frames += n

    def total(self) -> int:
        return self.frames


def _run_on_ray(task: Task, counter: Any) -> TaskResult:
    pending, last = 0, time.monotonic()

    def on_frames(n: int) -> None:
        nonlocal pending, last
        pending += n
        if time.monotonic() - last >= COUNT_EVERY_S:
            counter.add.remote(pending)
            pending, last = 0, time.monotonic()

    try:
        return run_task(task, on_frames, threading.Event())  # Ray cancels a task itself
    finally:
        if pending:
            counter.add.remote(pending)


class RayExecutor:
    """Tasks on a Ray cluster (or a local instance); Ray itself retries tasks whose worker died."""

    retries_itself = True

    def __init__(self, address: str | None, cpus_per_task: int, device: str) -> None:
        try:
            import ray
        except ImportError as exc:
            raise DeviceUnavailableError(
                "--ray needs Ray: pip install 'ray==2.60.0' (or install streamer with its [batch] extra)"
            ) from exc
        self._ray: Any = ray
        self._owned = not ray.is_initialized()
        if self._owned:
            try:
                ray.init(
                    address=address or "local",
                    include_dashboard=False,
                    logging_level=logging.WARNING,
                    configure_logging=True,
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise DeviceUnavailableError(f"cannot join the Ray cluster at {address}: {exc}") from exc
        resources = ray.cluster_resources()
        gpus = 1 if device == "cuda" or (device == "auto" and resources.get("GPU", 0) > 0) else 0
        cpus = min(cpus_per_task, max(1, int(resources.get("CPU", 1))))
        self.capacity = max(1, int(resources.get("CPU", 1) // cpus)) * 2
        cluster = address or "local instance"
        self.where = f"Ray ({cluster}: {int(resources.get('CPU', 0))} CPUs, {int(resources.get('GPU', 0))} GPUs)"
        self._counter: Any = ray.remote(num_cpus=0)(_FrameCounter).remote()
        self._remote = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=MAX_RETRIES, retry_exceptions=False)(
            _run_on_ray
        )

    def submit(self, task: Task) -> Any:
        return self._remote.remote(task, self._counter)

    def wait(self, handles: list[Any], timeout: float) -> list[Any]:
        done, _ = self._ray.wait(handles, num_returns=len(handles), timeout=timeout)
        if not done:  # ray.wait with a timeout returns what is ready by then
            return []
        return list(done)

    def result(self, handle: Any) -> TaskResult:
        from ray.exceptions import RayError, TaskCancelledError

        try:
            return self._ray.get(handle)
        except TaskCancelledError as exc:
            raise KeyboardInterrupt from exc
        except RayError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise WorkerLost(f"{type(exc).__name__} after {MAX_RETRIES} retries: {first}") from exc

    def restart(self) -> None:
        """Nothing to do: Ray replaces dead workers itself."""

    def frames_done(self) -> int:
        return int(self._ray.get(self._counter.total.remote()))

    def stop(self, handles: list[Any]) -> None:
        for handle in handles:
            self._ray.cancel(handle)

    def close(self) -> None:
        if self._owned:
            self._ray.shutdown()
