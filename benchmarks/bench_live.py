"""Live latency over time, side by side: streamer's live pipeline against a naive loop.

    python benchmarks/bench_live.py [--seconds 60] [--clip PATH]

The source is a recorded clip played in real time and looped (default: the webcam clip in
$STREAMER_MEDIA_DIR), like `streamer live --source CLIP --realtime --loop`; outputs go nowhere
(a null sink), so only the pipeline is measured. Variants:
- live, built-in style, budget one frame period;
- live, learned U-Net head (reference weights from $STREAMER_MODELS_DIR) and its background,
  budget 150 ms;
- naive loops with the same two engines: every frame captured is queued (no bound) and processed
  fully, in order.
For each: output fps, latency p50 in the first and the last 10 s, p99 after the first second.
"""

from __future__ import annotations

import argparse
import os
import queue
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clip", type=Path, default=MEDIA_DIR / "streamer_webcam_488p.mp4")
    args = parser.parse_args()
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
