"""Live latency over time, side by side: streamer's live pipeline against a naive loop.

    python benchmarks/bench_live.py [--seconds 60] [--clip PATH]
    python benchmarks/bench_live.py --slow-engine
    python benchmarks/bench_live.py --vcam

The source is a recorded clip played in real time and looped (default: the webcam clip in
$STREAMER_MEDIA_DIR), like `streamer live --source CLIP --realtime --loop`; outputs go nowhere
(a null sink), so only the pipeline is measured. Variants:
- live, built-in style, budget one frame period;
- live, learned U-Net head (reference weights from $STREAMER_MODELS_DIR) and its background,
  budget 150 ms;
- naive loops with the same two engines: every frame captured is queued (no bound) and processed
  fully, in order.
For each: output fps, latency p50 in the first and the last 10 s, p99 after the first second.

`--slow-engine`: the wall-clock versions of the live tests that run on a fake clock (tests/test_live.py,
tests/test_gpu_path.py): synthetic frames in real time, engines that sleep (heads, background) and
get fast halfway, the real tracker and frame stylizer (NumPy/OpenCV, and torch tensors on the CPU
where torch is installed). For each: output fps, latency p99 after the first second against budget +
one frame, the levels taken while slow and at the end, frames dropped, and memory growth (RSS) from
the first to the second half.

`--vcam`: the virtual camera's pacing on the wall clock (pyvirtualcam's backend seam, no device):
the median interval between frames sent against 1/fps.
"""

from __future__ import annotations

import argparse
import os
import queue
import sys
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the tests' fakes (sources, slow engines)
MEDIA_DIR = Path(os.environ.get("STREAMER_MEDIA_DIR", REPO.parent / "shared" / "media"))
MODELS_DIR = Path(os.environ.get("STREAMER_MODELS_DIR", REPO.parent / "shared" / "models"))


class NullSink:
    name = "null"
    queue_frames = 1

    def open(self, width, height, fps):
        pass

    def write(self, frame):
        pass

    def close(self):
        pass


def live(clip: Path, seconds: float, style: str, budget_ms: float | None) -> list[tuple[float, float]]:
    from streamer.capture.live import RealtimeFileSource
    from streamer.pipeline.live import LiveOptions, LivePipeline

    options = LiveOptions(fps=30, latency_budget_ms=budget_ms, duration=seconds, style=style)
    pipeline = LivePipeline(lambda: RealtimeFileSource(clip, loop=True), [NullSink()], options)
    times: list[tuple[float, float]] = []
    written = pipeline._written

    def record(frame, t_written):
        written(frame, t_written)
        times.append((t_written, (t_written - frame.t_capture) * 1000))

    pipeline._written = record
    pipeline.run()
    return times


def naive(clip: Path, seconds: float, style: str) -> list[tuple[float, float]]:
    """Capture into an unbounded queue; process every frame fully, in order."""
    from streamer.capture.live import RealtimeFileSource
    from streamer.engines import open_engine
    from streamer.pipeline.stylizer import open_frame_stylizer
    from streamer.tracking.tracker import FaceTracker

    engine = open_engine(style, threads=2)
    stylizer = open_frame_stylizer(engine, background_short_side=360)
    tracker = FaceTracker()
    frames: queue.Queue = queue.Queue()  # the naive design: no bound, nothing dropped
    stop = threading.Event()

    def capture():
        for frame in RealtimeFileSource(clip, loop=True):
            if stop.is_set():
                return
            frames.put(frame)

    threading.Thread(target=capture, daemon=True).start()
    start = time.monotonic()
    times = []
    while time.monotonic() - start < seconds:
        try:
            frame = frames.get(timeout=0.1)
        except queue.Empty:
            continue
        stylizer(frame, tracker.update(frame.image, frame.time))
        now = time.monotonic()
        times.append((now, (now - frame.t_capture) * 1000))
    stop.set()
    stylizer.close()
    engine.close()
    tracker.close()
    return times


