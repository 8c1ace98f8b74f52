"""The latency scheduler: pure, exact, no clock."""

import itertools

import pytest

from streamer.pipeline.quality import (
    PASSTHROUGH,
    PER_FRAME_LADDER,
    BackgroundMode,
    QualityLevel,
    Rung,
    per_frame_ladder,
    reuse_ladder,
)
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


# -- the ladder with temporal reuse --------------------------------------------------------------
def _reuse(resizable=True, fallback=False, **kw) -> LatencyScheduler:
    options = SchedulerOptions(budget_ms=1000 / 30, frame_period_ms=1000 / 30, smoothing=1.0, **kw)
    return LatencyScheduler(options, reuse_ladder(288, resizable, fallback), head_size=288)


CHEAP = {"track": 5, "heads": 5, "keyframe": 60, "background": 20, "compose": 2}


@pytest.mark.parametrize(
    ("costs", "refresh_frames", "rung"),
    [
        # Everything fits: keyframes every 2 frames (60 ms within 67) and this frame's own background.
        ({}, 3, Rung(BackgroundMode.STYLIZE, keyframe_every=2)),
        # A 200 ms background: on the side, but a refresh within 3 frames only at half size (50 ms)...
        ({"background": 200}, 3, Rung(BackgroundMode.ASYNC, 0.5, keyframe_every=8, head_size=224)),
        # ... while a quarter second of refresh (8 frames) takes it whole, with keyframes every 4.
        ({"background": 200}, 8, Rung(BackgroundMode.ASYNC, keyframe_every=4)),
        # A 300 ms keyframe fits 8 frames only at head 224 (300 x (224/288)^2 = 181 ms).
        ({"keyframe": 300}, 3, Rung(BackgroundMode.ASYNC, keyframe_every=8, head_size=224)),
        # 620 ms: at head 192 (276 ms) over 8 frames (267 ms): a keyframe every 24 frames instead.
        ({"keyframe": 620}, 3, Rung(BackgroundMode.ASYNC, 0.5, keyframe_every=24, head_size=192)),
        # 2000 ms: at head 192 (889 ms) over 24 frames (800 ms): every other frame goes out.
        ({"keyframe": 2000}, 3, Rung(BackgroundMode.ORIGINAL, keyframe_every=24, head_size=192, rate_divisor=2)),
        # A background that fits no refresh at half size: the background as captured.
        ({"background": 1000}, 3, Rung(BackgroundMode.ORIGINAL, keyframe_every=8, head_size=192)),
        # A 50 ms frame path fits only a 67 ms period; 80 ms fits nothing but passthrough.
        ({"track": 50}, 3, Rung(BackgroundMode.ORIGINAL, keyframe_every=24, head_size=192, rate_divisor=2)),
        ({"track": 80}, 3, PASSTHROUGH),
    ],
)
def test_the_reuse_ladder_takes_the_first_rung_that_fits(costs, refresh_frames, rung):
    """For the costs that run at each rung, the rung picked is exact: the first one down the ladder
    (keyframe interval, head size, background refresh and size, background as captured, output rate)
    whose frame path and side work fit."""
    s = _reuse(refresh_frames=refresh_frames)
    _frames(s, 1, **{**CHEAP, **costs})
    assert s.rung == rung


def test_the_minimum_frame_rate_rules_out_the_half_rate_rung():
    s = _reuse(min_fps=20)
    _frames(s, 1, **{**CHEAP, "track": 50})
    assert s.rung.passthrough and "under the minimum" in (s.overrun(s.max_level - 1) or "")


def test_it_never_passes_through_while_a_stylized_rung_fits():
    """Over a grid of costs, passthrough comes only when every stylized rung overruns, and the rung
    taken (from the top, degrading at once) is always the first that fits."""
    for track, keyframe, background in itertools.product((5, 30, 45, 60, 70), (50, 150, 400, 900), (20, 150, 600)):
        s = _reuse()
        _frames(s, 1, **{**CHEAP, "track": track, "keyframe": keyframe, "background": background})
        fitting = [level for level in range(s.max_level + 1) if s.overrun(level) is None]
        assert s.level == fitting[0]
        if s.rung.passthrough:
            assert fitting == [s.max_level]


def test_a_fixed_size_head_network_has_no_head_size_rungs():
    sizes = {rung.head_size for rung in reuse_ladder(256, resizable=False)}
    assert sizes == {None}
    assert {rung.head_size for rung in reuse_ladder(288, resizable=True)} == {None, 224, 192}


def test_a_rung_a_little_over_is_left_after_degrade_after_frames_and_one_far_over_at_once():
    """One slow frame (a detection, work landing beside it) does not cost rungs; a real overrun does."""
    s = _reuse(degrade_after=3)
    # This frame's own 30 ms background makes a 37 ms frame: a little over 33 ms.
    assert _frames(s, 3, **{**CHEAP, "background": 30}) == [0, 0, 1]
    assert s.reason == "a frame takes 37 ms, over 33 ms"
    s = _reuse(degrade_after=3)
    assert _frames(s, 1, **{**CHEAP, "background": 200}) == [4], "207 ms: far over, at once"


