"""Fakes shared by the tests: the world (clocks, sources, sinks, engines), never the logic under test."""

from __future__ import annotations


class FakeClock:
    """A monotonic clock in seconds that moves only when told (`advance`); callable like `time.monotonic`."""

    def __init__(self, start: float = 0.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds
