"""The latency scheduler: pure, exact, no clock."""

from streamer.pipeline.quality import QualityLevel
from streamer.pipeline.scheduler import LatencyScheduler, SchedulerOptions

MAX_LEVEL = QualityLevel.PASSTHROUGH


def _scheduler(budget=33.0, period=33.3, **kw) -> LatencyScheduler:
    return LatencyScheduler(SchedulerOptions(budget_ms=budget, frame_period_ms=period, smoothing=1.0, **kw))


def _frames(s: LatencyScheduler, n: int, **ms) -> list[int]:
    levels = []
    for _ in range(n):
        s.observe(ms, s.background_factor)
        levels.append(s.update())
    return levels


def test_fast_enough_stays_at_full_quality():
    s = _scheduler()
    assert _frames(s, 50, track=5, heads=8, background=12, compose=2) == [0] * 50


def test_a_slow_background_goes_asynchronous_at_once():
    s = _scheduler()
    assert _frames(s, 1, track=5, heads=8, background=60, compose=2) == [1]


def test_a_very_slow_background_is_shrunk_then_dropped():
    s = _scheduler()
    # 150 ms > 3 frames: too stale at full size; at half size it costs 37.5 ms: fits level 2.
    assert _frames(s, 1, track=5, heads=8, background=150, compose=2) == [2]
    s = _scheduler()
    assert _frames(s, 1, track=5, heads=8, background=1000, compose=2) == [3]


def test_slow_heads_fall_back_to_passthrough():
    s = _scheduler()
    assert _frames(s, 1, track=5, heads=80, background=10, compose=2) == [MAX_LEVEL]


def test_recovery_is_one_level_at_a_time_after_a_margin_holds():
    s = _scheduler(recover_after=10)
    _frames(s, 1, track=5, heads=8, background=1000, compose=2)
    assert s.level == 3
    levels = _frames(s, 40, track=5, heads=8, background=10, compose=2)
    # Nine frames still at 3, then 2, then 1, then 0, each after ten fitting frames.
    assert levels[:9] == [3] * 9 and levels[9] == 2 and levels[19] == 1 and levels[29] == 0
    assert levels[-1] == 0


def test_no_recovery_without_the_margin():
    s = _scheduler(recover_after=5)
    _frames(s, 1, track=5, heads=8, background=60, compose=2)
    # Level 0 would cost 30 ms: within the budget but not within 75 % of it.
    assert _frames(s, 30, track=5, heads=8, background=23, compose=2) == [1] * 30


def test_a_background_measured_at_low_resolution_counts_at_full_size():
    s = _scheduler()
    s.observe({"background": 10.0}, background_factor=0.5)
    assert s.ms["background"] == 40.0
