"""Before/after contact sheets of the built-in style: `poster` (the first look) against `toon`.

    python benchmarks/toon_sheets.py [--out docs] [--width 400] [--quality 82]

Reads anchor_talking_368p.mp4, streamer_webcam_488p.mp4, child_classroom_720p.mp4 and
portrait_photo.jpg from $STREAMER_MEDIA_DIR (default ../shared/media; missing ones are skipped),
takes two frames from each clip (at a third and two thirds of its first 300 frames) and the
portrait (640 wide), and stylizes each with both styles as `streamer stylize` does (faces tracked,
heads aligned and stylized, the background at file mode's default size, composed). Writes, as
downscaled JPEGs (all together under 1 MB):
- OUT/toon_before_after.jpg: whole frames, before (poster) on the left, after (toon) on the right;
- OUT/toon_faces_before_after.jpg: the same around each first face, larger.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
MEDIA_DIR = Path(os.environ.get("STREAMER_MEDIA_DIR", REPO.parent / "shared" / "media"))
CLIPS = ("anchor_talking_368p.mp4", "streamer_webcam_488p.mp4", "child_classroom_720p.mp4")
PORTRAIT = "portrait_photo.jpg"
STYLES = ("poster", "toon")  # before, after
LIMIT_BYTES = 1_000_000


def clip_frames(path: Path, count: int = 2, span: int = 300) -> list[np.ndarray]:
    """`count` frames spread over the clip's first `span` frames."""
    from streamer.capture.file import FileSource
    from streamer.frame import Frame

    frames: list[np.ndarray] = []
    with FileSource(path) as source:
        for item in source:
            if isinstance(item, Frame):
                frames.append(item.image)
                if len(frames) >= span:
                    break
    picks = [len(frames) * (i + 1) // (count + 1) for i in range(count)]
    return [frames[i] for i in picks]


def sources() -> list[tuple[str, np.ndarray]]:
    """(label, BGR image) of every input present."""
    found = []
    for name in CLIPS:
        path = MEDIA_DIR / name
        if path.exists():
            found += [(f"{path.stem.split('_')[0]} {i + 1}", image) for i, image in enumerate(clip_frames(path))]
        else:
            print(f"{path} is absent: left out", file=sys.stderr)
    path = MEDIA_DIR / PORTRAIT
    if path.exists():
        image = cv2.imread(str(path))
        h, w = image.shape[:2]
        found.append(("portrait", cv2.resize(image, (640, round(h * 640 / w)), interpolation=cv2.INTER_AREA)))
    else:
        print(f"{path} is absent: left out", file=sys.stderr)
    return found


def face_box(faces: list, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 of a square around the first face and its shoulders (the frame without a face)."""
    h, w = shape[:2]
    if not faces:
        return 0, 0, w, h
    x0, y0, x1, y1 = faces[0].box
    side = 2.6 * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 + 0.15 * side
    side = min(side, w, h)
    left = int(np.clip(cx - side / 2, 0, w - side))
    top = int(np.clip(cy - side / 2, 0, h - side))
    return left, top, left + int(side), top + int(side)


def label(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.putText(out, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def fit(image: np.ndarray, width: int) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.resize(image, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)


def pad(image: np.ndarray, bottom: int, right: int) -> np.ndarray:
    return cv2.copyMakeBorder(image, 0, bottom, 0, right, cv2.BORDER_CONSTANT, value=(255, 255, 255))


def sheet(rows: list[list[np.ndarray]], gap: int = 6) -> np.ndarray:
    """Rows of panels on a white ground (rows left-aligned, padded to the widest)."""
    lines = []
    for panels in rows:
        height = max(p.shape[0] for p in panels)
        lines.append(pad(np.hstack([pad(p, height - p.shape[0], gap) for p in panels]), gap, 0))
    width = max(line.shape[1] for line in lines)
    return np.vstack([pad(line, 0, width - line.shape[1]) for line in lines])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "docs", help="folder for the sheets")
    parser.add_argument("--width", type=int, default=400, help="width of each whole-frame panel")
    parser.add_argument("--quality", type=int, default=82, help="JPEG quality")
    args = parser.parse_args()

    from streamer.engines import open_engine
    from streamer.pipeline.file_job import StylizeOptions
    from streamer.pipeline.stylizer import open_frame_stylizer
    from streamer.tracking.tracker import FaceTracker

    inputs = sources()
    if not inputs:
        print(f"no media in {MEDIA_DIR}", file=sys.stderr)
        return 1
    options = StylizeOptions()
    frames: list[list[np.ndarray]] = []
    faces: list[list[np.ndarray]] = []
    engines = {style: open_engine(StylizeOptions(style=style)) for style in STYLES}
    short_side = options.background_short_side
    stylizers = {s: open_frame_stylizer(e, background_short_side=short_side) for s, e in engines.items()}
    try:
        for name, image in inputs:
            with FaceTracker() as tracker:
                found = tracker.update(image, 0.0)
            x0, y0, x1, y1 = face_box(found, image.shape)
            row, close = [], []
            for style, stylizer in stylizers.items():
                out = stylizer.stylize(image, stylizer.head_matrices(found))
                caption = f"{'before' if style == STYLES[0] else 'after'}: {style}"
                row.append(label(fit(out, args.width), f"{caption} - {name}"))
                close.append(label(fit(out[y0:y1, x0:x1], round(args.width * 0.75)), caption))
            frames.append(row)
            faces.append(close)
    finally:
        for stylizer in stylizers.values():
            stylizer.close()
        for engine in engines.values():
            engine.close()

    args.out.mkdir(parents=True, exist_ok=True)
    # Face close-ups two sources to a row: before, after, before, after.
    pairs = [faces[i] + (faces[i + 1] if i + 1 < len(faces) else []) for i in range(0, len(faces), 2)]
    written = []
    for name, picture in (("toon_before_after.jpg", sheet(frames)), ("toon_faces_before_after.jpg", sheet(pairs))):
        path = args.out / name
        cv2.imwrite(str(path), picture, [cv2.IMWRITE_JPEG_QUALITY, args.quality])
        written.append(path)
        print(f"wrote {path} ({picture.shape[1]}x{picture.shape[0]}, {path.stat().st_size / 1000:.0f} kB)")
    total = sum(p.stat().st_size for p in written)
    if total >= LIMIT_BYTES:
        print(f"the sheets take {total / 1000:.0f} kB, over {LIMIT_BYTES / 1000:.0f}: lower --quality or --width")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
