"""Per-stage timing: each frame records its stage times; `StageStats` keeps them and gives medians."""

from __future__ import annotations

from collections import defaultdict, deque

import numpy as np

# The stages of the file pipeline, in the order a frame meets them.
FILE_STAGES = ("decode", "track", "heads", "background", "compose", "encode")


class StageStats:
    """Keeps the last `window` times (ms) of each stage; `medians()` summarizes them."""

    def __init__(self, window: int = 100_000) -> None:
        self._times: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=window))

    def add(self, stage_ms: dict[str, float]) -> None:
        for stage, ms in stage_ms.items():
            self._times[stage].append(ms)

    def medians(self) -> dict[str, float]:
        return {stage: float(np.median(times)) for stage, times in self._times.items() if times}

    def format(self, order: tuple[str, ...] = FILE_STAGES) -> str:
        med = self.medians()
        names = [s for s in order if s in med] + sorted(set(med) - set(order))
        return " | ".join(f"{name} {med[name]:.1f}" for name in names)
