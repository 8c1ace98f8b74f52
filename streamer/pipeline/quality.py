"""What a live frame may give up: the scheduler's rungs and the background modes they map to.

Pure Python. A `Rung` says how a frame is made: its background (this frame's own, the newest one
made on the side, or as captured), how often a head is stylized (every frame, or keyframes carried
between by optical flow: `pipeline.reuse`), at what size keyframes are stylized, and what share of
the source's frames go out. A ladder lists the rungs best first; the scheduler picks an index into
it, and the live loop turns the rung into a `BackgroundMode` and the reuse settings.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class BackgroundMode(enum.Enum):
    """How the frame stylizer makes the picture the heads are pasted onto."""

    STYLIZE = "stylize"  # this frame's own background, stylized beside the heads
    ASYNC = "async"  # the newest finished background; `refresh` starts the next one on the side
    ORIGINAL = "original"  # the frame as captured
    PROBE = "probe"  # as captured, while a background is stylized on the side to measure its time


@dataclass(frozen=True)
class Rung:
    """One way to make a frame, cheaper the further down a ladder it sits.

    `keyframe_every` 1: heads stylized on every frame; N > 1: temporal reuse, a keyframe at least N
    frames after the last, sooner only when the warp stops explaining the face (and the keyframe's
    network must finish within N frame periods). `head_size`: keyframes stylized at this side
    instead of the style's own (fully convolutional head networks only). `fallback_background`: the
    background is made by the engine's fallback network (the built-in style's) instead of the
    style's own. `rate_divisor` 2: every other frame goes out. `passthrough`: frames go out untouched.
    """

    background: BackgroundMode = BackgroundMode.STYLIZE
    background_factor: float = 1.0
    keyframe_every: int = 1
    head_size: int | None = None
    rate_divisor: int = 1
    passthrough: bool = False
    fallback_background: bool = False

    def describe(self) -> str:
        """A few words for the status line and stats, e.g. "keyframe every 8, head 224, background
        refreshed at half size"."""
        if self.passthrough:
            return "passthrough"
        parts = ["head every frame" if self.keyframe_every == 1 else f"keyframe every {self.keyframe_every}"]
        if self.head_size:
            parts.append(f"head {self.head_size}")
        background = {
            BackgroundMode.STYLIZE: "background every frame",
            BackgroundMode.ASYNC: "background refreshed",
            BackgroundMode.ORIGINAL: "background as captured",
        }[self.background]
        if self.fallback_background:
            background = "built-in " + background
        if self.background is BackgroundMode.ASYNC and self.background_factor < 1.0:
            background += " at half size" if self.background_factor == 0.5 else f" at {self.background_factor:g}x"
        parts.append(background)
        if self.rate_divisor > 1:
            parts.append(f"1 frame in {self.rate_divisor}")
        return ", ".join(parts)


PASSTHROUGH = Rung(BackgroundMode.ORIGINAL, passthrough=True)
LOW_RES_FACTOR = 0.5  # the background's side at the rungs that shrink it
# Keyframes this many frames apart, for head networks too slow for fewer (photo2cartoon's takes
# 500-600 ms on two cores: over 16 frames at 30 fps on a slow day); under the reuse's 30 at most.
SLOW_KEYFRAMES = 24


class QualityLevel(enum.IntEnum):
    """Indexes into `PER_FRAME_LADDER` (heads stylized on every frame), in the order it gives things up."""

    FULL = 0  # heads and background stylized on every frame
    ASYNC_BACKGROUND = 1  # frames reuse the newest stylized background while the next one is computed
    LOW_RES_BACKGROUND = 2  # the same, with the background stylized at lower resolution
    HEADS_ONLY = 3  # the background stays as captured
    HALF_RATE = 4  # the same, every other frame
    PASSTHROUGH = 5  # frames go out untouched


PER_FRAME_LADDER: tuple[Rung, ...] = (
    Rung(BackgroundMode.STYLIZE),
    Rung(BackgroundMode.ASYNC),
    Rung(BackgroundMode.ASYNC, LOW_RES_FACTOR),
    Rung(BackgroundMode.ORIGINAL),
    Rung(BackgroundMode.ORIGINAL, rate_divisor=2),
    PASSTHROUGH,
)


def per_frame_ladder(fallback: bool = False) -> tuple[Rung, ...]:
    """`PER_FRAME_LADDER`; with a `fallback` background network, a rung that refreshes the
    background with it comes before the background as captured."""
    if not fallback:
        return PER_FRAME_LADDER
    rungs = list(PER_FRAME_LADDER)
    rungs.insert(QualityLevel.HEADS_ONLY, Rung(BackgroundMode.ASYNC, fallback_background=True))
    return tuple(rungs)


def reuse_ladder(head_size: int, resizable: bool, fallback: bool = False) -> tuple[Rung, ...]:
    """The ladder of a stream with temporal reuse: keyframes further apart, then smaller keyframes
    (where the head network is fully convolutional), then a smaller background, then (with a
    `fallback` background network) the fallback's background, then none, then half the output rate;
    passthrough last. A head network too slow for a keyframe every 8 frames gets one every 24 at each
    background before the output rate is halved. `head_size` is the style's own head side."""
    ASYNC, ORIGINAL = BackgroundMode.ASYNC, BackgroundMode.ORIGINAL
    small = (_multiple_of_16(head_size * 0.78), _multiple_of_16(head_size * 0.67)) if resizable else (None, None)
    ladder = [
        Rung(BackgroundMode.STYLIZE, keyframe_every=2),
        Rung(ASYNC, keyframe_every=4),
        Rung(ASYNC, keyframe_every=8),
        Rung(ASYNC, keyframe_every=8, head_size=small[0]),
        Rung(ASYNC, LOW_RES_FACTOR, keyframe_every=8, head_size=small[0]),
        Rung(ASYNC, LOW_RES_FACTOR, keyframe_every=8, head_size=small[1]),
        Rung(ASYNC, LOW_RES_FACTOR, keyframe_every=SLOW_KEYFRAMES, head_size=small[1]),
    ]
    if fallback:
        ladder += [
            Rung(ASYNC, keyframe_every=8, head_size=small[1], fallback_background=True),
            Rung(ASYNC, keyframe_every=SLOW_KEYFRAMES, head_size=small[1], fallback_background=True),
        ]
    ladder += [
        Rung(ORIGINAL, keyframe_every=8, head_size=small[1]),
        Rung(ORIGINAL, keyframe_every=SLOW_KEYFRAMES, head_size=small[1]),
        Rung(ORIGINAL, keyframe_every=SLOW_KEYFRAMES, head_size=small[1], rate_divisor=2),
        PASSTHROUGH,
    ]
    return tuple(dict.fromkeys(ladder))  # without resizing, the head-size rungs repeat others


def _multiple_of_16(side: float) -> int:
    return max(16, round(side / 16) * 16)


def background_mode(rung: Rung, background_on: bool = True, probe: bool = False) -> BackgroundMode:
    """The background mode of a frame at `rung`; with the background switched off it stays as
    captured. A `probe` frame at a rung without a stylized background measures the one it does not
    show."""
    if not background_on or rung.passthrough:
        return BackgroundMode.ORIGINAL
    if rung.background is BackgroundMode.ORIGINAL and probe:
        return BackgroundMode.PROBE
    return rung.background