def test_a_keyframe_at_a_smaller_head_counts_at_full_size():
    s = _reuse()
    s.observe({"keyframe": 30.0}, head_scale=0.5)
    assert s.ms["keyframe"] == 120.0


def test_rungs_say_what_they_give_up():
    ladder = reuse_ladder(288, True)
    assert ladder[4].describe() == "keyframe every 8, head 224, background refreshed at half size"
    assert ladder[-2].describe() == "keyframe every 24, head 192, background as captured, 1 frame in 2"
    fallback = reuse_ladder(288, True, fallback=True)
    assert fallback[7].describe() == "keyframe every 8, head 192, built-in background refreshed"
    assert PER_FRAME_LADDER[0].describe() == "head every frame, background every frame"


def test_the_full_frame_rate_comes_back_as_soon_as_it_fits():
    """At half rate, a 30 ms frame fits a full-rate rung's 33 ms without the recovery margin: every
    frame going out beats the margin's safety."""
    s = _reuse(recover_after=5)
    _frames(s, 1, **{**CHEAP, "track": 50})
    assert s.rung.rate_divisor == 2
    levels = _frames(s, 6, **{**CHEAP, "track": 23})  # a 30 ms frame path
    assert levels[:4] == [s.max_level - 1] * 4 and s.rung.rate_divisor == 1


def test_a_head_network_too_slow_for_8_frames_keeps_the_full_rate_with_keyframes_every_24():
    """photo2cartoon's fixed 256 head at 600 ms: over 8 frames (267 ms), within 24 (800 ms)."""
    s = _reuse(resizable=False)
    _frames(s, 1, **{**CHEAP, "keyframe": 600})
    assert s.rung == Rung(BackgroundMode.ASYNC, 0.5, keyframe_every=24)


def test_a_slow_head_network_recovers_past_a_rung_its_keyframes_do_not_fit():
    """photo2cartoon (600 ms keyframes) sent to the background as captured by a slow frame comes back
    to the refreshed background with keyframes every 24 frames, past the rung above it (as captured,
    keyframes every 8), which its keyframes never fit."""
    s = _reuse(resizable=False, recover_after=5)
    _frames(s, 1, **{**CHEAP, "keyframe": 600, "track": 40})
    assert s.rung == Rung(BackgroundMode.ORIGINAL, keyframe_every=24, rate_divisor=2)
    levels = _frames(s, 12, **{**CHEAP, "keyframe": 600})
    above = s.ladder[levels[4] - 1]
    assert s.overrun(s.ladder.index(above)) is not None and above.keyframe_every == 8
    assert s.rung == Rung(BackgroundMode.ASYNC, 0.5, keyframe_every=24)


# -- the fallback background (`--background-style auto`) -----------------------------------------
FALLBACK = Rung(BackgroundMode.ASYNC, keyframe_every=8, head_size=192, fallback_background=True)


@pytest.mark.parametrize(
    ("costs", "rung"),
    [
        # The style's own background fits at half size: it is kept, the fallback is not taken.
        ({"background": 200}, Rung(BackgroundMode.ASYNC, 0.5, keyframe_every=8, head_size=224)),
        # It does not: the fallback's background, refreshed, before the background as captured ...
        ({"background": 1000, "fallback_background": 20}, FALLBACK),
        # ... also before it has been measured once (then it is taken to fit, and measured there).
        ({"background": 1000}, FALLBACK),
        # A fallback too slow as well: the background as captured.
        (
            {"background": 1000, "fallback_background": 500},
            Rung(BackgroundMode.ORIGINAL, keyframe_every=8, head_size=192),
        ),
    ],
)
def test_with_a_fallback_background_it_replaces_the_styles_own_before_the_background_goes(costs, rung):
    s = _reuse(fallback=True)
    _frames(s, 1, **{**CHEAP, **costs})
    assert s.rung == rung
    assert s.rung.describe().endswith(
        "built-in background refreshed" if rung.fallback_background else rung.describe().split(", ")[-1]
    )


def test_the_per_frame_ladder_gets_the_fallback_rung_before_the_heads_alone():
    ladder = per_frame_ladder(fallback=True)
    assert ladder[: QualityLevel.HEADS_ONLY] == PER_FRAME_LADDER[: QualityLevel.HEADS_ONLY]
    assert ladder[QualityLevel.HEADS_ONLY] == Rung(BackgroundMode.ASYNC, fallback_background=True)
    assert ladder[QualityLevel.HEADS_ONLY + 1 :] == PER_FRAME_LADDER[QualityLevel.HEADS_ONLY :]
    assert per_frame_ladder() == PER_FRAME_LADDER
    s = LatencyScheduler(SchedulerOptions(budget_ms=33.0, frame_period_ms=33.3, smoothing=1.0), ladder)
    _frames(s, 1, track=5, heads=8, background=1000, fallback_background=15, compose=2)
    assert s.rung.fallback_background
