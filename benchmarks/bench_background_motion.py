"""A panning camera: a live background shown frames after the one it was made from, carried by
optical flow against shown as it was made.

    python benchmarks/bench_background_motion.py [--clip PATH] [--style toon] [--pan-px 4] [--frames 90]

The camera: the clip's frames, scaled up by 1.25 and cropped by a window that pans `--pan-px`
pixels per frame to the right and back (a person turning their laptop, a handheld phone). The
background at the live size (short side 360) is stylized with the style's background network for
every frame (the reference: what a background made for that very frame shows). A live stream shows
a background made `d` frames earlier, for d = 1, 2, 4, 8 (the refresh of the built-in style takes a
few frames; a learned one a quarter second). For each d, over all frames: the mean absolute
difference (grey levels, whole frame) from the reference, for the old background shown as it was
made and carried to the frame by `BackgroundMotion`; and the carry's time per frame (median),
beside the style's background network's time on the same machine in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from streamer.compose import resize_to  # noqa: E402
from streamer.compose.background import background_size  # noqa: E402
from streamer.pipeline.background_motion import BackgroundMotion  # noqa: E402

MEDIA_DIR = Path(os.environ.get("STREAMER_MEDIA_DIR", REPO.parent / "shared" / "media"))
DELAYS = (1, 2, 4, 8)
SHORT_SIDE = 360  # the live loop's background size


def panned_frames(clip: Path | None, count: int, pan_px: int) -> list[np.ndarray]:
    """`count` frames of a camera panning `pan_px` a frame right, then back, over the clip (or a
    generated room where the clip is absent)."""
    frames: list[np.ndarray] = []
    if clip is not None and clip.exists():
        from streamer.capture.file import FileSource

        with FileSource(clip) as source:
            for frame in source:
                frames.append(frame.image)
                if len(frames) == count:
                    break
    else:
        rng = np.random.default_rng(3)
        room = cv2.resize(rng.integers(0, 255, (24, 32, 3), np.uint8), (640, 480), interpolation=cv2.INTER_CUBIC)
        frames = [room] * count
    h, w = frames[0].shape[:2]
    big_w, big_h = round(w * 1.25), round(h * 1.25)
    span = big_w - w
    out = []
    for i, image in enumerate(frames):
        big = cv2.resize(image, (big_w, big_h), interpolation=cv2.INTER_LINEAR)
        x = (i * pan_px) % (2 * span)
        x = x if x <= span else 2 * span - x
        y = (big_h - h) // 2
        out.append(np.ascontiguousarray(big[y : y + h, x : x + w]))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clip", type=Path, default=MEDIA_DIR / "streamer_webcam_488p.mp4")
    parser.add_argument("--style", default="toon")
    parser.add_argument("--pan-px", type=int, default=4)
    parser.add_argument("--frames", type=int, default=90)
    args = parser.parse_args()

    from streamer.engines import open_engine

    frames = panned_frames(args.clip, args.frames, args.pan_px)
    h, w = frames[0].shape[:2]
    size = background_size(w, h, None, SHORT_SIDE)
    with open_engine(args.style, threads=2) as engine:
        network_ms: list[float] = []
        reference = []
        for image in frames:
            start = time.perf_counter()
            reference.append(resize_to(engine.stylize_background(resize_to(image, size)), (w, h)))
            network_ms.append((time.perf_counter() - start) * 1000)
    motion = BackgroundMotion()
    thumbs = [motion.thumbnail(image) for image in frames]
    clip = args.clip.name if args.clip.exists() else "a generated room"
    print(f"{clip}, {len(frames)} frames {w}x{h}, panning {args.pan_px} px a frame; style {args.style}")
    print(f"background network ({size[0]}x{size[1]}, 2 threads): median {statistics.median(network_ms):.1f} ms")
    print()
    print("| shown d frames late | as made: mean difference | carried | carried / as made | carry ms, median |")
    print("|---|---|---|---|---|")
    for d in DELAYS:
        as_made, carried, carry_ms = [], [], []
        for i in range(d, len(frames)):
            old = reference[i - d]
            as_made.append(float(np.abs(old.astype(np.float32) - reference[i]).mean()))
            start = time.perf_counter()
            moved = motion.carry(old, thumbs[i - d], motion.thumbnail(frames[i]))
            carry_ms.append((time.perf_counter() - start) * 1000)
            moved = old if moved is None else moved
            carried.append(float(np.abs(moved.astype(np.float32) - reference[i]).mean()))
        a, c = statistics.mean(as_made), statistics.mean(carried)
        print(f"| {d} | {a:.2f} | {c:.2f} | {c / a:.2f} | {statistics.median(carry_ms):.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
