"""`streamer live` behaviour users rely on: latency stays bounded with a slow engine, quality
degrades and recovers, nothing is lost with a fast engine, sources reconnect, stats are sound.

The main loop runs on a fake clock (`run_on_clock`): the engine's work takes its declared time,
so levels, latencies and stats windows are exact. Tests that need the real threads (`run()`)
assert on counts and states, never on durations or rates; the measured versions are in
benchmarks/bench_live.py.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time

import numpy as np
import pytest

from streamer.capture.live import RealtimeFileSource, Reconnecting
from streamer.capture.source import Source
from streamer.capture.synthetic import Motion, SyntheticSource
from streamer.errors import DeviceUnavailableError, InvalidInputError
from streamer.pipeline.live import (
    ENGINE_RETRY_S,
    STATS_KEYS,
    WARMUP_FRAMES,
    LiveControls,
    LiveOptions,
    LivePipeline,
)
from streamer.pipeline.quality import BackgroundMode, QualityLevel

from .fakes import (
    Camera,
    ClockedStylizers,
    CollectSink,
    FakeClock,
    FakeTracker,
    SlowRunner,
    engine_of,
    run_on_clock,
)

FULL, ASYNC, LOW_RES, HEADS_ONLY = (
    QualityLevel.FULL,
    QualityLevel.ASYNC_BACKGROUND,
    QualityLevel.LOW_RES_BACKGROUND,
    QualityLevel.HEADS_ONLY,
)


@pytest.fixture(scope="module")
def scene():
    """Small frames of one still face (a little sensor noise) and that face's 5 points."""
    source = SyntheticSource([Motion((160, 120), scale=0.6)], size=(320, 240), noise=2.0)
    return [source.render(i) for i in range(4)], source.ground_truth(0)[0]


def _runs(levels: list[QualityLevel]) -> list[tuple[QualityLevel, int]]:
    """Levels as (level, how many frames in a row)."""
    return [(level, len(list(group))) for level, group in itertools.groupby(levels)]


def _on_clock(scene, fps: float, seconds: float, controls=None, open_engine=None, options=None, **costs):
    """A pipeline, its camera and sink on a fake clock, the engine's work costing `costs`."""
    frames, points = scene
    clock = FakeClock()
    camera = Camera(frames, fps, round(fps * seconds), clock)
    sink = CollectSink(clock)
    pipeline = LivePipeline(
        lambda: camera,
        [sink],
        options or LiveOptions(fps=fps),
        controls,
        open_engine=open_engine or (lambda style: engine_of()),
        tracker_factory=lambda: FakeTracker([points]),
        clock=clock,
        open_stylizer=ClockedStylizers(clock, **costs),
    )
    return pipeline, camera, sink, clock


@pytest.mark.parametrize(
    ("fps", "head_ms", "background_ms", "levels", "dropped"),
    [
        (30, 10, 60, [(FULL, 7), (ASYNC, 149), (FULL, 109)], 5),
        (60, 4, 40, [(FULL, 6), (ASYNC, 288), (FULL, 238)], 8),
    ],
)
def test_slow_engine_latency_stays_bounded_and_quality_degrades_then_recovers(
    scene, fps, head_ms, background_ms, levels, dropped
):
    """The background takes longer than a frame: the first measured frame moves the stream to the
    asynchronous background (heads only on the frame's path; the background, refreshed every third
    frame on the side, fits three periods), and full quality comes back once the engine is fast.

    At 30 fps: frames 0-9 (the warm-up, not measured) cost 60 ms each, so 0, 1, 3, 5, 7, 9 go out
    and 2, 4, 6, 8 are dropped; frame 10 is measured at full quality, 11 is dropped behind it, and
    from frame 12 on every frame takes the 10 ms of the heads. At 4.5 s (frame 135) the engine
    gets fast: four fast backgrounds bring the background's average under 75 % of the budget
    (60 ms x 0.8^4 < 25 ms) and fifteen fitting frames later, from frame 161, full quality is back.
    """
    assert WARMUP_FRAMES == 10  # as the docstring counts
    pipeline, camera, sink, clock = _on_clock(
        scene, fps, 9.0, heads_ms=head_ms, background_ms=background_ms, fast_at=4.5
    )
    summary = run_on_clock(pipeline, camera, clock)
    assert _runs(summary.levels) == levels
    assert summary.frames_in == 9 * fps and summary.dropped == dropped
    assert summary.frames_out == summary.frames_in - summary.dropped == len(sink.indices)
    assert sink.indices == sorted(sink.indices)
    period = 1000 / fps
    latency = {c: (w - c) * 1000 for c, w in zip(sink.captured, sink.written, strict=True)}
    settled = {c: ms for c, ms in latency.items() if c >= 0.5}  # once the first measurement took effect
    assert max(settled.values()) <= period + period, "within budget + one frame"
    slow = [ms for c, ms in settled.items() if c < 4.5]
    fast = [ms for c, ms in settled.items() if c >= 4.5]
    assert slow == pytest.approx([head_ms] * len(slow)), "while slow: the heads' time, nothing waits"
    assert fast == pytest.approx([0.0] * len(fast))
    assert max(latency.values()) <= background_ms + period, "even in the warm-up: one frame waits at most"


