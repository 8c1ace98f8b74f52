"""Is the file pipeline deterministic, and where does it stop being so?

1. Runs `stylize_file` on one clip RUNS times in one process with one engine (as a batch worker
   does), hashing every stylized picture as it reaches the file sink and every encoded packet.
2. Re-encodes the first run's pictures ENCODES times in one process while two threads run the
   network beside it, three ways: PyAV's own colour conversion (swscale), OpenCV's I420 conversion
   (no swscale), and that with x264 on one thread. Prints how many distinct files each way gives.

    .venv/bin/python benchmarks/encoder_determinism.py [CLIP] [--runs 8] [--encodes 7]

CLIP defaults to anchor_talking_368p.mp4 in $STREAMER_MEDIA_DIR (default ../shared/media).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import threading
from pathlib import Path

import av
import cv2
import numpy as np

import streamer.sinks.file as file_sink
from streamer.capture.file import FileSource
from streamer.engines.registry import open_engine
from streamer.frame import Frame
from streamer.pipeline.file_job import StylizeOptions, stylize_file

REPO = Path(__file__).resolve().parents[1]
MEDIA_DIR = Path(os.environ.get("STREAMER_MEDIA_DIR", REPO.parent / "shared" / "media"))


def packet_hashes(path: Path) -> list[str]:
    with av.open(str(path)) as container:
        return [hashlib.md5(bytes(p)).hexdigest() for p in container.demux(container.streams.video[0]) if p.size]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clip", nargs="?", type=Path, default=MEDIA_DIR / "anchor_talking_368p.mp4")
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--encodes", type=int, default=7)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="determinism-"))
    pictures: list[tuple[np.ndarray, int]] = []
    original_write = file_sink.FileSink.write

    def recording_write(self, frame: Frame) -> None:
        pictures.append((frame.image.copy(), frame.pts))
        original_write(self, frame)

    file_sink.FileSink.write = recording_write  # type: ignore[method-assign]
    options = StylizeOptions()
    engine = open_engine(options)
    first: tuple[list[str], list[str]] | None = None
    kept: list[tuple[np.ndarray, int]] = []
    for run in range(args.runs):
        pictures.clear()
        out = folder / f"run{run}.mp4"
        stylize_file(args.clip, out, options, engine=engine)
        images = [hashlib.md5(image.tobytes()).hexdigest() for image, _ in pictures]
        packets = packet_hashes(out)
        if first is None:
            first, kept = (images, packets), list(pictures)
        same_images = sum(a != b for a, b in zip(images, first[0], strict=True))
        same_packets = sum(a != b for a, b in zip(packets, first[1], strict=True))
        print(f"run {run}: pictures differing from run 0: {same_images}; packets differing: {same_packets}")
    file_sink.FileSink.write = original_write  # type: ignore[method-assign]

    with FileSource(args.clip) as reader:
        time_base, rate = reader.time_base, reader.rate
    height, width = kept[0][0].shape[:2]
    busy = True

    def load() -> None:
        rng = np.random.default_rng(0)
        while busy:
            engine.stylize_background(rng.integers(0, 255, (360, 480, 3), dtype=np.uint8))

    threads = [threading.Thread(target=load, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()

    def encode(path: Path, own_conversion: bool, x264_threads: str | None) -> str:
        sink = file_sink.FileSink(path, width, height, time_base, rate)
        if x264_threads:
            sink._video.options = {**sink._video.options, "threads": x264_threads}
        for image, pts in kept:
            if own_conversion:
                vf = av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), format="yuv420p")
                vf.pts, vf.time_base = pts, time_base
                sink._mux(sink._video.encode(vf))
                sink.frames_written += 1
            else:
                sink.write(Frame(image, pts, time_base, 0))
        sink.close()
        return hashlib.md5(path.read_bytes()).hexdigest()

    for label, own, x264_threads in (
        ("PyAV conversion, x264 threads auto", False, None),
        ("OpenCV I420, x264 threads auto", True, None),
        ("OpenCV I420, x264 on one thread", True, "1"),
    ):
        files = [encode(folder / f"enc{i}.mp4", own, x264_threads) for i in range(args.encodes)]
        print(f"{label}: {len(set(files))} distinct files of {len(files)}")
    busy = False


if __name__ == "__main__":
    main()
