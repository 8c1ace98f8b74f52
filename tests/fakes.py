"""Fakes shared by the tests: the world (clocks, sources, sinks, engines), never the logic under test."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any

import numpy as np

from streamer.engines.base import DCTNET_LAYOUT, StyleEngine
from streamer.engines.runner import Runner, TensorSpec
from streamer.errors import DeviceUnavailableError
from streamer.frame import Frame

# Comparisons of fake times: sums of float periods and costs may miss an exact tie by an ulp.
EPSILON = 1e-9


class FakeClock:
    """A monotonic clock in seconds that moves only when told (`advance`); callable like `time.monotonic`.

    `sleep` and `wait` make time pass at once (`wait` returns False: nothing stopped it)."""

    def __init__(self, start: float = 0.0) -> None:
        self.t = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.t += seconds

    def advance_to(self, t: float) -> None:
        with self._lock:
            self.t = max(self.t, t)

    def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))

    def wait(self, seconds: float) -> bool:
        self.sleep(seconds)
        return False


# -- sources --------------------------------------------------------------------------------------
class Camera:
    """A camera with known pictures: `count` frames at `fps` (`frames[i % len(frames)]`), stamped with
    their capture time on `clock`. A `Source`: its iteration ends after the last frame, or raises
    `DeviceUnavailableError` (unplugged) when `unplugged` is set.

    With `sleep`, each frame waits for its time and is stamped when it comes (real threads on the real
    clock). Without, frame i is stamped `start + i / fps` at once, `start` being the clock when
    iteration begins; `run_on_clock` then delivers it when the fake clock gets there.
    """

    name = "camera"
    live = True

    def __init__(
        self,
        frames: list[np.ndarray],
        fps: float,
        count: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] | None = None,
        unplugged: bool = False,
    ) -> None:
        self.frames, self.fps, self.count = frames, fps, count
        self.clock, self.sleep, self.unplugged = clock, sleep, unplugged
        self.delivered = 0
        self.closed = False

    def __iter__(self) -> Iterator[Frame]:
        start = self.clock()
        for i in range(self.count):
            t = start + i / self.fps
            if self.sleep is not None:
                self.sleep(max(0.0, t - self.clock()))
                t = self.clock()
            self.delivered += 1
            yield Frame(self.frames[i % len(self.frames)], i, Fraction(1, round(self.fps)), i, t)
        if self.unplugged:
            raise DeviceUnavailableError("camera unplugged")

    def close(self) -> None:
        self.closed = True


def run_on_clock(
    pipeline: Any,
    source: Camera,
    clock: FakeClock,
    after_step: Callable[[Frame], None] | None = None,
) -> Any:
    """`LivePipeline.run` with its threads' part played on a fake clock, frame by frame.

    As the capture thread does, each frame is `capture`d when the clock reaches its capture time; as
    the main loop does, the newest frame waiting is `step`ped whenever the loop is free (the work
    moves the clock), else the loop sits idle (`tick`) until the next frame comes. Sinks write on
    this thread. `after_step(frame)` runs after each step. Returns the run's summary.
    """
    pipeline.open(sink_threads=False)
    frames = iter(source)
    upcoming = next(frames, None)
    try:
        while not pipeline.controls.quit.is_set():
            while upcoming is not None and upcoming.t_capture <= clock() + EPSILON:
                pipeline.capture(upcoming)
                upcoming = next(frames, None)
            frame = pipeline.incoming.get(0)
            if frame is None:
                if upcoming is None:
                    break  # the source ended
                clock.advance_to(upcoming.t_capture)
                if not pipeline.tick(clock()):
                    break
                continue
            if not pipeline.step(frame, clock()):
                break
            if after_step is not None:
                after_step(frame)
    finally:
        source.close()
        pipeline.close()
    return pipeline.summary


# -- sinks ----------------------------------------------------------------------------------------
class CollectSink:
    """Keeps each frame's index and capture time, and the first `keep` pictures (holding every frame
    would be the test's own memory growth). With `clock`, also when each was written."""

    name = "collect"
    queue_frames = 1

    def __init__(self, clock: Callable[[], float] | None = None, keep: int = 10) -> None:
        self.clock, self.keep = clock, keep
        self.indices: list[int] = []
        self.captured: list[float] = []
        self.written: list[float] = []
        self.pictures: dict[int, np.ndarray] = {}
        self.size: tuple[int, int] | None = None

    def open(self, width: int, height: int, fps: float) -> None:
        self.size = (width, height)

    def write(self, frame: Frame) -> None:
        self.indices.append(frame.index)
        self.captured.append(frame.t_capture)
        if self.clock is not None:
            self.written.append(self.clock())
        if len(self.pictures) < self.keep:
            self.pictures[frame.index] = frame.image

    def close(self) -> None:
        pass