def test_a_heads_only_stream_probes_the_background_and_recovers(scene):
    """A background too slow even on the side at half resolution (450 ms; 113 ms at half, over three
    frames of 33 ms) leaves the heads only. Every PROBE_EVERY-th frame starts a background on the
    side (at half resolution) and the next probe reads its time: the probe at 6 s reads one started
    after the engine got fast (5 s), and the stream climbs back one level at a time."""
    pipeline, camera, sink, clock = _on_clock(scene, 30, 12.0, heads_ms=10, background_ms=450, fast_at=5.0)
    summary = run_on_clock(pipeline, camera, clock)
    assert _runs(summary.levels) == [(FULL, 2), (HEADS_ONLY, 168), (LOW_RES, 28), (ASYNC, 18), (FULL, 119)]
    assert summary.frames_in == 360 and summary.frames_out == 360 - summary.dropped == 335
    latency = [(w - c) * 1000 for c, w in zip(sink.captured, sink.written, strict=True) if c >= 1.0]
    assert max(latency) <= 2 * 1000 / 30, "within budget + one frame"


def test_a_background_too_slow_for_the_budget_takes_the_builtin_one_and_comes_back(scene):
    """`--background-style auto`: the style's own background (450 ms) fits no refresh, the engine's
    fallback (the built-in style's, 20 ms) does. The stream keeps a stylized background with it
    instead of showing the room as captured; probes time the style's own on the side, and once it
    is fast it comes back. The summary counts the frames of each background."""
    from streamer.pipeline.quality import per_frame_ladder

    def engine(style):
        made = engine_of()
        made.set_fallback_background(SlowRunner())
        return made

    pipeline, camera, _, clock = _on_clock(
        scene, 30, 12.0, open_engine=engine, heads_ms=10, background_ms=450, fallback_ms=20, fast_at=5.0
    )
    summary = run_on_clock(pipeline, camera, clock)
    ladder = per_frame_ladder(fallback=True)
    fallback = next(i for i, rung in enumerate(ladder) if rung.fallback_background)
    runs = _runs(summary.levels)
    assert runs[0] == (FULL, 2) and runs[1][0] == fallback and runs[1][1] > 100
    assert all(ladder[level].background is not BackgroundMode.ORIGINAL for level, _ in runs), "never as captured"
    assert runs[-1][0] == FULL and runs[-1][1] > 100, "the style's own background came back"
    assert set(summary.backgrounds) == {"slow", "toon (built-in)"}
    assert summary.backgrounds["toon (built-in)"] == runs[1][1]
    assert any("built-in background refreshed" in status for status in summary.statuses)


def test_fast_engine_loses_nothing_and_keeps_order(scene):
    pipeline, camera, sink, clock = _on_clock(scene, 30, 3.0)
    summary = run_on_clock(pipeline, camera, clock)
    assert summary.dropped == 0
    assert sink.indices == list(range(90)) and summary.frames_in == summary.frames_out == 90
    assert set(summary.levels) == {FULL}
    assert summary.latencies_ms == [0.0] * 90