def summarize(name: str, times: list[tuple[float, float]], seconds: float) -> str:
    start = times[0][0]
    first = [ms for t, ms in times if t - start < 10]
    last = [ms for t, ms in times if t - start >= seconds - 10]
    settled = [ms for t, ms in times if t - start >= 1]
    return (
        f"| {name} | {len(times) / seconds:.1f} | {np.median(first):.0f} | {np.median(last):.0f} | "
        f"{np.percentile(settled, 99):.0f} |"
    )


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def slow_engine(fps: int, head_ms: float, background_ms: float, seconds: float, torch_path: bool) -> str:
    """One row: a slow engine in real time, fast from `seconds / 2` on."""
    from streamer.capture.synthetic import Motion, SyntheticSource
    from streamer.pipeline.live import WARMUP_FRAMES, LiveOptions, LivePipeline
    from streamer.pipeline.stylizer import FrameStylizer
    from tests.fakes import Camera, SlowRunner, SlowTensorRunner, engine_of

    # The torch path on the CPU gets small frames: its full-frame tensor compositing costs what a GPU does not.
    k = 0.5 if torch_path else 1.0
    motion = Motion((320 * k, 240 * k), scale=1.2 * k, sway=(40 * k, 15 * k), period=2.0)
    source = SyntheticSource([motion], size=(round(640 * k), round(480 * k)), duration=2.0, noise=2.0)
    frames = [source.render(i) for i in range(60)]
    runner = SlowTensorRunner if torch_path else SlowRunner
    head, background = runner(head_ms / 1000), runner(background_ms / 1000)
    open_stylizer = None
    if torch_path:
        from streamer.pipeline.gpu import TorchFrameDevice

        def open_stylizer(engine):
            return FrameStylizer(engine, TorchFrameDevice(engine, "cpu"), background_short_side=360)

    class Sink(NullSink):
        def write(self, frame):
            if not written:
                threading.Timer(
                    seconds / 2, lambda: setattr(head, "delay", 0) or setattr(background, "delay", 0)
                ).start()
            written.append(time.monotonic())

    written: list[float] = []
    memory: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.25):
            memory.append(_rss_mb())

    pipeline = LivePipeline(
        lambda: Camera(frames, fps, round(fps * seconds), sleep=time.sleep),
        [Sink()],
        LiveOptions(fps=fps),
        open_engine=lambda style: engine_of(head, background),
        open_stylizer=open_stylizer,
    )
    threading.Thread(target=sample, daemon=True).start()
    summary = pipeline.run()
    stop.set()
    period = 1000 / fps
    p99 = np.percentile(summary.latencies_ms[fps:], 99)
    half = len(summary.levels) // 2
    slow_levels = sorted({int(level) for level in summary.levels[WARMUP_FRAMES:half]})
    end_level = int(summary.levels[-1])
    growth = max(memory[len(memory) // 2 :]) - min(memory[4 : len(memory) // 2])
    path = "torch on CPU" if torch_path else "NumPy/OpenCV"
    return (
        f"| {fps} fps, heads {head_ms:g} ms, background {background_ms:g} ms, {path} | "
        f"{summary.frames_out / seconds:.1f} | {p99:.0f} / {2 * period:.0f} | {slow_levels} | {end_level} | "
        f"{summary.dropped} of {summary.frames_in} | {growth:+.0f} |"
    )


def vcam_pacing(fps: float = 20.0, seconds: float = 3.0) -> str:
    import pyvirtualcam

    from streamer.frame import Frame
    from streamer.sinks.vcam import VirtualCameraSink

    sent: list[float] = []

    class Backend:
        def __init__(self, **kw):
            pass

        def device(self):
            return "bench"

        def native_fourcc(self):
            return None

        def send(self, frame):
            sent.append(time.monotonic())

        def close(self):
            pass

    pyvirtualcam.register_backend("streamer-bench", Backend)
    sink = VirtualCameraSink(backend="streamer-bench")
    sink.open(320, 240, fps)
    image = np.zeros((240, 320, 3), np.uint8)
    for i in range(round(seconds * 5)):  # slower than the camera: it repeats the newest
        sink.write(Frame(image, i, Fraction(1, 5), i))
        time.sleep(0.2)
    sink.close()
    intervals = np.diff(sent)
    median, p99 = (np.percentile(intervals, q) * 1000 for q in (50, 99))
    return (
        f"vcam at {fps:g} fps: {len(sent)} frames in {seconds:g} s, median interval {median:.1f} ms "
        f"(1/fps = {1000 / fps:.1f} ms), p99 {p99:.1f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clip", type=Path, default=MEDIA_DIR / "streamer_webcam_488p.mp4")
    parser.add_argument("--slow-engine", action="store_true", help="the slow-engine scenarios of the live tests")
    parser.add_argument("--vcam", action="store_true", help="the virtual camera's pacing")
    args = parser.parse_args()
    if args.vcam:
        print(vcam_pacing())
        return 0
    if args.slow_engine:
        import importlib.util

        seconds = 9.0
        print(f"# slow engine, {os.cpu_count()} CPU cores, {seconds:g} s in real time, fast from {seconds / 2:g} s\n")
        print(
            "| scenario | fps out | p99 after 1 s / budget + frame (ms) | levels while slow | level at end "
            "| dropped | RSS growth (MB) |"
        )
        print("|---|---|---|---|---|---|---|")
        rows = [(30, 10, 60, False), (60, 4, 40, False)]
        if importlib.util.find_spec("torch") is not None:
            rows.append((15, 10, 120, True))
        for fps, head_ms, background_ms, torch_path in rows:
            print(slow_engine(fps, head_ms, background_ms, seconds, torch_path), flush=True)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["STREAMER_HOME"] = tmp
        from streamer.engines.install import import_style

        reference = MODELS_DIR / "whitebox_cartoon_gan_fp16.tflite"
        learned = reference.exists()
        if learned:
            import_style(reference, "whitebox", "dctnet")
        print(
            f"# live latency, {os.cpu_count()} CPU cores, {args.clip.name} looped in real time, {args.seconds:.0f} s\n"
        )
        print("| variant | fps out | latency p50, first 10 s (ms) | p50, last 10 s (ms) | p99 after 1 s (ms) |")
        print("|---|---|---|---|---|")
        runs = [
            ("live, built-in style, budget 33 ms", lambda: live(args.clip, args.seconds, "toon", None)),
            ("naive loop, built-in style", lambda: naive(args.clip, args.seconds, "toon")),
        ]
        if learned:
            runs += [
                (
                    "live, learned head + background, budget 150 ms",
                    lambda: live(args.clip, args.seconds, "whitebox", 150.0),
                ),
                ("naive loop, learned head + background", lambda: naive(args.clip, args.seconds, "whitebox")),
            ]
        for name, run in runs:
            print(summarize(name, run(), args.seconds), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
