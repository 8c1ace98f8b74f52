"""`LivePipeline`: a live source through tracking and stylizing to one or more sinks, within a
latency budget.

    capture thread ──latest──▶ main: track ▸ plan ▸ stylize ▸ strength ──latest/short──▶ sink threads

- Every link keeps the newest frame (sinks that record keep a short queue) and counts what it
  drops: capture never waits, nothing queues without bound, latency cannot grow.
- Heads are stylized on every frame, or (temporal reuse, the default for learned styles) stylized
  at keyframes on a thread of their own and carried to every frame by optical flow, so no frame
  waits for a head network.
- `LatencyScheduler` predicts each rung's cost from per-stage moving averages and degrades (keyframes
  further apart and smaller, the background refreshed on the side, then smaller, then by the
  engine's fallback network (the built-in style's, `--background-style auto`), then as captured,
  then every other frame, passthrough last) before the output falls behind, and recovers with
  hysteresis. A change of rung is a status line saying why; the summary counts the stylized frames
  by whose background they went out with.
- Glass-to-glass latency is measured per frame, from capture to the write of the first sink that
  shows the newest frame (a window, a camera, a stream; a recording's queue is not what a viewer
  waits for), or of the first sink when all of them record.
- Once a second a stats record is made (and appended as one JSON line to `stats_json`), with the
  keys t, fps_in, fps_out, latency_ms_p50, latency_ms_p99, dropped, level, rung, keyframes, faces,
  stage_ms, engine_failures, passthrough_frames (`level` indexes the ladder, `rung` says it in words,
  `keyframes` were stylized that second; `dropped`, `engine_failures` and `passthrough_frames` count
  from the start: the times the engine raised, and the frames sent as captured because it had).
- `LiveControls` changes the style, the background and the strength while running.
- A source that drops is reopened (status line); an engine that throws (any exception; running out
  of GPU memory is recognised and named) turns into passthrough for `ENGINE_RETRY_S`, then is tried
  again (a status line each way, the traceback logged, both counted in the stats); a style switched
  to that cannot be opened leaves the current style running (status line); a failing sink stops
  alone (status line).

`step(frame, now)` is one frame's whole way through the main loop; `run()` is the threads and the
loop around it. Time is read from an injected clock and every wait is injectable, so the loop runs
on a fake clock in tests, frame by frame, with exact results.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from streamer.capture.live import Reconnecting
from streamer.capture.source import OpenSource
from streamer.engines.options import BACKGROUNDS, EngineOptions
from streamer.engines.registry import uses_reuse
from streamer.errors import StreamerError
from streamer.frame import Frame
from streamer.pipeline.links import DropLink, LinkClosed
from streamer.pipeline.quality import (
    LOW_RES_FACTOR,
    BackgroundMode,
    Rung,
    background_mode,
    per_frame_ladder,
    reuse_ladder,
)
from streamer.pipeline.reuse import ReuseOptions
from streamer.pipeline.scheduler import LatencyScheduler, SchedulerOptions
from streamer.pipeline.sink_worker import SinkWorker
from streamer.pipeline.stylizer import FrameStylizer, open_frame_stylizer
from streamer.sinks.base import Sink, SteeringSink

if TYPE_CHECKING:
    from streamer.engines.base import StyleEngine
    from streamer.tracking.tracker import FaceTracker

# Tracebacks go to this logger; the user sees the status line (see `streamer/__init__.py`).
log = logging.getLogger("streamer")

STATS_KEYS = (
    "t",
    "fps_in",
    "fps_out",
    "latency_ms_p50",
    "latency_ms_p99",
    "dropped",
    "level",
    "rung",
    "keyframes",
    "faces",
    "stage_ms",
    "engine_failures",
    "passthrough_frames",
)
ENGINE_RETRY_S = 2.0
# With temporal reuse a still background is stylized again only when the picture changes, so a
# refresh may take this many frame periods (a quarter second at 30 fps) without showing.
REUSE_REFRESH_FRAMES = 8
# In the degraded levels, measure what is switched off every this many frames, so the scheduler
# notices when there is room again (level 4 pays for one full frame then; the others nothing).
PROBE_EVERY = 30
# The first frames pay for model start-up (MediaPipe graphs, first inferences): not a measure of
# the steady state, so the scheduler does not learn from them.
WARMUP_FRAMES = 10


@dataclass
class LiveOptions(EngineOptions):
    """The engine's options (`EngineOptions`: style, backend, device, precision, background style,
    threads), then the live loop's own."""

    threads: int = 2  # per network: live frames go one at a time, so each may use both cores
    fps: float = 30.0
    # The most a frame's own work may take (a rung sending every other frame may take its period).
    latency_budget_ms: float | None = None  # default: one frame period
    min_fps: float = 15.0  # the scheduler sends at least this many frames per second while stylizing
    duration: float | None = None
    stats_json: Path | None = None
    max_faces: int = 4
    detect_every: int = 10
    background_short_side: int | None = 360

    @property
    def budget_ms(self) -> float:
        return self.latency_budget_ms or 1000.0 / self.fps