# -- engines --------------------------------------------------------------------------------------
SPEC = TensorSpec("image", np.dtype(np.uint8), (None, None, None, 3))


class SlowRunner(Runner):
    """Returns 255 - its input after `delay` seconds of real time (changeable while running); after
    `fail_after` calls, raises ("device lost"). `batches` records each call's batch size."""

    backend = "test"
    inputs = (SPEC,)
    outputs = (TensorSpec("stylized", np.dtype(np.uint8), (None, None, None, 3)),)

    def __init__(self, delay: float = 0.0, fail_after: int | None = None) -> None:
        self.delay, self.fail_after, self.calls = delay, fail_after, 0
        self.batches: list[int] = []

    def _run(self, image: Any) -> Any:
        self.calls += 1
        self.batches.append(len(image))
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("device lost")
        if self.delay:
            time.sleep(self.delay)
        return 255 - image

    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"stylized": self._run(feed["image"])}


class SlowTensorRunner(SlowRunner):
    """A `SlowRunner` that also takes tensors (`infer_tensor`), as the torch device part's runners do."""

    takes_tensors = True

    def infer_tensor(self, image: Any, stream: Any = None) -> Any:
        return self._run(image)


def engine_of(heads: Runner | None = None, background: Runner | None = None, style: str = "slow") -> StyleEngine:
    """A `StyleEngine` on the given runners (instant `SlowRunner`s by default)."""
    return StyleEngine(style, heads or SlowRunner(), background or SlowRunner(), DCTNET_LAYOUT)


class ClockedDevice:
    """A frame stylizer's device part whose work takes declared time on a fake clock; `inner`, a real
    device part, makes the pictures.

    The heads cost `heads_ms`; a background `background_ms` at the frame's full size, in proportion
    to its pixels (`fallback_ms` with the engine's fallback network); compositing `compose_ms`.
    This frame's background runs beside the heads (a second core, a second CUDA stream) and
    compositing waits for the later of the two; a detached one runs on the side and is done once the
    clock has passed its end. From `fast_at` (clock seconds) on,
    work costs nothing: the engine became fast.
    """

    def __init__(
        self,
        clock: FakeClock,
        inner: Any,
        heads_ms: float = 0.0,
        background_ms: float = 0.0,
        compose_ms: float = 0.0,
        fast_at: float = math.inf,
        fallback_ms: float = 0.0,
    ) -> None:
        self.clock, self.inner = clock, inner
        self.heads_ms, self.background_ms, self.compose_ms, self.fast_at = heads_ms, background_ms, compose_ms, fast_at
        self.fallback_ms = fallback_ms

    def _ms(self, ms: float) -> float:
        return 0.0 if self.clock() >= self.fast_at - EPSILON else ms

    def upload(self, image: np.ndarray) -> Any:
        return self.inner.upload(image)

    @property
    def reuse(self) -> Any:
        return self.inner.reuse

    def stylize_heads(
        self, picture: Any, matrices: list[np.ndarray], ids: Any = (), stage_ms: dict | None = None
    ) -> tuple[Any, ClockedTiming]:
        timing = ClockedTiming(self.clock, self._ms(self.heads_ms))
        self.clock.advance_to(timing.end)  # a failing network takes its time too
        heads, _ = self.inner.stylize_heads(picture, matrices, ids, {} if stage_ms is None else stage_ms)
        return heads, timing

    def start_background(
        self, picture: Any, size: tuple[int, int], detached: bool, fallback: bool = False
    ) -> ClockedJob:
        h, w = picture.shape[-2:] if len(picture.shape) == 4 else picture.shape[:2]
        ms = self.fallback_ms if fallback else self.background_ms
        timing = ClockedTiming(self.clock, self._ms(ms) * size[0] * size[1] / (w * h))
        return ClockedJob(self.clock, self.inner.start_background(picture, size, detached, fallback), timing)

    def compose(
        self, canvas: Any, heads: Any, matrices: list[np.ndarray], wait_for: ClockedTiming | None
    ) -> tuple[np.ndarray, ClockedTiming]:
        if wait_for is not None:
            self.clock.advance_to(wait_for.end)
        out, _ = self.inner.compose(canvas, heads, matrices, None)
        timing = ClockedTiming(self.clock, self._ms(self.compose_ms))
        self.clock.advance_to(timing.end)
        return out, timing

    def close(self) -> None:
        self.inner.close()