def test_stats_lines_have_the_keys_and_exact_values(tmp_path):
    """One record per second of the clock, counting exactly the frames of its window. The real
    tracker finds the face; the engine costs 5 ms of heads beside 8 ms of background."""
    from .conftest import moving_face

    frames = [f.image for f in moving_face(duration=1.0, size=(320, 240))]
    clock = FakeClock()
    camera = Camera(frames, 30, 105, clock)
    stats = tmp_path / "stats.jsonl"
    pipeline = LivePipeline(
        lambda: camera,
        [CollectSink()],
        LiveOptions(fps=30, stats_json=stats),
        open_engine=lambda style: engine_of(),
        clock=clock,
        open_stylizer=ClockedStylizers(clock, heads_ms=5, background_ms=8),
    )
    run_on_clock(pipeline, camera, clock)
    lines = [json.loads(line) for line in stats.read_text().splitlines()]
    for record in lines:
        assert tuple(record) == STATS_KEYS
    # The loop, idle, makes each record as the clock reaches it, just before that moment's frame comes.
    assert [(r["t"], r["fps_in"], r["fps_out"]) for r in lines] == [(1.0, 30, 30), (2.0, 30, 30), (3.0, 30, 30)]
    for record in lines:
        assert record["latency_ms_p50"] == record["latency_ms_p99"] == 8.0
        assert record["level"] == 0 and record["faces"] == 1 and record["dropped"] == 0
        assert record["stage_ms"] == {"track": 0.0, "heads": 5.0, "background": 8.0, "compose": 0.0}


def test_an_engine_that_fails_mid_stream_falls_back_to_passthrough_and_retries(scene, caplog):
    """The head network fails from its 21st call on (one is the warm-up): frame 19 fails, frames go
    out as captured for ENGINE_RETRY_S of the clock, the retry (frame 80) fails again; the stream goes
    on without losing a frame. Each failure is one status line and one logged traceback."""
    frames, points = scene
    clock = FakeClock()
    camera = Camera(frames, 30, 120, clock)
    sink = CollectSink(clock, keep=120)
    pipeline = LivePipeline(
        lambda: camera,
        [sink],
        LiveOptions(fps=30),
        open_engine=lambda style: engine_of(SlowRunner(fail_after=20)),
        tracker_factory=lambda: FakeTracker([points]),
        clock=clock,
        open_stylizer=ClockedStylizers(clock, heads_ms=5),
    )
    with caplog.at_level(logging.ERROR, logger="streamer"):
        summary = run_on_clock(pipeline, camera, clock)
    assert summary.statuses == [f"engine failed (device lost); {RETRYING}"] * 2
    failures = [r for r in caplog.records if r.exc_info]
    assert len(failures) == 2 and all(str(r.exc_info[1]) == "device lost" for r in failures)
    retry = 19 / 30 + 0.005 + ENGINE_RETRY_S  # the failed call's 5 ms, then the wait
    assert 79 / 30 < retry < 80 / 30, "frame 80 is the first after the wait"
    assert sink.indices == list(range(120)) and summary.dropped == 0
    untouched = [i for i in range(120) if np.array_equal(sink.pictures[i], frames[i % len(frames)])]
    assert untouched == list(range(19, 120))
    # Counted from the start: the records at 1, 2 and 3 s are made before that second's first frame.
    counts = [(r["t"], r["engine_failures"], r["passthrough_frames"]) for r in summary.stats]
    assert counts == [(1.0, 1, 11), (2.0, 1, 41), (3.0, 2, 71), (pytest.approx(119 / 30, abs=1e-3), 2, 101)]
    assert (summary.engine_failures, summary.passthrough_frames) == (2, 101)


RETRYING = f"passing frames through for {ENGINE_RETRY_S:g} s, then trying again"


class FailingWhile(SlowRunner):
    """A `SlowRunner` whose calls raise `error()` while `failing(clock())` is true; `device` is what
    it says it runs on."""

    def __init__(self, clock, failing, error, device: str = "cpu") -> None:
        super().__init__()
        self.clock, self.failing, self.error, self.device = clock, failing, error, device

    def _run(self, image):
        if self.failing(self.clock()):
            self.calls += 1
            raise self.error()
        return super()._run(image)


