"""The latency budget as data: predict each quality level's cost from measured stage times, and
degrade (or recover) before the output falls behind.

Levels (`quality.QualityLevel`), in the order the pipeline gives things up:
    0 full quality: heads and background stylized on every frame
    1 background refreshed in the background: frames reuse the newest stylized background while the
      next one is computed beside them (so a frame never waits for it)
    2 the same, with the background stylized at lower resolution (refreshes more often)
    3 heads only: the background stays as captured
    4 passthrough: frames go out untouched

Pure Python with the clock left out: feed it stage times, it answers with a level. Degrading jumps
straight to the first level that fits; recovering moves one level at a time, and only after the
better level has fitted with a margin for `recover_after` frames in a row (hysteresis).
"""

from __future__ import annotations

from dataclasses import dataclass

from streamer.pipeline.quality import QualityLevel

MAX_LEVEL = QualityLevel.PASSTHROUGH


@dataclass
class SchedulerOptions:
    budget_ms: float
    frame_period_ms: float
    refresh_frames: int = 3  # levels 1-2: the background must refresh at least every this many frames
    low_res_factor: float = 0.5  # level 2: background side scale
    recover_margin: float = 0.75  # a better level must fit within this fraction of the budget ...
    recover_after: int = 15  # ... for this many frames in a row
    smoothing: float = 0.2  # weight of a new measurement in the moving averages


class LatencyScheduler:
    """Keeps a moving average per stage and picks the quality level. See the module docstring."""

    STAGES = ("track", "heads", "background", "compose")

    def __init__(self, options: SchedulerOptions) -> None:
        self.options = options
        self.level = QualityLevel.FULL
        self.ms: dict[str, float] = {}
        self._fitting = 0
        self.changes = 0

    def observe(self, stage_ms: dict[str, float], background_factor: float = 1.0) -> None:
        """Record one frame's stage times. A background stylized at `background_factor` of the frame
        side is normalized to full size (cost follows the pixel count)."""
        a = self.options.smoothing
        for stage in self.STAGES:
            if stage not in stage_ms:
                continue
            value = stage_ms[stage]
            if stage == "background":
                value /= max(background_factor, 1e-3) ** 2
            self.ms[stage] = value if stage not in self.ms else (1 - a) * self.ms[stage] + a * value

    def predict(self, level: QualityLevel) -> float:
        """Predicted milliseconds from capture to output for a frame at `level` (inf: not viable)."""
        o = self.options
        track, heads = self.ms.get("track", 0.0), self.ms.get("heads", 0.0)
        compose, background = self.ms.get("compose", 0.0), self.ms.get("background", 0.0)
        if level == QualityLevel.FULL:
            return track + max(heads, background) + compose
        if level in (QualityLevel.ASYNC_BACKGROUND, QualityLevel.LOW_RES_BACKGROUND):
            refresh = background * (o.low_res_factor**2 if level == QualityLevel.LOW_RES_BACKGROUND else 1.0)
            if refresh > o.refresh_frames * o.frame_period_ms:
                return float("inf")  # the background would go stale: not this level
            return track + heads + compose
        if level == QualityLevel.HEADS_ONLY:
            return track + heads + compose
        return 0.0

    def update(self, frames: int = 1) -> QualityLevel:
        """Choose the level for the next frame from what has been observed so far. `frames` is how
        many frames this observation stands for (a probe taken once every N frames counts N)."""
        o = self.options
        fits = [lvl for lvl in QualityLevel if self.predict(lvl) <= o.budget_ms]
        best = fits[0] if fits else MAX_LEVEL
        if best > self.level:  # over budget: degrade at once, as far as needed
            self._set(best)
        elif best < self.level:
            better = QualityLevel(self.level - 1)
            # Leaving passthrough needs only a fit (any stylization beats none); other steps a margin.
            margin = 1.0 if self.level == MAX_LEVEL else o.recover_margin
            if self.predict(better) <= margin * o.budget_ms:
                self._fitting += frames
                if self._fitting >= o.recover_after:
                    self._set(better)
            else:
                self._fitting = 0
        else:
            self._fitting = 0
        return self.level

    def _set(self, level: QualityLevel) -> None:
        self.level = level
        self._fitting = 0
        self.changes += 1

    @property
    def background_factor(self) -> float:
        return self.options.low_res_factor if self.level == QualityLevel.LOW_RES_BACKGROUND else 1.0
