"""The latency budget as data: predict each rung's cost from measured stage times, and degrade (or
recover) before the output falls behind, keeping the cartoon as long as any stylized rung fits.

Two limits: a latency limit (the work on a frame's own path, capture to output) and a minimum
output frame rate (rungs that send fewer frames than that are not taken). A rung fits when
- its frame path (tracking, the heads' work on the frame, a background made for this frame beside
  them, compositing) stays within the latency limit (or, for a rung that sends fewer frames,
  within its longer output period), and
- every piece of work it moves off the frame path finishes before it is due again: a keyframe
  within `keyframe_every` periods, a side background within `refresh_frames` periods.
Side work that overruns would show stale heads or backgrounds, or starve the frame path.

Stage times (moving averages): `track`, `heads` (the heads' time on the frame path: their networks,
or, with temporal reuse, the flow and patches), `keyframe` (one keyframe's network, counted at the
style's head size), `background` (the style's own network, at full size), `fallback_background` (the
engine's fallback network, at full size; while unmeasured it is taken to fit), `compose` (which
includes carrying a background made from an earlier frame to this one).

Pure Python with the clock left out: feed it stage times, it answers with a ladder index. Degrading
jumps straight to the first rung that fits: at once when the current one is far over a limit, after
`degrade_after` frames in a row when it is a little over (one slow frame, a detection or work
landing beside it, does not cost several rungs); recovering moves one rung at a time (to the nearest
better rung that fits), and only after it has fitted with a margin for `recover_after` frames in a
row (hysteresis). Passthrough (the last rung) is taken only when no stylized rung fits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from streamer.pipeline.quality import PER_FRAME_LADDER, BackgroundMode, Rung


@dataclass
class SchedulerOptions:
    budget_ms: float  # the latency limit on a frame's own path
    frame_period_ms: float  # the source's frame period
    min_fps: float = 15.0  # rungs sending fewer frames per second than this are not taken
    refresh_frames: int = 3  # side backgrounds must finish within this many periods
    recover_margin: float = 0.75  # a better rung's frame path must fit within this share of its limit ...
    recover_after: int = 15  # ... for this many frames in a row
    degrade_after: int = 3  # a rung a little over a limit is left after this many frames in a row ...
    far_over: float = 1.25  # ... and at once when over it by more than this factor
    smoothing: float = 0.2  # weight of a new measurement in the moving averages


class LatencyScheduler:
    """Keeps a moving average per stage and picks a rung of `ladder`. See the module docstring."""

    STAGES = ("track", "heads", "keyframe", "background", "fallback_background", "compose")

    def __init__(
        self, options: SchedulerOptions, ladder: tuple[Rung, ...] = PER_FRAME_LADDER, head_size: int | None = None
    ) -> None:
        """`head_size`: the style's own head side, for rungs that stylize keyframes smaller."""
        if not ladder or not ladder[-1].passthrough:
            raise ValueError("a ladder ends with passthrough")
        self.options = options
        self.ladder = ladder
        self.head_size = head_size
        self.level = 0
        self.ms: dict[str, float] = {}
        self._fitting = 0
        self._over = 0
        self.changes = 0
        self.reason = ""  # why the current rung was taken (after a change)

    @property
    def max_level(self) -> int:
        return len(self.ladder) - 1

    @property
    def rung(self) -> Rung:
        return self.ladder[self.level]

    @property
    def background_factor(self) -> float:
        return self.rung.background_factor

    def observe(self, stage_ms: dict[str, float], background_factor: float = 1.0, head_scale: float = 1.0) -> None:
        """Record one frame's stage times. A background stylized at `background_factor` of the frame
        side, and a keyframe at `head_scale` of the head side, are counted at full size (cost
        follows the pixel count)."""
        a = self.options.smoothing
        for stage in self.STAGES:
            if stage not in stage_ms:
                continue
            value = stage_ms[stage]
            if stage in ("background", "fallback_background"):
                value /= max(background_factor, 1e-3) ** 2
            elif stage == "keyframe":
                value /= max(head_scale, 1e-3) ** 2
            self.ms[stage] = value if stage not in self.ms else (1 - a) * self.ms[stage] + a * value

    def frame_path(self, level: int) -> float:
        """Predicted milliseconds of a frame's own path at ladder index `level`."""
        rung = self.ladder[level]
        if rung.passthrough:
            return 0.0
        ms = self.ms.get
        heads = ms("heads", 0.0)
        if rung.background is BackgroundMode.STYLIZE:
            heads = max(heads, ms("background", 0.0))  # made beside the heads
        return ms("track", 0.0) + heads + ms("compose", 0.0)

    def overrun(self, level: int, margin: float = 1.0) -> str | None:
        """Why the rung at `level` does not fit (None: it fits). `margin` shrinks the frame path's limit
        (side work only has to finish before it is due)."""
        found = self._overrun(level, margin)
        return found[0] if found else None

    def _overrun(self, level: int, margin: float = 1.0) -> tuple[str, float] | None:
        """`overrun`'s reason, and by how much (the cost over its limit; inf for the frame rate)."""
        o, rung = self.options, self.ladder[level]
        if rung.passthrough:
            return None
        period = o.frame_period_ms * rung.rate_divisor
        if 1000.0 / period < o.min_fps - 1e-9:
            return f"{1000.0 / period:.0f} fps is under the minimum of {o.min_fps:g}", math.inf
        path = self.frame_path(level)
        # A rung that sends every other frame gives each up to its longer period.
        limit = (o.budget_ms if rung.rate_divisor == 1 else max(o.budget_ms, period)) * margin
        if path > limit:
            return f"a frame takes {path:.0f} ms, over {limit:.0f} ms", path / limit
        if rung.keyframe_every > 1:
            keyframe = self.ms.get("keyframe", 0.0) * _scale(rung.head_size, self.head_size) ** 2
            due = rung.keyframe_every * period
            if keyframe > due:
                return f"a keyframe takes {keyframe:.0f} ms, over {rung.keyframe_every} frames", keyframe / due
        if rung.background is BackgroundMode.ASYNC:
            stage = "fallback_background" if rung.fallback_background else "background"
            background = self.ms.get(stage, 0.0) * rung.background_factor**2
            due = o.refresh_frames * period
            if background > due:
                return f"a background takes {background:.0f} ms, over {o.refresh_frames} frames", background / due
        return None

    def update(self, frames: int = 1) -> int:
        """Choose the ladder index for the next frame from what has been observed so far. `frames` is
        how many frames this observation stands for (a probe taken once every N frames counts N)."""
        o = self.options
        best = next(level for level in range(len(self.ladder)) if self.overrun(level) is None)
        if best > self.level:  # over a limit: degrade as far as needed, at once if far over
            self._fitting = 0
            self._over += frames
            over = self._overrun(self.level)
            if self._over >= o.degrade_after or (over is not None and over[1] > o.far_over):
                self.reason = self.overrun(self.level) or ""
                self._set(best)
            return self.level
        self._over = 0
        if best < self.level:
            # The nearest better rung that fits: the one above may not (keyframes every 8 frames
            # sit above every 24 with a stylized background, for a slow head network).
            better = max(level for level in range(best, self.level) if self.overrun(level) is None)
            # Leaving passthrough or a reduced frame rate needs only a fit (any stylization beats
            # none; a full frame rate beats any detail); other steps need a margin.
            gains_rate = self.ladder[better].rate_divisor < self.rung.rate_divisor
            margin = 1.0 if self.level == self.max_level or gains_rate else o.recover_margin
            if self.overrun(better, margin) is None:
                self._fitting += frames
                if self._fitting >= o.recover_after:
                    self.reason = "there is room again"
                    self._set(better)
            else:
                self._fitting = 0
        else:
            self._fitting = 0
        return self.level

    def _set(self, level: int) -> None:
        self.level = level
        self._fitting = self._over = 0
        self.changes += 1


def _scale(size: int | None, native: int | None) -> float:
    return 1.0 if size is None or not native else size / native