class LiveControls:
    """What may change while running (thread-safe): style, background on/off, strength, overlay."""

    def __init__(self, style: str, styles: list[str] | None = None) -> None:
        self._lock = threading.Lock()
        self.style = style
        self.styles = styles or [style]
        self.requested_style: str | None = None
        self.background = True
        self.strength = 1.0
        self.overlay = True
        self.quit = threading.Event()

    def set_style(self, name: str) -> None:
        with self._lock:
            self.requested_style = name

    def next_style(self) -> None:
        with self._lock:
            i = self.styles.index(self.style) if self.style in self.styles else -1
            self.requested_style = self.styles[(i + 1) % len(self.styles)]

    def toggle_background(self) -> None:
        with self._lock:
            self.background = not self.background

    def set_strength(self, value: float) -> None:
        with self._lock:
            self.strength = float(np.clip(value, 0.0, 1.0))

    def take_style_request(self) -> str | None:
        with self._lock:
            name, self.requested_style = self.requested_style, None
            return name


@dataclass
class LiveSummary:
    frames_in: int = 0
    frames_out: int = 0
    dropped: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    stats: list[dict] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    levels: list[int] = field(default_factory=list)
    skipped: int = 0  # frames left out by a rung that sends fewer frames than come in
    failed: bool = False  # every output failed
    source_failed: str | None = None  # the source cannot be used (not a drop: it is not reopened)
    interrupted: bool = False  # Ctrl-C (or SIGTERM) ended the run
    engine_failures: int = 0  # times the engine raised (each: ENGINE_RETRY_S of passthrough, then a retry)
    passthrough_frames: int = 0  # frames sent as captured because the engine had failed
    written: dict[str, int] = field(default_factory=dict)  # frames each sink wrote, by sink name
    # Stylized frames by the background they went out with: whose network made it, or "as captured".
    backgrounds: dict[str, int] = field(default_factory=dict)


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