class ClockedTiming:
    """Work of `ms` milliseconds that starts now on `clock`: done once the clock has passed its end."""

    def __init__(self, clock: FakeClock, ms: float) -> None:
        self.clock, self.ms = clock, ms
        self.end = clock() + ms / 1000.0

    def done(self) -> bool:
        return self.clock() >= self.end - EPSILON


class ClockedJob:
    """A background job on the fake clock: done when its timing is; its result waits for that."""

    def __init__(self, clock: FakeClock, job: Any, timing: ClockedTiming) -> None:
        self.clock, self.job, self.timing = clock, job, timing

    def done(self) -> bool:
        return self.timing.done()

    def result(self) -> tuple[Any, ClockedTiming]:
        self.clock.advance_to(self.timing.end)
        picture, _ = self.job.result()
        return picture, self.timing


class ClockedStylizers:
    """`open_stylizer` for a `LivePipeline`: the real frame stylizer on a `ClockedDevice` with these
    costs, its pictures made by `inner(engine)` (default: the NumPy/OpenCV device part). The devices
    made, one per engine, are kept in `devices`."""

    def __init__(self, clock: FakeClock, inner: Callable[[StyleEngine], Any] | None = None, **costs: float) -> None:
        self.clock, self.inner, self.costs = clock, inner, costs
        self.devices: list[ClockedDevice] = []

    def __call__(self, engine: StyleEngine) -> Any:
        from streamer.pipeline.cpu_device import CpuFrameDevice
        from streamer.pipeline.stylizer import FrameStylizer

        device = ClockedDevice(self.clock, (self.inner or CpuFrameDevice)(engine), **self.costs)
        self.devices.append(device)
        return FrameStylizer(engine, device, clock=self.clock)


# -- tracking -------------------------------------------------------------------------------------
class FakeTracker:
    """Finds the same faces in every frame: each given as its 5 points (eyes, nose tip, mouth corners)."""

    def __init__(self, faces: list[np.ndarray], clock: FakeClock | None = None, track_ms: float = 0.0) -> None:
        self.faces, self.clock, self.track_ms = faces, clock, track_ms

    def update(self, image: np.ndarray, t: float) -> list:
        from streamer.tracking.tracker import TrackedFace

        if self.clock is not None:
            self.clock.advance(self.track_ms / 1000.0)
        found = []
        for i, points in enumerate(self.faces):
            x0, y0 = points.min(axis=0)
            x1, y1 = points.max(axis=0)
            found.append(TrackedFace(i, points, points, (float(x0), float(y0), float(x1), float(y1))))
        return found

    def close(self) -> None:
        pass


def frozen_unet_constants(module) -> dict[str, np.ndarray]:
    """A DCT-Net-family `CartoonUNet`'s weights as a frozen TF graph names them (HWIO kernels):
    the content of a fake official model file."""
    from streamer.engines.convert import _UNET_LAYERS
    from streamer.engines.models.unet import tf_name_to_parameter

    state = module.state_dict()
    out = {}
    for layer in _UNET_LAYERS:
        w = state[tf_name_to_parameter(f"generator/{layer}/weights")].numpy()
        out[f"generator/{layer}/weights"] = w.transpose(2, 3, 1, 0).copy()
        out[f"generator/{layer}/biases"] = state[tf_name_to_parameter(f"generator/{layer}/biases")].numpy()
    out["add/y"] = np.array(0.01, np.float32)
    return out


class ClockedSideThread:
    """`SideThread.start` on a fake clock: the work runs at once (its pictures are made now) but its
    job is done only once the clock has passed `ms` milliseconds from its start; `started` counts jobs."""

    def __init__(self, clock: FakeClock, ms: float) -> None:
        self.clock, self.ms, self.started = clock, ms, 0

    def start(self, work: Callable[[], Any]) -> ClockedJob:
        from streamer.pipeline.device import Elapsed, Finished

        self.started += 1
        timing = ClockedTiming(self.clock, self.ms)
        return ClockedJob(self.clock, Finished(work(), Elapsed(self.clock(), self.clock)), timing)
