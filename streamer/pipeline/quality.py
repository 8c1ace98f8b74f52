"""What a live frame may give up: the scheduler's quality levels and the background modes they map to.

Pure Python: the scheduler picks a `QualityLevel`, the live loop turns it into a `BackgroundMode`
for the frame stylizer.
"""

from __future__ import annotations

import enum


class QualityLevel(enum.IntEnum):
    """The scheduler's levels, in the order the pipeline gives things up (higher gives up more)."""

    FULL = 0  # heads and background stylized on every frame
    ASYNC_BACKGROUND = 1  # frames reuse the newest stylized background while the next one is computed
    LOW_RES_BACKGROUND = 2  # the same, with the background stylized at lower resolution
    HEADS_ONLY = 3  # the background stays as captured
    PASSTHROUGH = 4  # frames go out untouched


class BackgroundMode(enum.Enum):
    """How the frame stylizer makes the picture the heads are pasted onto."""

    STYLIZE = "stylize"  # this frame's own background, stylized beside the heads
    ASYNC = "async"  # the newest finished background; `refresh` starts the next one on the side
    ORIGINAL = "original"  # the frame as captured
    PROBE = "probe"  # as captured, while a background is stylized on the side to measure its time


def background_mode(level: QualityLevel, background_on: bool = True, probe: bool = False) -> BackgroundMode:
    """The background mode of a frame at `level`; with the background switched off it stays as
    captured. At the heads-only level a `probe` frame measures the background it does not show."""
    if not background_on or level >= QualityLevel.PASSTHROUGH:
        return BackgroundMode.ORIGINAL
    if level == QualityLevel.FULL:
        return BackgroundMode.STYLIZE
    if level in (QualityLevel.ASYNC_BACKGROUND, QualityLevel.LOW_RES_BACKGROUND):
        return BackgroundMode.ASYNC
    return BackgroundMode.PROBE if probe else BackgroundMode.ORIGINAL
