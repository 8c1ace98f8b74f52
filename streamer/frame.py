"""`Frame`: one image travelling through the pipeline, with its timing.

Like PyAV and aiortc frames, a `Frame` keeps the source's `pts` and `time_base` untouched through
every stage, so the output is written with the input's timestamps. `t_capture` is a monotonic clock
reading taken when the frame entered the pipeline; latency is measured against it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np


@dataclass(slots=True)
class Frame:
    """An HxWx3 uint8 BGR image with its presentation timestamp.

    `pts` counts `time_base` units (as in PyAV); `index` is the frame's position in its source.
    `stage_ms` collects how long each stage spent on this frame.
    """

    image: np.ndarray
    pts: int
    time_base: Fraction
    index: int
    t_capture: float = field(default_factory=time.monotonic)
    stage_ms: dict[str, float] = field(default_factory=dict)

    @property
    def time(self) -> float:
        """Presentation time in seconds."""
        return float(self.pts * self.time_base)

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    def with_image(self, image: np.ndarray) -> Frame:
        """A frame with the same timing and stage record, carrying a new image."""
        return Frame(image, self.pts, self.time_base, self.index, self.t_capture, self.stage_ms)


class StageClock:
    """Times a block and records it on a frame: `with StageClock(frame, "track"): ...`."""

    __slots__ = ("_frame", "_name", "_start")

    def __init__(self, frame: Frame, name: str) -> None:
        self._frame = frame
        self._name = name
        self._start = 0.0

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self._frame.stage_ms[self._name] = (time.perf_counter() - self._start) * 1000.0