def _failing_run(scene, failing, error, seconds: float, device: str = "cpu"):
    """A run of `seconds` at 30 fps whose head network raises `error()` while `failing(t)`; every
    picture kept."""
    frames, points = scene
    clock = FakeClock()
    count = round(30 * seconds)
    camera = Camera(frames, 30, count, clock)
    sink = CollectSink(clock, keep=count)
    runner = FailingWhile(clock, failing, error, device)
    pipeline = LivePipeline(
        lambda: camera,
        [sink],
        LiveOptions(fps=30),
        open_engine=lambda style: engine_of(runner),
        tracker_factory=lambda: FakeTracker([points]),
        clock=clock,
        open_stylizer=ClockedStylizers(clock, heads_ms=5),
    )
    summary = run_on_clock(pipeline, camera, clock)
    untouched = [i for i in range(count) if np.array_equal(sink.pictures[i], frames[i % len(frames)])]
    assert sink.indices == list(range(count)) and summary.dropped == 0, "nothing is lost"
    return summary, untouched, runner


def test_an_engine_that_raises_on_a_run_of_frames_passes_them_through_and_comes_back(scene):
    """The head network raises while the clock is in [0.5 s, 3 s): frame 15 fails, the retry after
    ENGINE_RETRY_S (frame 76, at 2.53 s) fails again, the next retry (frame 137, at 4.57 s) works
    and the engine stays. The frames in between go out as captured, each counted."""
    summary, untouched, runner = _failing_run(scene, lambda t: 0.5 <= t < 3.0, lambda: RuntimeError("bad frame"), 5.0)
    first, second = 15 / 30 + 0.005 + ENGINE_RETRY_S, 76 / 30 + 0.005 + ENGINE_RETRY_S
    assert 75 / 30 < first < 76 / 30 and 136 / 30 < second < 137 / 30
    assert untouched == list(range(15, 137))
    assert summary.statuses == [
        f"engine failed (bad frame); {RETRYING}",
        f"engine failed (bad frame); {RETRYING}",
        "engine working again (122 frames went out as captured)",
    ]
    assert (summary.engine_failures, summary.passthrough_frames) == (2, 122)
    last = summary.stats[-1]
    assert (last["engine_failures"], last["passthrough_frames"]) == (2, 122)
    assert runner.calls == 1 + 15 + 2 + 13, "warm-up, frames 0-14, the two failures, frames 137-149"


class OutOfMemoryError(RuntimeError):
    """Named as torch's (`torch.OutOfMemoryError`, `torch.cuda.OutOfMemoryError`): no torch needed."""


ORT_ARENA = (
    "[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned while running Conv node. "
    "Name:'Conv_3' Status Message: bfc_arena.cc:376 onnxruntime::BFCArena::AllocateRawInternal "
    "Failed to allocate memory for requested buffer of size 643840"
)


