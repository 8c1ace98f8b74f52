"""One Euro filter (Casiez et al., CHI 2012) for landmark points, with the clock as an argument.

A low-pass filter whose cutoff rises with speed: a still face gets a low cutoff (no shimmer), a moving
face a high one (no lag). Speed is measured in face sizes per second, so the same settings work for
a face 40 px or 400 px wide.
"""

from __future__ import annotations

import math

import numpy as np


def _alpha(cutoff_hz: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff_hz))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Smooths an (N, 2) array of points over time.

    `min_cutoff` (Hz) sets smoothing at rest; `beta` (Hz per face-size/s) how fast the cutoff rises
    with speed; `d_cutoff` (Hz) smooths the speed estimate. Each point gets its own cutoff from its
    own speed, shared by its x and y so the filter is isotropic.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 8.0, d_cutoff: float = 1.0) -> None:
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.d_cutoff = d_cutoff
        self._t: float | None = None
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    def __call__(self, t: float, x: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """Filter the points `x` observed at time `t` (seconds); `scale` is the face size in pixels."""
        x = np.asarray(x, np.float64)
        if self._x is None or self._t is None or self._dx is None:
            self._t, self._x, self._dx = t, x.copy(), np.zeros_like(x)
            return x.copy()
        dt = t - self._t
        if dt <= 0:
            return self._x.copy()
        dx = (x - self._x) / dt
        a_d = _alpha(self.d_cutoff, dt)
        self._dx = a_d * dx + (1 - a_d) * self._dx
        speed = np.linalg.norm(self._dx, axis=-1, keepdims=True) / max(scale, 1e-6)
        a = _alpha(self.min_cutoff + self.beta * speed, dt)
        self._x = a * x + (1 - a) * self._x
        self._t = t
        return self._x.copy()