class LivePipeline:
    """Runs until the source ends, `duration` passes, or `controls.quit` is set, or Ctrl-C (SIGTERM
    too, as the command line raises it): then `summary.interrupted`, and a run with a `duration` not
    yet up keeps its recordings as NAME.partial.EXT (without one, Ctrl-C is how a run ends).

    `run()` does it all: a capture thread reads the source (reopened when it drops) into a
    latest-frame link, and the main loop takes the newest frame and `step`s it. The parts are
    public so that a test can play the threads' part on a fake clock: `open()`, `capture(frame)`
    (what the capture thread does with each frame), `step(frame, now)`, `tick(now)` (what the loop
    does while no frame comes) and `close()`.

    `clock` (monotonic seconds) stamps latency and stats and times the engine's retry; `wait` is the
    wait before reopening a source (default: up to that long, until stopped); `open_stylizer(engine)`
    makes the frame stylizer (default: `open_frame_stylizer`, the best device part for the engine).
    """

    def __init__(
        self,
        open_source: OpenSource,
        sinks: list[Sink],
        options: LiveOptions,
        controls: LiveControls | None = None,
        open_engine: Callable[[str], StyleEngine] | None = None,
        tracker_factory: Callable[[], FaceTracker] | None = None,
        status: Callable[[str], None] | None = None,
        on_stats: Callable[[dict], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[float], object] | None = None,
        open_stylizer: Callable[[StyleEngine], FrameStylizer] | None = None,
    ) -> None:
        from streamer.engines.registry import open_engine as default_open_engine

        self.options = options
        self.controls = controls or LiveControls(options.style)
        self._open_source = open_source
        self._sinks = sinks
        self._open_engine = open_engine or (lambda style: default_open_engine(options.replace(style=style)))
        self._open_stylizer = open_stylizer or self._default_stylizer
        self._tracker_factory = tracker_factory
        self._status_out = status
        self._on_stats = on_stats
        self._clock = clock
        self._wait = wait
        self.summary = LiveSummary()
        self.scheduler = LatencyScheduler(self._scheduler_options())
        self.incoming = DropLink(1)  # capture -> main loop: the newest frame only
        self.style_loader: threading.Thread | None = None  # opens a switched-to style off the main loop
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._window: dict[str, list] = {"latency": [], "in": [], "out": [], "stages": []}
        self._workers: list[SinkWorker] = []
        self._engine: StyleEngine | None = None
        self._stylizer: FrameStylizer | None = None
        self._tracker: FaceTracker | None = None
        self._loaded: list[StyleEngine] = []  # a switched-to style, opened and warmed up
        self._failed_until = -math.inf  # the engine failed: frames pass through until then
        # The engine failed and has not stylized a frame since: the passthrough count at the first failure.
        self._failing_since: int | None = None
        self._opened = False
        self._start = 0.0  # the clock when the run opened
        self._next_stats = math.inf
        self.faces = 0
        self._processed = 0
        self._keyframes_seen = 0
        self.latest_stats: dict | None = None

    def _scheduler_options(self, reuse: bool = False) -> SchedulerOptions:
        o = self.options
        return SchedulerOptions(
            o.budget_ms,
            1000.0 / o.fps,
            min(o.min_fps, o.fps),
            refresh_frames=REUSE_REFRESH_FRAMES if reuse else 3,
        )

    def _default_stylizer(self, engine: StyleEngine) -> FrameStylizer:
        """The frame stylizer for `engine`: with temporal reuse (`temporal`; auto: learned styles)
        keyframes are stylized on a thread of their own."""
        reuse = ReuseOptions() if uses_reuse(self.options.replace(style=engine.style)) else None
        short_side = self.options.background_short_side
        return open_frame_stylizer(engine, background_short_side=short_side, reuse=reuse, keyframes_aside=True)

    def _use_stylizer(self, stylizer: FrameStylizer) -> None:
        """Schedule on the ladder that fits `stylizer`: keyframe rungs with temporal reuse, else the
        per-frame ladder. The scheduler starts afresh (the costs were another engine's)."""
        self._stylizer = stylizer
        reuse, size = stylizer.reuse, stylizer.engine.layout.size
        fallback = stylizer.engine.fallback_background is not None
        ladder = per_frame_ladder(fallback) if reuse is None else reuse_ladder(size, reuse.resizable, fallback)
        self.scheduler = LatencyScheduler(self._scheduler_options(reuse is not None), ladder, size)
        self._keyframes_seen = 0

    # -- status and stats --------------------------------------------------------------------------
    def status(self, text: str) -> None:
        self.summary.statuses.append(text)
        if self._status_out:
            self._status_out(text)

    def _written(self, frame: Frame, t_written: float) -> None:
        with self._lock:
            ms = (t_written - frame.t_capture) * 1000.0
            self.summary.latencies_ms.append(ms)
            self.summary.frames_out += 1
            self._window["latency"].append(ms)
            self._window["out"].append(t_written)

    def _dropped(self) -> int:
        return self.incoming.dropped + sum(w.link.dropped for w in self._workers)

    def _emit_stats(self, t: float, dropped: int) -> dict:
        with self._lock:
            window, self._window = self._window, {"latency": [], "in": [], "out": [], "stages": []}
        stage_ms: dict[str, float] = {}
        for name in {k for s in window["stages"] for k in s}:
            values = [s[name] for s in window["stages"] if name in s]
            stage_ms[name] = round(float(np.median(values)), 2)
        record = {
            "t": round(t, 3),
            "fps_in": len(window["in"]),
            "fps_out": len(window["out"]),
            "latency_ms_p50": _percentile(window["latency"], 50),
            "latency_ms_p99": _percentile(window["latency"], 99),
            "dropped": dropped,
            "level": self.scheduler.level,
            "rung": self.scheduler.rung.describe(),
            "keyframes": self._keyframes_since_stats(),
            "faces": self.faces,
            "stage_ms": stage_ms,
            "engine_failures": self.summary.engine_failures,
            "passthrough_frames": self.summary.passthrough_frames,
        }
        self.summary.stats.append(record)
        self.latest_stats = record
        if self._on_stats:
            self._on_stats(record)
        if self.options.stats_json:
            with open(self.options.stats_json, "a") as f:
                f.write(json.dumps(record) + "\n")
        return record

    def _keyframes_since_stats(self) -> int:
        reuse = self._stylizer.reuse if self._stylizer is not None else None
        if reuse is None:
            return 0
        count, self._keyframes_seen = reuse.keyframes - self._keyframes_seen, reuse.keyframes
        return count

    # -- the run ----------------------------------------------------------------------------------
    def run(self) -> LiveSummary:
        self.open()
        capture = threading.Thread(target=self._capture, name="capture", daemon=True)
        capture.start()
        try:
            while not self._stop.is_set() and not self.controls.quit.is_set():
                if self.options.duration is not None and self._clock() - self._start >= self.options.duration:
                    break
                try:
                    frame = self.incoming.get(0.05)
                except LinkClosed:  # the source ended
                    break
                going = self.tick(self._clock()) if frame is None else self.step(frame, self._clock())
                if not going:
                    break
        except KeyboardInterrupt:
            self.summary.interrupted = True
            self.status("interrupted")
        finally:
            self._stop.set()
            capture.join(5)
            self.close(partial=self.summary.interrupted and self.options.duration is not None)
        return self.summary

    def open(self, sink_threads: bool = True) -> None:
        """Open the engine, the frame stylizer, the tracker and one worker per sink, and warm the
        models up. Without `sink_threads`, sinks write on the caller's thread as frames are offered."""
        from streamer.tracking.tracker import FaceTracker, TrackerOptions

        options = self.options
        try:
            self._engine = engine = self._open_engine(self.controls.style)
            self._report_notes(engine)
            self._use_stylizer(self._open_stylizer(engine))
            self._tracker = tracker = (
                self._tracker_factory or (lambda: FaceTracker(TrackerOptions(options.max_faces, options.detect_every)))
            )()
            for sink in self._sinks:
                if isinstance(sink, SteeringSink):
                    sink.attach(self.controls, lambda: self.latest_stats)
            timed = _latency_sink(self._sinks)
            self._workers = [
                SinkWorker(
                    sink, options.fps, self.status, self._written if i == timed else None, self._clock, sink_threads
                )
                for i, sink in enumerate(self._sinks)
            ]
            self._warm_up(tracker, engine)
        except BaseException:
            self._release()
            raise
        self._opened = True
        self._start = self._clock()
        self._next_stats = self._start + 1.0

    def capture(self, frame: Frame) -> None:
        """A frame from the source: counted, and handed to the main loop (never waits)."""
        with self._lock:
            self._window["in"].append(frame.t_capture)
            self.summary.frames_in += 1
        self.incoming.put(frame)

    def step(self, frame: Frame, now: float) -> bool:
        """One frame through the main loop at time `now`: `tick`, then tracked, stylized at the
        scheduler's level and offered to every sink. False: the run should stop."""
        if not self.tick(now):
            return False
        divisor = self.scheduler.rung.rate_divisor
        if divisor > 1 and frame.index % divisor:  # a rung that sends fewer frames: this one is skipped
            self.summary.skipped += 1
            return True
        result = frame.with_image(self._process(frame, now))
        for worker in self._workers:
            worker.offer(result)
        return True

    def tick(self, now: float) -> bool:
        """What the loop does at `now` whether a frame came or not: a stats record when one is due,
        a requested style started loading or a loaded one swapped in. False when every output failed."""
        if now >= self._next_stats:
            self._emit_stats(now - self._start, self._dropped())
            self._next_stats += 1.0
        if self._loaded:  # before a new request: a style starts loading and takes over on different ticks
            engine = self._loaded.pop()
            for part in (self._stylizer, self._engine):
                if part is not None:
                    part.close()
            self._engine = engine
            self._use_stylizer(self._open_stylizer(engine))
            self.status(f"style: {engine.style}")
            self._report_notes(engine)
        requested = self.controls.take_style_request()
        if requested:
            self._switch_style(requested)
        if self._workers and all(w.failed for w in self._workers):
            if not self.summary.failed:
                self.status("every output failed; stopping")
                self.summary.failed = True
            return False
        return True

    def close(self, partial: bool = False) -> LiveSummary:
        """Close the sinks (a recording writes what is still queued), the stylizer, the engine and the
        tracker; a last stats record unless its window would be tiny. `partial`: recordings are kept
        as NAME.partial.EXT (a run cut short)."""
        self._release(partial)
        self.summary.dropped = self._dropped()
        self.summary.written = {worker.sink.name: worker.written for worker in self._workers}
        if self._opened:
            now = self._clock()
            if now - (self._next_stats - 1.0) >= 0.5:
                self._emit_stats(now - self._start, self.summary.dropped)
        return self.summary

    def _release(self, partial: bool = False) -> None:
        for worker in self._workers:
            worker.close(partial=partial)
        if self.style_loader is not None:
            self.style_loader.join(30)
        for part in (self._stylizer, self._engine, *self._loaded, self._tracker):
            if part is not None:
                part.close()
        self._stylizer = self._engine = self._tracker = None
        self._loaded = []

    def _report_notes(self, engine: StyleEngine) -> None:
        """What the user should know about how the engine was opened (a backend passed over and
        why, a fallback), one status line each."""
        for note in engine.notes:
            self.status(f"note: {note}")

    def _warm_up(self, tracker: FaceTracker, engine: StyleEngine) -> None:
        """Run the models once before the first frame, so it does not pay for their start-up."""
        tracker.update(np.zeros((240, 320, 3), np.uint8), 0.0)
        self._warm_up_engine(engine)

    def _warm_up_engine(self, engine: StyleEngine) -> None:
        """Run `engine` once; with CUDA graphs (captured once per input shape), once per face count
        up to `max_faces`, so no frame with a new number of faces pays for a capture."""
        size = engine.layout.size
        counts = self.options.max_faces if engine.capabilities.cuda_graphs else 1
        for n in range(1, counts + 1):
            engine.stylize_heads(np.zeros((n, size, size, 3), np.uint8))
        engine.stylize_background(np.zeros((240, 320, 3), np.uint8))
        if engine.fallback_background is not None:
            engine.stylize_background(np.zeros((240, 320, 3), np.uint8), fallback=True)

    def _capture(self) -> None:
        """The capture thread: the source's frames into the link until its stream ends."""
        try:
            for frame in Reconnecting(self._open_source, self.status, self._stop, wait=self._wait):
                self.capture(frame)
        except StreamerError as exc:
            self.summary.source_failed = str(exc)
            self.status(f"source failed: {exc}")
        except Exception as exc:
            log.error("the source failed", exc_info=exc)
            self.status(f"source failed ({type(exc).__name__}: {_first_line(exc)})")
        finally:
            self.incoming.close()

    def _switch_style(self, name: str) -> None:
        """Open and warm up the new style's engine off the main loop; `tick` swaps it in when ready.
        A style that cannot be opened (not installed, a damaged model) is one status line, and the
        current style goes on as it was."""

        def load() -> None:
            try:
                engine = self._open_engine(name)
                try:
                    self._warm_up_engine(engine)
                except Exception:
                    engine.close()
                    raise
                self._loaded.append(engine)
                self.controls.style = name
            except StreamerError as exc:
                self.status(f"style {name} not available: {exc}; {self.controls.style} goes on")
            except Exception as exc:
                log.error("style %s could not be opened", name, exc_info=exc)
                self.status(f"style {name} not available ({_first_line(exc)}); {self.controls.style} goes on")

        self.style_loader = threading.Thread(target=load, name="style loader", daemon=True)
        self.style_loader.start()

    def _process(self, frame: Frame, now: float) -> np.ndarray:
        """The picture that goes out for `frame`, at the scheduler's rung (or as captured while the
        engine is failed); the frame's stage times go to the scheduler."""
        scheduler = self.scheduler
        level, rung = scheduler.level, scheduler.rung
        self.summary.levels.append(level)
        probe = frame.index % PROBE_EVERY == 0
        if now < self._failed_until:
            self.summary.passthrough_frames += 1
            return frame.image
        if rung.passthrough and not probe:
            return frame.image
        tracker, stylizer = self._tracker, self._stylizer
        assert tracker is not None and stylizer is not None, "open() first"
        t0 = self._clock()
        faces = tracker.update(frame.image, frame.time)
        frame.stage_ms["track"] = (self._clock() - t0) * 1000.0
        self.faces = len(faces)
        mode = background_mode(rung, self.controls.background, probe)
        # A probe measures the style's own background (not shown: the frame as captured, or the
        # fallback's) at the lower resolution, where it will be shown first; it always starts one
        # on the side (that is what it measures).
        at_fallback = rung.fallback_background and mode is BackgroundMode.ASYNC
        probe_own = mode is BackgroundMode.PROBE or (probe and at_fallback)
        factor = LOW_RES_FACTOR if probe_own else rung.background_factor
        self._processed += 1
        refresh = probe_own or self._processed % scheduler.options.refresh_frames == 0
        head_scale = 1.0
        if stylizer.reuse is not None:
            stylizer.reuse.options.keyframe_every = max(2, rung.keyframe_every)
            stylizer.reuse.options.head_size = rung.head_size
            head_scale = (rung.head_size or stylizer.engine.layout.size) / stylizer.engine.layout.size
        try:
            out = stylizer(frame, faces, mode, factor, refresh, rung.fallback_background, False if probe_own else None)
        except Exception as exc:
            log.error("engine failed; passing frames through for %g s", ENGINE_RETRY_S, exc_info=exc)
            self.summary.engine_failures += 1
            if self._failing_since is None:
                self._failing_since = self.summary.passthrough_frames
            self.summary.passthrough_frames += 1
            retry = f"passing frames through for {ENGINE_RETRY_S:g} s, then trying again"
            self.status(f"{_engine_failure(exc, stylizer.engine)}; {retry}")
            self._failed_until = self._clock() + ENGINE_RETRY_S
            return frame.image
        if self._failing_since is not None:
            passed = self.summary.passthrough_frames - self._failing_since
            self.status(f"engine working again ({passed} frames went out as captured)")
            self._failing_since = None
        strength = self.controls.strength
        if strength < 1.0:
            out = cv2.addWeighted(out, strength, frame.image, 1.0 - strength, 0.0)
        self._count_background(mode, rung, stylizer.engine)
        if frame.index >= WARMUP_FRAMES:
            scheduler.observe(frame.stage_ms, stylizer.background_factor_done, head_scale)
            if scheduler.update(frames=PROBE_EVERY if rung.passthrough else 1) != level:
                self.status(f"quality: {scheduler.rung.describe()} ({scheduler.reason})")
        if rung.passthrough:  # a probe: measured, but this frame still goes out untouched
            out = frame.image
        with self._lock:
            self._window["stages"].append(dict(frame.stage_ms))
        return out

    def _count_background(self, mode: BackgroundMode, rung: Rung, engine: StyleEngine) -> None:
        """Count the background a stylized frame went out with, by whose network made it."""
        if rung.passthrough:
            return
        if mode in (BackgroundMode.ORIGINAL, BackgroundMode.PROBE):
            shown = "as captured"
        elif rung.fallback_background and engine.fallback_background is not None:
            shown = f"{BACKGROUNDS['auto'].fallback_of} (built-in)"
        else:
            shown = engine.background_of or "as captured"
        backgrounds = self.summary.backgrounds
        backgrounds[shown] = backgrounds.get(shown, 0) + 1


