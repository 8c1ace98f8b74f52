"""`NullSink`: a live output that discards every frame (for measuring the pipeline alone)."""

from __future__ import annotations

from streamer.frame import Frame


class NullSink:
    """A `Sink` that writes nowhere. `frames` counts what it was given; with `queue_frames` 1 the
    pipeline offers it only the newest frame, as it does a window or a virtual camera."""

    name = "null"
    queue_frames = 1

    def __init__(self) -> None:
        self.frames = 0
        self.size: tuple[int, int] | None = None

    def open(self, width: int, height: int, fps: float) -> None:
        self.size = (width, height)

    def write(self, frame: Frame) -> None:
        self.frames += 1

    def close(self) -> None:
        """Nothing to release."""
