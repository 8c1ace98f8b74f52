"""File throughput, side by side in one run: streamer's pipeline, a naive per-frame loop, and the floor.

- pipeline: `stylize_file` as the CLI runs it (threads, bounded links, landmark tracking between
  detections every 10 frames, heads and background side by side);
- naive: the same engine, compositing and encoder, one frame at a time in one thread, with full
  face detection + landmarks (MediaPipe FaceMesh in static-image mode) on every frame;
- floor: decode and encode the same clip with the same encoder settings and no processing.

Each is run `--repeat` times, interleaved; medians are reported. Usage:

    python benchmarks/bench_file.py [--repeat 3] [CLIP ...]

Without CLIP it uses a generated 640x480 clip (one moving face, 10 s, with audio) and, where
present, the real clips in $STREAMER_MEDIA_DIR (default ../shared/media).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av

from streamer.capture.file import FileSource
from streamer.capture.synthetic import Motion, SyntheticSource, write_clip
from streamer.compose import background_size, resize_to
from streamer.engines import open_engine
from streamer.pipeline.cpu_device import CpuFrameDevice
from streamer.pipeline.file_job import StylizeOptions, stylize_file
from streamer.sinks.file import FileSink
from streamer.tracking.alignment import similarity_transform
from streamer.tracking.landmarks import five_points, load_mediapipe, quiet_native_stderr

REPO = Path(__file__).resolve().parents[1]
MEDIA_DIR = Path(os.environ.get("STREAMER_MEDIA_DIR", REPO.parent / "shared" / "media"))
REAL_CLIPS = ["streamer_webcam_488p.mp4", "anchor_talking_368p.mp4", "child_classroom_720p.mp4"]


def run_floor(clip: Path, out: Path, options: StylizeOptions) -> int:
    """Decode and re-encode, nothing else (same sink, same encoder settings)."""
    with FileSource(clip) as source:
        sink = None
        frames = 0
        for item in source:
            if isinstance(item, av.Packet):
                if sink is not None:
                    sink.write_audio(item)
                continue
            if sink is None:
                sink = FileSink(
                    out,
                    item.width,
                    item.height,
                    source.time_base,
                    source.rate,
                    source.audio_streams,
                    options.crf,
                    options.preset,
                )
            sink.write(item)
            frames += 1
        sink.close()
    return frames


def run_naive(clip: Path, out: Path, options: StylizeOptions) -> int:
    """Everything in order, one frame at a time, full detection on every frame, no reuse."""
    mp = load_mediapipe()
    engine = open_engine(options.style)
    device = CpuFrameDevice(engine, parallel=False)  # the same head cropping and pasting as the pipeline
    with quiet_native_stderr():
        mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=options.max_faces, refine_landmarks=True
        )
    frames = 0
    import cv2
    import numpy as np

    with FileSource(clip) as source:
        sink = None
        for item in source:
            if isinstance(item, av.Packet):
                if sink is not None:
                    sink.write_audio(item)
                continue
            image = item.image
            h, w = image.shape[:2]
            result = mesh.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
            matrices = []
            for face in result.multi_face_landmarks or []:
                pts = np.array([(p.x * w, p.y * h) for p in face.landmark])
                matrices.append(similarity_transform(five_points(pts), engine.layout.template))
            ids = range(len(matrices))
            heads = device.stylize_heads(image, matrices, ids, {})[0] if matrices else None
            size = background_size(w, h, options.background_scale, options.background_short_side)
            canvas, _ = device.compose(
                resize_to(engine.stylize_background(resize_to(image, size)), (w, h)), heads, matrices, None
            )
            if sink is None:
                sink = FileSink(
                    out, w, h, source.time_base, source.rate, source.audio_streams, options.crf, options.preset
                )
            sink.write(item.with_image(canvas))
            frames += 1
        sink.close()
    mesh.close()
    engine.close()
    return frames


STAGE_SUMMARIES: dict[str, str] = {}


def run_pipeline(clip: Path, out: Path, options: StylizeOptions) -> int:
    report = stylize_file(clip, out, options)
    STAGE_SUMMARIES[clip.name] = report.stage_summary
    return report.frames


def generated_clip(folder: Path) -> Path:
    path = folder / "generated_640x480_1face.mp4"
    source = SyntheticSource(
        [Motion((320, 250), scale=1.3, sway=(80, 25), tilt=10, zoom=0.1, period=5.0)], duration=10.0, noise=2.0
    )
    write_clip(path, (f.image for f in source))
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", nargs="*", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    options = StylizeOptions()
    runners = {"pipeline": run_pipeline, "naive": run_naive, "floor": run_floor}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clips = args.clips or [generated_clip(folder)] + [MEDIA_DIR / c for c in REAL_CLIPS if (MEDIA_DIR / c).exists()]
        print(f"# file throughput, {os.cpu_count()} CPU cores, medians of {args.repeat} interleaved runs\n")
        print("| clip | frames | pipeline fps | naive fps | floor fps | pipeline / naive | pipeline / floor |")
        print("|---|---|---|---|---|---|---|")
        for clip in clips:
            fps: dict[str, list[float]] = {name: [] for name in runners}
            frames = 0
            for _ in range(args.repeat):
                for name, run in runners.items():
                    t0 = time.perf_counter()
                    frames = run(clip, folder / f"{name}.mp4", options)
                    fps[name].append(frames / (time.perf_counter() - t0))
            med = {name: statistics.median(v) for name, v in fps.items()}
            print(
                f"| {clip.name} | {frames} | {med['pipeline']:.1f} | {med['naive']:.1f} | {med['floor']:.1f} | "
                f"{med['pipeline'] / med['naive']:.2f}x | {med['pipeline'] / med['floor']:.2f} |",
                flush=True,
            )
        print("\nPipeline stage medians (ms), last run of each clip:\n")
        for name, summary in STAGE_SUMMARIES.items():
            print(f"- {name}: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
