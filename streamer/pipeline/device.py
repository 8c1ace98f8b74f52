"""The device part of the frame stylizer: the interface `FrameStylizer` drives, written once for
NumPy/OpenCV (`cpu_device.CpuFrameDevice`) and once for torch tensors (`gpu.TorchFrameDevice`).

A device part knows how to hold a picture (an array, a tensor on a GPU), stylize heads and
backgrounds, and paste heads back; the frame stylizer decides what to make and when (the background
modes). Work may be asynchronous: a `Timing` or a `BackgroundJob` says when it is done.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np


class Timing(Protocol):
    """How long a piece of work took, readable once `done()` (on a GPU, after its stream ran it)."""

    def done(self) -> bool: ...

    @property
    def ms(self) -> float: ...


Clock = Callable[[], float]  # seconds, monotonic: `time.perf_counter`, or a fake one in tests


class Elapsed:
    """A `Timing` of work that already ran: milliseconds from `start` (a `clock` reading) to now."""

    def __init__(self, start: float, clock: Clock = time.perf_counter) -> None:
        self.ms = (clock() - start) * 1000.0

    def done(self) -> bool:
        return True


class BackgroundJob(Protocol):
    """A background being stylized: `result()` gives the stylized picture (frame size) and its timing.
    A worker thread's `concurrent.futures.Future` of that pair is one."""

    def done(self) -> bool: ...

    def result(self) -> tuple[Any, Timing]: ...


class Finished:
    """A `BackgroundJob` whose work is queued or done already."""

    def __init__(self, picture: Any, timing: Timing) -> None:
        self._result = (picture, timing)

    def done(self) -> bool:
        return self._result[1].done()

    def result(self) -> tuple[Any, Timing]:
        return self._result


class SideThread:
    """Runs work off the frame path on one thread of its own, timing it: `start(work)` returns a
    `BackgroundJob` whose result is (what `work()` returned, its `Elapsed`)."""

    def __init__(self, name: str, clock: Clock = time.perf_counter) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(1, thread_name_prefix=name)
        self._clock = clock

    def start(self, work: Callable[[], Any]) -> BackgroundJob:
        return self._pool.submit(self._timed, work)

    def _timed(self, work: Callable[[], Any]) -> tuple[Any, Elapsed]:
        start = self._clock()
        return work(), Elapsed(start, self._clock)

    def close(self) -> None:
        """Waits for work still running."""
        self._pool.shutdown(wait=True)


class FrameDevice(Protocol):
    """Where a frame's pixels live while it is stylized.

    `upload` takes the uint8 HxWx3 BGR frame; `compose` returns the finished uint8 frame. Pictures
    in between are the device's own type; background jobs return pictures of the frame's size.
    `reuse` is the temporal reuse of stylized heads the device part applies (None: every head is
    stylized on every frame).
    """

    reuse: Any  # a `pipeline.reuse.HeadReuse` (which builds on this module), or None

    def upload(self, image: np.ndarray) -> Any: ...

    def stylize_heads(
        self, picture: Any, matrices: list[np.ndarray], ids: Sequence[int], stage_ms: dict[str, float]
    ) -> tuple[Any, Timing]:
        """Start stylizing the heads at `matrices` (frame -> crop similarities) of the faces with
        track `ids`. Extra stage times (keyframes, patches) go to `stage_ms`; the returned timing is
        the heads' time on the frame's path."""
        ...

    def start_background(
        self, picture: Any, size: tuple[int, int], detached: bool, fallback: bool = False
    ) -> BackgroundJob:
        """Start stylizing the background at `size` (w, h), grown back to the frame's size.
        `detached`: no frame waits for it (it runs on the side; `done()` says when it finished);
        otherwise it is this frame's and may run beside the heads. `fallback`: with the engine's
        fallback background network."""
        ...

    def compose(
        self, canvas: Any, heads: Any, matrices: list[np.ndarray], wait_for: Timing | None
    ) -> tuple[np.ndarray, Timing]:
        """Paste `heads` onto a copy of `canvas` and download it. Waits for the heads and for the
        background work timed by `wait_for`, never for a detached background still running."""
        ...

    def close(self) -> None: ...
