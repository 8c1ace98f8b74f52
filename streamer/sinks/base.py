"""`Sink`: a live output (a virtual camera, a window, a recording, a stream push, a browser peer).

A sink opens with the frame size and rate, writes frames one at a time on a thread of its own, and
closes. It knows nothing of links or threads: the pipeline feeds each sink through its own link and
accounts for what it drops. A sink that cannot go on raises (`DeviceUnavailableError` for a device
or peer that went away); the pipeline then stops that sink alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from streamer.frame import Frame


class Sink(Protocol):
    name: str
    queue_frames: int  # how many frames may wait for it (1: only the latest)

    def open(self, width: int, height: int, fps: float) -> None: ...

    def write(self, frame: Frame) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class SteeringSink(Protocol):
    """A sink that also steers the run and shows its figures (the preview window): `attach` hands it
    the run's controls and a function returning the latest stats record (None before the first)."""

    def attach(self, controls: Any, stats: Callable[[], dict | None]) -> None: ...
