"""`LivePipeline`: a live source through tracking and stylizing to one or more sinks, within a
latency budget.

    capture thread ──latest──▶ main: track ▸ plan ▸ stylize ▸ strength ──latest/short──▶ sink threads

- Every link keeps the newest frame (sinks that record keep a short queue) and counts what it
  drops: capture never waits, nothing queues without bound, latency cannot grow.
- `LatencyScheduler` predicts each quality level's cost from per-stage moving averages and degrades
  (background refreshed asynchronously, then smaller, then heads only, then passthrough) before the
  output falls behind, and recovers with hysteresis.
- Glass-to-glass latency is measured per frame, from capture to the first sink's write.
- Once a second a stats record is made (and appended as one JSON line to `stats_json`), with the
  keys t, fps_in, fps_out, latency_ms_p50, latency_ms_p99, dropped, level, faces, stage_ms.
- `LiveControls` changes the style, the background and the strength while running.
- A source that drops is reopened (status line); an engine that throws turns into passthrough for
  a moment (status line); a failing sink stops alone (status line).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from streamer.capture.live import Reconnecting
from streamer.frame import Frame, StageClock
from streamer.pipeline.links import END, DropLink
from streamer.pipeline.quality import BackgroundMode, background_mode
from streamer.pipeline.scheduler import LatencyScheduler, SchedulerOptions
from streamer.pipeline.stylizer import FrameStylizer, open_frame_stylizer
from streamer.sinks.live import Sink, SinkWorker

STATS_KEYS = ("t", "fps_in", "fps_out", "latency_ms_p50", "latency_ms_p99", "dropped", "level", "faces", "stage_ms")
ENGINE_RETRY_S = 2.0
# In the degraded levels, measure what is switched off every this many frames, so the scheduler
# notices when there is room again (level 4 pays for one full frame then; the others nothing).
PROBE_EVERY = 30
# The first frames pay for model start-up (MediaPipe graphs, first inferences): not a measure of
# the steady state, so the scheduler does not learn from them.
WARMUP_FRAMES = 10


@dataclass
class LiveOptions:
    fps: float = 30.0
    latency_budget_ms: float | None = None  # default: one frame period
    duration: float | None = None
    stats_json: Path | None = None
    style: str = "toon"
    backend: str = "auto"
    device: str = "auto"
    precision: str = "auto"
    background_style: str = "same"
    threads: int = 2  # per network: live frames go one at a time, so each may use both cores
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
    failed: bool = False  # every output failed


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


class LivePipeline:
    """Runs until the source ends, `duration` passes, or `controls.quit` is set."""

    def __init__(
        self,
        open_source: Callable[[], object],
        sinks: list[Sink],
        options: LiveOptions,
        controls: LiveControls | None = None,
        open_engine: Callable | None = None,
        tracker_factory: Callable | None = None,
        status: Callable[[str], None] | None = None,
        on_stats: Callable[[dict], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from streamer.engines.registry import open_engine as default_open_engine

        self.options = options
        self.controls = controls or LiveControls(options.style)
        self._open_source = open_source
        self._sinks = sinks
        self._open_engine = open_engine or (
            lambda style: default_open_engine(
                style,
                options.backend,
                threads=options.threads,
                device=options.device,
                precision=options.precision,
                background_style=options.background_style,
            )
        )
        self._tracker_factory = tracker_factory
        self._status_out = status
        self._on_stats = on_stats
        self._clock = clock
        self.summary = LiveSummary()
        self.scheduler = LatencyScheduler(SchedulerOptions(options.budget_ms, 1000.0 / options.fps))
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._window: dict[str, list] = {"latency": [], "in": [], "out": [], "stages": []}
        self.faces = 0
        self._processed = 0
        self.latest_stats: dict | None = None

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
            "faces": self.faces,
            "stage_ms": stage_ms,
        }
        self.summary.stats.append(record)
        self.latest_stats = record
        if self._on_stats:
            self._on_stats(record)
        if self.options.stats_json:
            with open(self.options.stats_json, "a") as f:
                f.write(json.dumps(record) + "\n")
        return record

    # -- the run ----------------------------------------------------------------------------------
    def run(self) -> LiveSummary:
        from streamer.tracking.tracker import FaceTracker, TrackerOptions

        options = self.options
        engine = self._open_engine(self.controls.style)
        stylizer = open_frame_stylizer(engine, background_short_side=options.background_short_side)
        tracker = (
            self._tracker_factory or (lambda: FaceTracker(TrackerOptions(options.max_faces, options.detect_every)))
        )()
        for sink in self._sinks:
            if hasattr(sink, "attach"):
                sink.attach(self.controls, lambda: self.latest_stats)
        workers = [
            SinkWorker(sink, options.fps, self.status, self._written if i == 0 else None)
            for i, sink in enumerate(self._sinks)
        ]
        self._warm_up(tracker, engine)
        incoming = DropLink(1)
        capture = threading.Thread(target=self._capture, args=(incoming,), name="capture", daemon=True)
        pending_engine: list = []
        engine_failed_until = 0.0
        start = self._clock()
        next_stats = start + 1.0
        capture.start()
        try:
            while not self._stop.is_set() and not self.controls.quit.is_set():
                now = self._clock()
                if now >= next_stats:
                    dropped = incoming.dropped + sum(w.link.dropped for w in workers)
                    self._emit_stats(now - start, dropped)
                    next_stats += 1.0
                if options.duration is not None and now - start >= options.duration:
                    break
                requested = self.controls.take_style_request()
                if requested:
                    self._switch_style(requested, pending_engine)
                if pending_engine:
                    new = pending_engine.pop()
                    stylizer.close()
                    engine.close()
                    engine = new
                    stylizer = open_frame_stylizer(engine, background_short_side=options.background_short_side)
                    self.status(f"style: {engine.style}")
                if workers and all(w.failed for w in workers):
                    self.status("every output failed; stopping")
                    self.summary.failed = True
                    break
                frame = incoming.get(0.05)
                if frame is END:
                    break
                if frame is None:
                    continue
                out, engine_failed_until = self._process(frame, tracker, stylizer, engine_failed_until)
                result = frame.with_image(out)
                for worker in workers:
                    worker.offer(result)
        except KeyboardInterrupt:
            self.status("interrupted")
        finally:
            self._stop.set()
            capture.join(5)
            for worker in workers:
                worker.close()
            stylizer.close()
            engine.close()
            tracker.close()
            self.summary.dropped = incoming.dropped + sum(w.link.dropped for w in workers)
            if self._clock() - (next_stats - 1.0) >= 0.5:  # a last record, unless the window is tiny
                self._emit_stats(self._clock() - start, self.summary.dropped)
        return self.summary

    def _warm_up(self, tracker, engine) -> None:
        """Run the models once before the first frame, so it does not pay for their start-up."""
        tracker.update(np.zeros((240, 320, 3), np.uint8), 0.0)
        self._warm_up_engine(engine)

    def _warm_up_engine(self, engine) -> None:
        """Run `engine` once; with CUDA graphs (captured once per input shape), once per face count
        up to `max_faces`, so no frame with a new number of faces pays for a capture."""
        size = engine.layout.size
        counts = self.options.max_faces if engine.capabilities.cuda_graphs else 1
        for n in range(1, counts + 1):
            engine.stylize_heads(np.zeros((n, size, size, 3), np.uint8))
        engine.stylize_background(np.zeros((240, 320, 3), np.uint8))

    def _capture(self, incoming: DropLink) -> None:
        try:
            for frame in Reconnecting(self._open_source, self.status, self._stop):
                with self._lock:
                    self._window["in"].append(frame.t_capture)
                self.summary.frames_in += 1
                incoming.put(frame)
        finally:
            incoming.close()

    def _switch_style(self, name: str, ready: list) -> None:
        """Open and warm up the new style's engine off the main thread; the main loop swaps it in
        when ready."""

        def load() -> None:
            try:
                engine = self._open_engine(name)
                try:
                    self._warm_up_engine(engine)
                except Exception:
                    engine.close()
                    raise
                ready.append(engine)
                self.controls.style = name
            except Exception as exc:
                self.status(f"style {name} not available: {exc}")

        threading.Thread(target=load, name="style loader", daemon=True).start()

    def _process(self, frame: Frame, tracker, stylizer: FrameStylizer, failed_until: float) -> tuple:
        level = self.scheduler.level
        self.summary.levels.append(level)
        probe = frame.index % PROBE_EVERY == 0
        if self._clock() < failed_until or (level == 4 and not probe):
            return frame.image, failed_until
        with StageClock(frame, "track"):
            faces = tracker.update(frame.image, frame.time)
        self.faces = len(faces)
        mode = background_mode(level, self.controls.background, probe)
        # A probe measures the background at the lower resolution, where it will be shown first.
        factor = (
            self.scheduler.options.low_res_factor if mode is BackgroundMode.PROBE else self.scheduler.background_factor
        )
        try:
            self._processed += 1
            refresh = self._processed % self.scheduler.options.refresh_frames == 0
            out = stylizer(frame, faces, mode, factor, refresh)
        except Exception as exc:
            self.status(f"engine failed ({str(exc).splitlines()[0][:120]}); passing frames through")
            return frame.image, self._clock() + ENGINE_RETRY_S
        strength = self.controls.strength
        if strength < 1.0:
            out = cv2.addWeighted(out, strength, frame.image, 1.0 - strength, 0.0)
        if frame.index >= WARMUP_FRAMES:
            self.scheduler.observe(frame.stage_ms, factor)
            self.scheduler.update(frames=PROBE_EVERY if level == 4 else 1)
        if level == 4:  # a probe: measured, but this frame still goes out untouched
            out = frame.image
        with self._lock:
            self._window["stages"].append(dict(frame.stage_ms))
        return out, failed_until