# What ONNX Runtime (its BFC arena, CUDA, cuBLAS, cuDNN), TensorRT and torch say when an allocation
# fails: "Failed to allocate memory for requested buffer", "CUDA failure 2: out of memory",
# "CUBLAS_STATUS_ALLOC_FAILED", "Error Code 2: OutOfMemory", "CUDA out of memory".
_OUT_OF_MEMORY = re.compile(r"out ?of ?memory|failed to allocate memory|_ALLOC_FAILED|cudaErrorMemoryAllocation", re.I)


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and the exceptions it was raised from or while handling."""
    found: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and all(cause is not seen for seen in found):
        found.append(cause)
        cause = cause.__cause__ or cause.__context__
    return found


def out_of_memory(exc: BaseException) -> bool:
    """Whether `exc`, or an exception it was raised from, says a device ran out of memory: torch's
    `OutOfMemoryError` (`torch.cuda.OutOfMemoryError` before torch 2.5), or an error whose message
    says an allocation failed. Matched by type name and message, so torch is never imported here."""
    return any(type(e).__name__ == "OutOfMemoryError" or _OUT_OF_MEMORY.search(str(e)) for e in _chain(exc))


def _engine_failure(exc: BaseException, engine: StyleEngine) -> str:
    """The status line's first half for an engine that raised `exc`: "engine out of GPU memory"
    (torch's error, a message naming CUDA, or a runner on a GPU), "engine out of memory", or
    "engine failed (the message's first line)"."""
    if not out_of_memory(exc):
        return f"engine failed ({_first_line(exc)})"
    said = " ".join(f"{type(e).__name__} {e}" for e in _chain(exc))
    runners = [r for r in (engine.head_runner, engine.background_runner) if r is not None]
    on_gpu = re.search(r"OutOfMemoryError|cuda|gpu", said, re.I) or any(r.device.startswith("cuda") for r in runners)
    return f"engine out of {'GPU ' if on_gpu else ''}memory"


def _latency_sink(sinks: list[Sink]) -> int:
    """The index of the sink whose writes time glass-to-glass latency: the first that keeps only the
    newest frame (`queue_frames` 1), else the first."""
    return next((i for i, sink in enumerate(sinks) if sink.queue_frames == 1), 0)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:120] if lines else type(exc).__name__