@pytest.mark.parametrize(
    ("error", "device", "said"),
    [
        (lambda: OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 MiB"), "cpu", "out of GPU memory"),
        (lambda: RuntimeError(ORT_ARENA), "cuda", "out of GPU memory"),
        (lambda: RuntimeError(ORT_ARENA), "cpu", "out of memory"),
        (lambda: RuntimeError("Error Code 2: OutOfMemory (no further information)"), "cuda", "out of GPU memory"),
    ],
    ids=["torch", "onnxruntime-cuda", "onnxruntime-cpu", "tensorrt"],
)
def test_an_engine_out_of_gpu_memory_is_named_passes_frames_through_and_retries(scene, error, device, said):
    """The head network runs out of memory at 1 s, once: the status says so (no traceback, no
    message of the library's), frames go out as captured for ENGINE_RETRY_S, the retry works."""
    summary, untouched, _ = _failing_run(scene, lambda t: 1.0 <= t < 1.01, error, 4.0, device)
    assert untouched == list(range(30, 91)), "frame 30 fails; 91, at 3.03 s, is the first after the wait"
    assert summary.statuses == [f"engine {said}; {RETRYING}", "engine working again (61 frames went out as captured)"]
    assert (summary.engine_failures, summary.passthrough_frames) == (1, 61)
    counts = [(r["t"], r["engine_failures"], r["passthrough_frames"]) for r in summary.stats]
    assert counts[:3] == [(1.0, 0, 0), (2.0, 1, 30), (3.0, 1, 60)]


def test_out_of_memory_is_recognised_through_the_exceptions_it_was_raised_from():
    from streamer.pipeline.live import out_of_memory

    try:
        try:
            raise OutOfMemoryError("CUDA out of memory")
        except OutOfMemoryError as inner:
            raise ValueError("the head network failed") from inner
    except ValueError as outer:
        assert out_of_memory(outer)
    assert out_of_memory(RuntimeError("CUDNN_STATUS_ALLOC_FAILED"))
    assert not out_of_memory(RuntimeError("device lost")) and not out_of_memory(ValueError("bad shape"))


def _switch_style_after(index: int, controls: LiveControls, pipeline: LivePipeline, then=None):
    """An `after_step` that asks for the next style after frame `index` and, after the next frame
    (whose tick starts loading it), waits for the loader, then calls `then()`: the new style takes
    over from frame `index + 2`."""

    def after_step(frame):
        if frame.index == index:
            controls.next_style()
        if frame.index == index + 1:
            pipeline.style_loader.join()
            if then is not None:
                then()

    return after_step


def test_strength_zero_gives_the_original_and_styles_switch_while_running(scene):
    """Style b is asked for after frame 24; it is opened and warmed up beside the stream and takes
    over from frame 26 (the loop swaps it in once it is ready)."""
    frames, _ = scene
    runners: dict[str, SlowRunner] = {}

    def engine(style):
        runners[style] = SlowRunner()
        return engine_of(runners[style], style=style)

    controls = LiveControls("a", styles=["a", "b"])
    controls.set_strength(0.0)
    pipeline, camera, sink, clock = _on_clock(scene, 30, 2.0, controls, engine)
    summary = run_on_clock(pipeline, camera, clock, _switch_style_after(24, controls, pipeline))
    assert all(np.array_equal(image, frames[i % len(frames)]) for i, image in sink.pictures.items())
    assert list(runners) == ["a", "b"] and summary.statuses == ["style: b"] and controls.style == "b"
    assert (runners["a"].calls, runners["b"].calls) == (1 + 26, 1 + 34), "a: warm-up + frames 0-25; b: 26-59"


def test_what_the_engine_notes_about_its_backend_reaches_the_status_at_start_and_after_a_switch(scene):
    """The run's summary of how each style was opened (a backend passed over and why) is shown live."""

    def engine(style):
        opened = engine_of(style=style)
        opened.notes = [f"tensorrt skipped for {style}: TensorRT is not installed"]
        return opened

    controls = LiveControls("a", styles=["a", "b"])
    pipeline, camera, _, clock = _on_clock(scene, 30, 1.0, controls, engine)
    summary = run_on_clock(pipeline, camera, clock, _switch_style_after(5, controls, pipeline))
    assert summary.statuses == [
        "note: tensorrt skipped for a: TensorRT is not installed",
        "style: b",
        "note: tensorrt skipped for b: TensorRT is not installed",
    ]


def test_every_face_count_is_warmed_up_before_frames_when_the_engine_captures_cuda_graphs(scene):
    """CUDA graphs are captured once per input shape: the stream's first engine and a style switched
    to while running have seen every head batch size up to max_faces before their first frame."""

    class GraphRunner(SlowRunner):
        cuda_graphs = True

    runners: dict[str, GraphRunner] = {}

    def engine(style):
        runners[style] = GraphRunner()
        return engine_of(runners[style], style=style)

    controls = LiveControls("a", styles=["a", "b"])
    pipeline, camera, _, clock = _on_clock(scene, 30, 2.0, controls, engine, LiveOptions(fps=30, max_faces=3))
    at_swap: list[int] = []
    after_step = _switch_style_after(24, controls, pipeline, lambda: at_swap.extend(runners["b"].batches))
    run_on_clock(pipeline, camera, clock, after_step)
    assert runners["a"].batches == [1, 2, 3] + [1] * 26
    assert at_swap == [1, 2, 3], "the new style was warmed up before it took over"
    assert runners["b"].batches == [1, 2, 3] + [1] * 34


# -- sources: one end-of-stream rule -------------------------------------------------------------
def test_every_source_is_a_source(face_clip, scene):
    assert isinstance(RealtimeFileSource(face_clip), Source)
    assert isinstance(SyntheticSource([]), Source)
    assert isinstance(Camera(scene[0], 30, 1), Source)


def _opener(plan: list):
    """Opens the next source of `plan`, or raises the next error in it."""
    items = iter(plan)

    def open_source():
        item = next(items)
        if isinstance(item, Exception):
            raise item
        return item

    return open_source


def test_reconnecting_reopens_a_source_that_drops_and_ends_with_one_that_ends(scene):
    frames, _ = scene
    cameras = [Camera(frames, 30, 5, unplugged=True), Camera(frames, 30, 5)]
    waits: list[float] = []
    statuses: list[str] = []
    plan = [cameras[0], DeviceUnavailableError("camera missing"), cameras[1]]
    got = list(Reconnecting(_opener(plan), statuses.append, threading.Event(), retry_s=1.0, wait=waits.append))
    assert statuses == [
        "source lost: camera unplugged; retrying in 1 s",
        "source unavailable: camera missing; retrying in 1 s",
        "source back: camera",
    ]
    assert waits == [1.0, 1.0] and all(camera.closed for camera in cameras)
    assert [f.index for f in got] == list(range(10))
    assert [f.pts for f in got] == [0, 33, 67, 100, 133, 134, 167, 201, 234, 267], "pts go on after the gap"


def test_a_source_that_fails_otherwise_ends_the_stream_with_its_sentence(scene):
    class Broken(Camera):
        def __iter__(self):
            yield from super().__iter__()
            raise InvalidInputError("the file is damaged")

    frames, points = scene
    sink = CollectSink()
    pipeline = LivePipeline(
        lambda: Broken(frames, 30, 3),
        [sink],
        LiveOptions(fps=30),
        open_engine=lambda style: engine_of(),
        tracker_factory=lambda: FakeTracker([points]),
    )
    summary = pipeline.run()
    assert summary.statuses == ["source failed: the file is damaged"]
    assert summary.frames_in == 3 and summary.frames_out + summary.dropped == 3


def test_a_source_that_disappears_and_comes_back(scene):
    """The real threads: counts and states only."""
    frames, points = scene
    cameras = [Camera(frames, 30, 20, sleep=time.sleep, unplugged=True), Camera(frames, 30, 20, sleep=time.sleep)]
    sink = CollectSink()
    pipeline = LivePipeline(
        _opener([cameras[0], DeviceUnavailableError("camera missing"), cameras[1]]),
        [sink],
        LiveOptions(fps=30),
        open_engine=lambda style: engine_of(),
        tracker_factory=lambda: FakeTracker([points]),
        wait=lambda seconds: None,
    )
    summary = pipeline.run()
    text = " | ".join(summary.statuses)
    assert "source lost: camera unplugged" in text and "source unavailable: camera missing" in text
    assert "source back" in text
    assert all(camera.closed for camera in cameras)
    assert summary.frames_in == 40 and summary.frames_out + summary.dropped == 40
    assert summary.frames_out == len(sink.indices) and sink.indices == sorted(set(sink.indices))


def test_a_recording_is_valid_when_the_run_ends_early(scene, tmp_path):
    """The user quits after 40 frames of a 30 s stream: the recording holds every frame that went out."""
    from streamer.sinks.live import RecordingSink

    from .media_probe import probe

    frames, points = scene
    out = tmp_path / "rec.mp4"
    controls = LiveControls("x")

    class Quitting(Camera):
        def __iter__(self):
            for frame in super().__iter__():
                if frame.index == 40:
                    controls.quit.set()
                yield frame

    pipeline = LivePipeline(
        lambda: Quitting(frames, 30, 900, sleep=time.sleep),
        [RecordingSink(out)],
        LiveOptions(fps=30),
        controls,
        open_engine=lambda style: engine_of(),
        tracker_factory=lambda: FakeTracker([points]),
    )
    summary = pipeline.run()
    written = probe(out)
    assert 0 < summary.frames_out <= 41 and len(written.frame_times) == summary.frames_out
    assert (written.width, written.height) == (320, 240)


def test_keyframes_that_take_five_frame_periods_never_hold_a_frame_back(scene):
    """Temporal reuse with a head network that takes five frame periods (167 ms at 30 fps) per
    keyframe: keyframes are made on the side while every frame goes out carried from the older one.
    No frame is dropped or waits (each takes exactly the 5 ms of carrying its head), the output rate
    is the source's, keyframes keep coming (at least every `max_age` frames), and the scheduler
    settles on the first rung whose keyframe interval covers the network: a keyframe every 8 frames
    (267 ms), not passthrough."""
    from streamer.pipeline.cpu_device import CpuFrameDevice
    from streamer.pipeline.reuse import HeadReuse, ReuseOptions

    from .fakes import ClockedSideThread

    frames, points = scene
    clock = FakeClock()
    keyframes = ClockedSideThread(clock, 5 * 1000 / 30)
    reuses: list[HeadReuse] = []

    def reusing_device(engine):
        reuse = HeadReuse(
            engine.stylize_heads,
            engine.layout,
            engine.head_mask,
            ReuseOptions(),
            resizable=True,
            start_keyframes=keyframes.start,
            clock=clock,
        )
        reuses.append(reuse)
        return CpuFrameDevice(engine, reuse=reuse)

    camera = Camera(frames, 30, 30 * 6, clock)
    sink = CollectSink(clock)
    pipeline = LivePipeline(
        lambda: camera,
        [sink],
        LiveOptions(fps=30),
        open_engine=lambda style: engine_of(),
        tracker_factory=lambda: FakeTracker([points]),
        clock=clock,
        open_stylizer=ClockedStylizers(clock, inner=reusing_device, heads_ms=5),
    )
    summary = run_on_clock(pipeline, camera, clock)
    assert summary.frames_in == summary.frames_out == 180 and summary.dropped == 0
    assert sink.indices == list(range(180))
    assert summary.latencies_ms == pytest.approx([5.0] * 180), "no frame waits for a keyframe"
    assert keyframes.started >= 180 // ReuseOptions().max_age - 1
    assert reuses[0].keyframes >= keyframes.started - 1  # all but one in flight arrived
    ladder = pipeline.scheduler.ladder
    assert ladder[summary.levels[-1]].keyframe_every == 8 and not ladder[summary.levels[-1]].passthrough
    assert max(summary.levels) == summary.levels[-1], "it went straight to the rung that fits and stayed"


def test_streamer_live_mentions_engine_failures_in_its_per_second_line_and_its_summary(monkeypatch, tmp_path, capsys):
    """Each stays one line; a run without failures says nothing of them."""
    import streamer.pipeline.live as live
    from streamer.cli import main

    record = {
        "t": 3.0,
        "fps_in": 30,
        "fps_out": 30,
        "latency_ms_p50": None,
        "latency_ms_p99": None,
        "dropped": 0,
        "level": 0,
        "rung": "full",
        "keyframes": 0,
        "faces": 1,
        "stage_ms": {},
        "engine_failures": 2,
        "passthrough_frames": 71,
    }
    assert tuple(record) == STATS_KEYS

    class Pipeline:
        def __init__(self, open_source, sinks, options, controls, on_stats=None, **kw):
            self.on_stats = on_stats

        def run(self):
            self.on_stats(record)
            self.on_stats({**record, "engine_failures": 0, "passthrough_frames": 0})
            return live.LiveSummary(frames_in=120, frames_out=120, engine_failures=2, passthrough_frames=101)

    monkeypatch.setattr(live, "LivePipeline", Pipeline)
    assert main(["live", "--source", "udp://127.0.0.1:9", "--sink", f"file:{tmp_path / 'o.mp4'}"]) == 0
    out, err = capsys.readouterr()
    per_second = err.splitlines()
    assert len(per_second) == 2 and per_second[0].endswith("level 0: full  engine failed 2x, 71 passed through")
    assert per_second[1].endswith("level 0: full")
    assert out.count("\n") == 1
    assert out.rstrip().endswith(
        f"; the engine failed 2 times (101 frames went out as captured); 0 frames recorded to {tmp_path / 'o.mp4'}"
    )
