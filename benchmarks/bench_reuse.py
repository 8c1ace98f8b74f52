"""Temporal reuse of heads: what it costs and what it gives, reuse on and off side by side.

    python benchmarks/bench_reuse.py [--frames 150] [--noise-frames 60] [--styles whitebox toon] [--skip-file]
                                     [--skip-identity]

Each style (`whitebox`: the reference weights in $STREAMER_MODELS_DIR, imported into a temporary
$STREAMER_HOME; skipped with a note when absent; `toon`: built in) runs through two frame
stylizers on the same frames and the same tracker output, one frame after the other: one with
temporal reuse (`ReuseOptions()`, keyframes inline, as files do) and one that stylizes every frame
on its own. Everything stays lossless (arrays, no encoding). Differences are in grey levels (the
mean over B, G, R of the absolute difference), inside the face region: where the pasted head's mask,
warped to the frame, is above 0.5 (its core: above 0.95).

1. Flicker: a still photo (portrait_photo.jpg in $STREAMER_MEDIA_DIR, else a bundled sample) plus
   Gaussian sensor noise drawn anew for each frame (`--sigma`, `--noise-frames`), faces tracked
   with landmark smoothing. The mean absolute frame-to-frame difference in the face region, reuse
   (a) against per-frame stylization (b); the target for learned styles is a/b <= 0.5.
2. Fidelity on the real clips (anchor, webcam; the first `--frames` of each): each reuse frame
   against the per-frame stylization of the same frame: mean and p95 (all face pixels of all
   frames) difference, the worst frame's mean, keyframes and mouth patches per frame, and the
   median time per frame of each stylizer.
3. Mouth, on the anchor clip: the opening (FaceMesh inner lips 13-14 over the distance between the
   iris centres 468-473) measured by landmarks on the input and on each output, each with its own
   landmark tracker in the window the input's tracker gives; correlation with the input's opening
   and mean absolute error (also apart on the frames where reuse took a keyframe), and how often
   landmarks were found on the cartoon.
4. File mode: `stylize_file` on the anchor and webcam clips with each learned style, temporal reuse
   against off (product defaults otherwise): seconds and fps. The machine's state: the bare head
   network on a 288x288 aligned crop (10 runs, median), timed at the start, before and after.
5. Identity, on the same frames and runs as measure 2: a 128-d descriptor from dlib's face
   recognition network (dlib_face_recognition_resnet_model_v1: a 150x150 chip, padding 0.25, no
   jitter) of each tracked face in the input, the reuse output and the per-frame output of each
   frame. The face's box is not detected (dlib's detector may miss a cartoon) but derived from the
   tracker's: a square centred on `TrackedFace.box` (the extent of the face's FaceMesh landmarks,
   forehead to chin) with side 0.95 x the mean of that box's width and height, which matches dlib's
   own HOG detector boxes on the input frames of both clips (on average over their first 30 frames:
   centre within 3% of the box's width, side within 5%). In that box dlib's 5-point shape predictor
   places its points on the input frame, and the chips of all three pictures are aligned by those
   points: each output is read at the input's geometry. The predictor is also run on each output, in
   the same box: the mean distance of its points from the input's, over the eye distance, says
   whether it finds them on the cartoon. Euclidean distances between descriptors: reuse against
   per-frame on the same frame (median, max); each output against its input (median: how far the
   style itself moves a face, reuse and per frame side by side); frame to frame, a face's descriptor
   against its own on the frame before, on the input and on each output (median: how far it moves
   from one frame to the next, on the input and per frame the scale to read the others by); and
   reuse against per-frame by the face's keyframe age, the frames since its last keyframe (read from
   the reuse stylizer's `HeadReuse`, which counts the frames it stylizes heads on): the median in
   groups 0, 1-3, 4-7, 8-15, 16+ and the least-squares slope over all frames. A new keyframe fades
   in over `handover_frames` (3) frames, so at ages 0-2 the reuse head is still partly the previous
   keyframe carried; a face's first keyframe is shown as it is (distance 0, but for the background).
   dlib takes two faces as one person below a distance of 0.6. Without dlib and its models this
   measure is left out with a note; they come with

       python -m pip install dlib-bin face_recognition_models

   `--skip-identity` leaves it out.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
MODELS_DIR = Path(os.environ.get("STREAMER_MODELS_DIR", REPO.parent / "shared" / "models"))
MEDIA_DIR = Path(os.environ.get("STREAMER_MEDIA_DIR", REPO.parent / "shared" / "media"))
LEARNED = "whitebox"
REFERENCE_WEIGHTS = MODELS_DIR / "whitebox_cartoon_gan_fp16.tflite"
ANCHOR = MEDIA_DIR / "anchor_talking_368p.mp4"
WEBCAM = MEDIA_DIR / "streamer_webcam_488p.mp4"
PORTRAIT = MEDIA_DIR / "portrait_photo.jpg"
PORTRAIT_WIDTH = 640  # the photo is scaled to a webcam frame's width
FPS = 30.0
THREADS = 2
MOUTH_TOP, MOUTH_BOTTOM = 13, 14  # FaceMesh inner lips
IRIS_LEFT, IRIS_RIGHT = 468, 473  # FaceMesh iris centres (refined landmarks)
SAME_PERSON = 0.6  # dlib's usual threshold: descriptors closer than this are taken as one person
BOX_SIDE = 0.95  # dlib's face box side over the mean of the tracker's landmark box width and height
AGE_GROUPS = ((0, 0), (1, 3), (4, 7), (8, 15), (16, None))  # keyframe ages, inclusive (None: no end)
IDENTITY_PIP = "python -m pip install dlib-bin face_recognition_models"


# -- stylizers side by side -----------------------------------------------------------------------
class SideBySide:
    """Two stylizers on one engine: temporal reuse (keyframes inline) and every frame on its own."""

    def __init__(self, engine) -> None:
        from streamer.pipeline.file_job import StylizeOptions
        from streamer.pipeline.reuse import ReuseOptions
        from streamer.pipeline.stylizer import open_frame_stylizer

        short_side = StylizeOptions().background_short_side
        self.engine = engine
        self.reuse = open_frame_stylizer(engine, background_short_side=short_side, reuse=ReuseOptions())
        self.each = open_frame_stylizer(engine, background_short_side=short_side)
        self.reuse_ms: list[float] = []
        self.each_ms: list[float] = []
        self.backgrounds = 0  # backgrounds the reuse stylizer made (it keeps one while the scene holds)
        self.keyframe_frames: list[bool] = []  # per frame: whether the reuse stylizer took a keyframe
        self.ages: list[dict[int, int]] = []  # per frame: each face's keyframe age (frames since its keyframe)

    def __call__(self, image: np.ndarray, faces: list) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """(reuse output, per-frame output, each face's frame->crop matrix)."""
        matrices = self.reuse.head_matrices(faces)
        ids = [face.id for face in faces]
        reuse_stages: dict[str, float] = {}
        t0 = time.perf_counter()
        a = self.reuse.stylize(image, matrices, stage_ms=reuse_stages, ids=ids)
        t1 = time.perf_counter()
        b = self.each.stylize(image, matrices)
        t2 = time.perf_counter()
        self.reuse_ms.append((t1 - t0) * 1000)
        self.each_ms.append((t2 - t1) * 1000)
        self.backgrounds += "background" in reuse_stages
        self.keyframe_frames.append("keyframe" in reuse_stages)
        self.ages.append(keyframe_ages(self.reuse.reuse, ids) if matrices else {})
        return a, b, matrices

    @property
    def keyframes(self) -> int:
        return self.reuse.reuse.keyframes

    @property
    def patches(self) -> int:
        return self.reuse.reuse.patches

    def close(self) -> None:
        self.reuse.close()
        self.each.close()


def keyframe_ages(reuse, ids: list[int]) -> dict[int, int]:
    """Each face's frames since its keyframe, right after `reuse` (a `HeadReuse`) stylized a frame's
    heads: its frame counter has moved past that frame; 0: the keyframe was taken on it."""
    frame = reuse._frame - 1
    return {i: frame - reuse._faces[i].key.frame for i in ids if i in reuse._faces}


def face_region(engine, matrices: list[np.ndarray], shape: tuple[int, ...], level: float = 0.5) -> np.ndarray:
    """bool HxW: where a pasted head's mask is above `level` (any face)."""
    h, w = shape[:2]
    region = np.zeros((h, w), bool)
    for m in matrices:
        warped = cv2.warpAffine(
            engine.head_mask, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderValue=0.0
        )
        region |= warped > level
    return region


def grey_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """float32 HxW: the mean over B, G, R of |a - b|."""
    return np.abs(a.astype(np.float32) - b.astype(np.float32)).mean(axis=2)


def track(frames: list[np.ndarray]) -> list[list]:
    """The tracker's faces for each frame (landmark smoothing on), frames `1 / FPS` apart."""
    from streamer.tracking.tracker import FaceTracker

    with FaceTracker() as tracker:
        return [tracker.update(image, i / FPS) for i, image in enumerate(frames)]


def read_frames(path: Path, count: int) -> list[np.ndarray]:
    from streamer.capture.file import FileSource
    from streamer.frame import Frame

    frames: list[np.ndarray] = []
    with FileSource(path) as source:
        for item in source:
            if isinstance(item, Frame):
                frames.append(item.image)
                if len(frames) >= count:
                    break
    return frames


def portrait() -> tuple[np.ndarray, str]:
    if PORTRAIT.exists():
        image, name = cv2.imread(str(PORTRAIT)), PORTRAIT.name
    else:
        from streamer import samples

        image, name = cv2.cvtColor(samples.astronaut(), cv2.COLOR_RGB2BGR), "streamer.samples.astronaut"
    h, w = image.shape[:2]
    size = (PORTRAIT_WIDTH, round(h * PORTRAIT_WIDTH / w))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), name


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# -- 1. flicker -----------------------------------------------------------------------------------
@dataclass
class Flicker:
    style: str
    reuse: list[float] = field(default_factory=list)
    each: list[float] = field(default_factory=list)
    reuse_core: list[float] = field(default_factory=list)
    each_core: list[float] = field(default_factory=list)
    keyframes: int = 0
    patches: int = 0
    frames: int = 0


def noisy_frames(base: np.ndarray, count: int, sigma: float, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    noisy = (np.clip(base + rng.normal(0.0, sigma, base.shape), 0, 255).round().astype(np.uint8) for _ in range(count))
    return list(noisy)


def input_flicker(frames: list[np.ndarray], regions: list[np.ndarray]) -> float:
    values = [
        float(grey_diff(frames[i], frames[i - 1])[regions[i]].mean()) for i in range(1, len(frames)) if regions[i].any()
    ]
    return float(np.mean(values)) if values else float("nan")


def flicker(engine, frames: list[np.ndarray], faces: list[list]) -> Flicker:
    result = Flicker(engine.style, frames=len(frames))
    pair = SideBySide(engine)
    previous = None
    try:
        for image, found in zip(frames, faces, strict=True):
            a, b, matrices = pair(image, found)
            region = face_region(engine, matrices, image.shape)
            core = face_region(engine, matrices, image.shape, 0.95)
            if previous is not None and region.any():
                pa, pb, pregion, pcore = previous
                both, both_core = region & pregion, core & pcore
                result.reuse.append(float(grey_diff(a, pa)[both].mean()))
                result.each.append(float(grey_diff(b, pb)[both].mean()))
                result.reuse_core.append(float(grey_diff(a, pa)[both_core].mean()))
                result.each_core.append(float(grey_diff(b, pb)[both_core].mean()))
            previous = (a, b, region, core) if region.any() else None
        result.keyframes, result.patches = pair.keyframes, pair.patches
    finally:
        pair.close()
    return result


def flicker_report(results: list[Flicker], source: str, shape: tuple[int, ...], args, noise_alone: float) -> str:
    lines = [
        "## 1. Flicker: a still face under sensor noise\n",
        f"{source} at {shape[1]}x{shape[0]}, Gaussian noise sigma {args.sigma:g} grey levels drawn anew for each of "
        f"{args.noise_frames} frames, lossless. Mean absolute frame-to-frame difference (grey levels) in the face "
        "region (pasted head's mask > 0.5) and its core (> 0.95); median over frame pairs in brackets. "
        f"The input itself changes by {noise_alone:.2f} there. Target for learned styles: a/b <= 0.5.\n",
        "| style | (a) reuse | (b) per frame | a/b | core (a) | core (b) | core a/b | keyframes / frames "
        "| mouth patches |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if not r.reuse:
            lines.append(f"| {r.style} | no face found | | | | | | | |")
            continue
        a, b = float(np.mean(r.reuse)), float(np.mean(r.each))
        ca, cb = float(np.mean(r.reuse_core)), float(np.mean(r.each_core))
        lines.append(
            f"| {r.style} | {a:.2f} ({median(r.reuse):.2f}) | {b:.2f} ({median(r.each):.2f}) | {a / b:.2f} "
            f"| {ca:.2f} | {cb:.2f} | {ca / cb:.2f} | {r.keyframes} / {r.frames} | {r.patches} |"
        )
    return "\n".join(lines)


# -- 2. fidelity and 3. mouth ---------------------------------------------------------------------
@dataclass
class Fidelity:
    clip: str
    style: str
    frames: int = 0
    with_faces: int = 0
    frame_means: list[float] = field(default_factory=list)
    pixels: list[np.ndarray] = field(default_factory=list)
    core: list[np.ndarray] = field(default_factory=list)
    backgrounds: int = 0
    keyframes: int = 0
    patches: int = 0
    reuse_ms: list[float] = field(default_factory=list)
    each_ms: list[float] = field(default_factory=list)
    openings: dict[str, list[float]] = field(default_factory=dict)  # input, reuse, each -> per frame (nan: none)
    keyframe_frames: list[bool] = field(default_factory=list)
    identity: list[IdentitySample] = field(default_factory=list)


def mouth_opening(landmarks: np.ndarray | None) -> float:
    if landmarks is None:
        return float("nan")
    lips = np.linalg.norm(landmarks[MOUTH_TOP] - landmarks[MOUTH_BOTTOM])
    eyes = np.linalg.norm(landmarks[IRIS_LEFT] - landmarks[IRIS_RIGHT])
    return float(lips / eyes) if eyes > 0 else float("nan")


def fidelity(
    engine,
    clip: Path,
    frames: list[np.ndarray],
    faces: list[list],
    mouth: bool,
    faceid: FaceId | None = None,
    inputs: list[list[InputFace]] | None = None,
) -> Fidelity:
    """Measures 2 and 3 (`mouth`) on one clip; and 5 with `faceid` and the input's faces (`inputs`)."""
    from streamer.tracking.landmarks import LandmarkTracker, Window
    from streamer.tracking.tracker import WINDOW_MARGIN

    result = Fidelity(clip.name, engine.style, frames=len(frames))
    pair = SideBySide(engine)
    sources = ("input", "reuse", "each")
    landmarkers = {name: LandmarkTracker() for name in sources} if mouth else {}
    result.openings = {name: [] for name in landmarkers}
    try:
        for index, (image, found) in enumerate(zip(frames, faces, strict=True)):
            a, b, matrices = pair(image, found)
            if faceid is not None and inputs is not None:
                result.identity += identity_samples(faceid, index, a, b, inputs[index], found, pair.ages[-1])
            if found:
                result.with_faces += 1
                full = grey_diff(a, b)
                diff = full[face_region(engine, matrices, image.shape)]
                result.frame_means.append(float(diff.mean()))
                result.pixels.append(diff.astype(np.float16))
                result.core.append(full[face_region(engine, matrices, image.shape, 0.95)].astype(np.float16))
            for name, picture in zip(sources, (image, a, b), strict=True):
                if name in landmarkers:
                    window = Window.around(found[0].box, WINDOW_MARGIN) if found else None
                    landmarks = landmarkers[name].track(picture, window) if window else None
                    result.openings[name].append(mouth_opening(landmarks))
        result.keyframes, result.patches = pair.keyframes, pair.patches
        result.reuse_ms, result.each_ms = pair.reuse_ms, pair.each_ms
        result.backgrounds = pair.backgrounds
        result.keyframe_frames = pair.keyframe_frames
    finally:
        pair.close()
        for landmarker in landmarkers.values():
            landmarker.close()
    return result


def fidelity_report(results: list[Fidelity]) -> str:
    lines = [
        "## 2. Fidelity: reuse against per-frame stylization of the same frame\n",
        "Absolute difference (grey levels) in the face region (mask > 0.5): mean and p95 over all face pixels of "
        "all frames, the worst frame's mean, and the mean in the region's core (mask > 0.95, heads only). "
        "Reuse also keeps a stylized background while the picture outside the heads holds: backgrounds made / "
        "frames. Time: ms per frame of each stylizer (whole frame), mean and, in brackets, median (reuse's "
        "median hides the keyframes), the two run one after the other on each frame.\n",
        "| clip | style | frames (with faces) | keyframes / frames | mouth patches / frames | backgrounds / frames "
        "| mean | p95 | worst frame | core mean | ms/frame reuse | ms/frame per frame | reuse / per frame (means) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if not r.pixels:
            lines.append(f"| {r.clip} | {r.style} | {r.frames} (0) | no face found | | | | | | | |")
            continue
        pixels = np.concatenate(r.pixels).astype(np.float32)
        core = np.concatenate(r.core).astype(np.float32)
        ra, rb = float(np.mean(r.reuse_ms)), float(np.mean(r.each_ms))
        lines.append(
            f"| {r.clip} | {r.style} | {r.frames} ({r.with_faces}) | {r.keyframes / r.frames:.2f} "
            f"| {r.patches / r.frames:.2f} | {r.backgrounds / r.frames:.2f} | {pixels.mean():.2f} "
            f"| {np.percentile(pixels, 95):.2f} | {max(r.frame_means):.2f} | {core.mean():.2f} "
            f"| {ra:.0f} ({median(r.reuse_ms):.0f}) | {rb:.0f} ({median(r.each_ms):.0f}) | {ra / rb:.2f} |"
        )
    return "\n".join(lines)


def mouth_report(results: list[Fidelity]) -> str:
    lines = [
        "## 3. Mouth: opening on the output against the input\n",
        "Opening = |landmark 13 - 14| / |468 - 473| (inner lips over iris distance), FaceMesh with refined "
        "landmarks on each picture, in the window the input's tracker gives. Correlation and mean absolute "
        "error (MAE) over the frames where both input and output have landmarks; the MAE also apart on the "
        "frames where the reuse stylizer took a keyframe and on the others (same frames for both outputs).\n",
    ]
    rows = [
        "| style | output | landmarks found | correlation with input | MAE | MAE, keyframe frames (n) "
        "| MAE, other frames (n) | mean opening |",
        "|---|---|---|---|---|---|---|---|",
    ]
    inputs = None
    for r in results:
        if not r.openings:
            continue
        source = np.array(r.openings["input"])
        inputs = source
        for name, label in (("reuse", "reuse on"), ("each", "reuse off (per frame)")):
            out = np.array(r.openings[name])
            both = ~np.isnan(source) & ~np.isnan(out)
            found = f"{int((~np.isnan(out)).sum())} / {len(out)}"
            if both.sum() < 3:
                rows.append(f"| {r.style} | {label} | {found} | n/a | n/a | n/a | n/a | n/a |")
                continue
            corr = float(np.corrcoef(source[both], out[both])[0, 1])
            error = np.abs(source - out)
            keyed = np.array(r.keyframe_frames, bool)
            split = [error[both & part] for part in (keyed, ~keyed)]
            apart = " | ".join(f"{e.mean():.4f} ({e.size})" if e.size else "n/a (0)" for e in split)
            rows.append(
                f"| {r.style} | {label} | {found} | {corr:.3f} | {error[both].mean():.4f} | {apart} "
                f"| {out[both].mean():.3f} |"
            )
    if inputs is None:
        return ""
    seen = inputs[~np.isnan(inputs)]
    if seen.size:
        lines.append(
            f"Input: landmarks on {seen.size} / {inputs.size} frames; opening min {seen.min():.3f}, "
            f"median {np.median(seen):.3f}, max {seen.max():.3f}, standard deviation {seen.std():.3f}.\n"
        )
    return "\n".join(lines + rows)


# -- 5. identity ----------------------------------------------------------------------------------
@dataclass
class InputFace:
    """One tracked face on an input frame, as dlib sees it."""

    rect: tuple[int, int, int, int]  # left, top, right, bottom
    shape: object  # dlib.full_object_detection: the 5-point predictor's points on the input
    points: np.ndarray  # the same, 5 x 2
    descriptor: np.ndarray  # 128


@dataclass
class IdentitySample:
    """One face on one frame: its keyframe age and its descriptors on the three pictures."""

    frame: int
    face: int  # track id
    age: int  # frames since the face's keyframe
    input: np.ndarray  # 128-d descriptors
    reuse: np.ndarray
    each: np.ndarray
    shift_reuse: float  # the predictor's points on the reuse output against the input's, over the eye distance
    shift_each: float

    @property
    def reuse_each(self) -> float:
        return distance(self.reuse, self.each)

    @property
    def reuse_input(self) -> float:
        return distance(self.reuse, self.input)

    @property
    def each_input(self) -> float:
        return distance(self.each, self.input)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b))


def frame_steps(samples: list[IdentitySample], picture: str) -> list[float]:
    """Distances between one picture's (input, reuse, each) descriptors of a face on consecutive frames."""
    seen = {(x.frame, x.face): getattr(x, picture) for x in samples}
    return [distance(d, seen[frame - 1, face]) for (frame, face), d in seen.items() if (frame - 1, face) in seen]


def dlib_box(box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    """The tracker's landmark box (x0, y0, x1, y1) -> the face box dlib's detector would give
    (left, top, right, bottom): a square on the same centre, side BOX_SIDE x the box's mean side."""
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = BOX_SIDE * ((x1 - x0) + (y1 - y0)) / 4
    return round(cx - half), round(cy - half), round(cx + half), round(cy + half)


def eye_distance(points: np.ndarray) -> float:
    """dlib's 5 points: 0-1 one eye's corners, 2-3 the other's, 4 under the nose."""
    return float(np.linalg.norm(points[0:2].mean(axis=0) - points[2:4].mean(axis=0)))


def landmark_shift(points: np.ndarray, reference: np.ndarray) -> float:
    """Mean distance of 5 points from the reference's, over the reference's eye distance."""
    eyes = eye_distance(reference)
    return float(np.linalg.norm(points - reference, axis=1).mean() / eyes) if eyes > 0 else float("nan")


def age_groups(ages: list[int], distances: list[float]) -> list[tuple[float, int]]:
    """(median distance, count) for each group of AGE_GROUPS (nan where none)."""
    age, value = np.asarray(ages), np.asarray(distances, float)
    groups = []
    for low, high in AGE_GROUPS:
        inside = value[(age >= low) & (age <= (np.inf if high is None else high))]
        groups.append((float(np.median(inside)) if inside.size else float("nan"), int(inside.size)))
    return groups


def age_slope(ages: list[int], distances: list[float]) -> float:
    """Least-squares slope of distance on keyframe age, per frame of age (nan: under 3 frames or one age)."""
    age, value = np.asarray(ages, float), np.asarray(distances, float)
    if age.size < 3 or np.ptp(age) == 0:
        return float("nan")
    return float(np.polyfit(age, value, 1)[0])


class FaceId:
    """dlib's 5-point shape predictor and face recognition network, from face_recognition_models'
    files (found without importing the package, which needs pkg_resources)."""

    def __init__(self, dlib, models: Path) -> None:
        self.dlib = dlib
        self.predictor = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self.network = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))

    @classmethod
    def load(cls) -> FaceId | None:
        """None where dlib or face_recognition_models is absent."""
        try:
            import dlib
        except ImportError:
            return None
        spec = importlib.util.find_spec("face_recognition_models")
        if spec is None or not spec.submodule_search_locations:
            return None
        models = Path(next(iter(spec.submodule_search_locations))) / "models"
        return cls(dlib, models) if models.is_dir() else None

    def shape(self, rgb: np.ndarray, rect: tuple[int, int, int, int]):
        return self.predictor(rgb, self.dlib.rectangle(*rect))

    def describe(self, rgb: np.ndarray, shape) -> np.ndarray:
        return np.array(self.network.compute_face_descriptor(rgb, shape, 0, 0.25))

    @staticmethod
    def points(shape) -> np.ndarray:
        return np.array([(p.x, p.y) for p in shape.parts()], float)


def input_faces(faceid: FaceId, frames: list[np.ndarray], faces: list[list]) -> list[list[InputFace]]:
    """Each frame's tracked faces on the input: box, the predictor's points and the descriptor."""
    result = []
    for image, found in zip(frames, faces, strict=True):
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        row = []
        for face in found:
            rect = dlib_box(face.box)
            shape = faceid.shape(rgb, rect)
            row.append(InputFace(rect, shape, faceid.points(shape), faceid.describe(rgb, shape)))
        result.append(row)
    return result


def identity_samples(
    faceid: FaceId,
    frame: int,
    reuse: np.ndarray,
    each: np.ndarray,
    inputs: list[InputFace],
    found: list,
    ages: dict[int, int],
) -> list[IdentitySample]:
    """One frame's faces: the outputs' descriptors on chips aligned by the input's points, and the
    predictor's points on each output against the input's."""
    pictures = [cv2.cvtColor(p, cv2.COLOR_BGR2RGB) for p in (reuse, each)]
    samples = []
    for source, face in zip(inputs, found, strict=True):
        if face.id not in ages:
            continue
        da, db = (faceid.describe(p, source.shape) for p in pictures)
        sa, sb = (landmark_shift(faceid.points(faceid.shape(p, source.rect)), source.points) for p in pictures)
        samples.append(IdentitySample(frame, face.id, ages[face.id], source.descriptor, da, db, sa, sb))
    return samples


def identity_report(results: list[Fidelity]) -> str:
    from streamer.pipeline.reuse import ReuseOptions

    handover = ReuseOptions().handover_frames
    groups = " | ".join(
        f"age {low}" if low == high else f"age {low}+" if high is None else f"age {low}-{high}"
        for low, high in AGE_GROUPS
    )
    lines = [
        "## 5. Identity: dlib face descriptors, reuse against per-frame stylization\n",
        "Euclidean distance between 128-d dlib face descriptors (dlib_face_recognition_resnet_model_v1); dlib "
        f"takes two faces as one person below {SAME_PERSON:g}. Face box from the tracker's landmark box; the chips "
        "of all three pictures aligned by dlib's 5-point predictor on the input. Reuse against per frame on the "
        "same frame: median and max; each output against its input: median (what the style itself moves). Frame "
        "to frame: median distance of a face's descriptor to its own on the frame before, on the input, the "
        "per-frame output and the reuse output (how far a face's descriptor moves from one frame to the next). "
        "Point shift: the predictor's points on each output against the input's, median over the eye distance.\n",
        "| clip | style | faces measured | reuse vs per frame, median | max | reuse vs input, median "
        "| per frame vs input, median | frame to frame: input / per frame / reuse | point shift, reuse "
        "| point shift, per frame |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    drift = [
        "\nReuse against per frame by keyframe age (frames since the face's last keyframe): median (count) per "
        f"group, and the least-squares slope per 10 frames of age. A keyframe fades in over {handover} frames: at "
        f"ages 0-{handover - 1} the reuse head is still partly the previous keyframe carried.\n",
        f"| clip | style | {groups} | slope per 10 frames |",
        "|---|---|" + "---|" * len(AGE_GROUPS) + "---|",
    ]
    for r in results:
        s = r.identity
        if not s:
            lines.append(f"| {r.clip} | {r.style} | 0 | | | | | | | |")
            continue
        reuse_each = [x.reuse_each for x in s]
        steps = " / ".join(f"{median(frame_steps(s, picture)):.3f}" for picture in ("input", "each", "reuse"))
        lines.append(
            f"| {r.clip} | {r.style} | {len(s)} | {median(reuse_each):.3f} | {max(reuse_each):.3f} "
            f"| {median([x.reuse_input for x in s]):.3f} | {median([x.each_input for x in s]):.3f} | {steps} "
            f"| {median([x.shift_reuse for x in s]):.3f} | {median([x.shift_each for x in s]):.3f} |"
        )
        ages = [x.age for x in s]
        cells = " | ".join(f"{m:.3f} ({n})" if n else "n/a (0)" for m, n in age_groups(ages, reuse_each))
        drift.append(f"| {r.clip} | {r.style} | {cells} | {10 * age_slope(ages, reuse_each):+.3f} |")
    return "\n".join(lines + drift)


# -- 4. file mode ---------------------------------------------------------------------------------
def head_reference(style: str, crop: np.ndarray, runs: int = 10) -> float:
    """Median ms of the bare head network (file mode's engine options) on one aligned crop."""
    from streamer.engines import open_engine
    from streamer.pipeline.file_job import StylizeOptions

    with open_engine(StylizeOptions(style=style)) as engine:
        batch = crop[None]
        engine.stylize_heads(batch)  # warm-up
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            engine.stylize_heads(batch)
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def file_mode(style: str, clips: list[Path], folder: Path) -> list[str]:
    from streamer.pipeline.file_job import StylizeOptions, stylize_file

    rows = []
    for clip in clips:
        runs = {}
        for temporal in ("reuse", "off"):
            options = StylizeOptions(style=style, temporal=temporal)
            runs[temporal] = stylize_file(clip, folder / f"{clip.stem}_{temporal}.mp4", options)
        reuse, off = runs["reuse"], runs["off"]
        rows.append(
            f"| {clip.name} | {style} | {reuse.frames} | {reuse.keyframes} | {reuse.seconds:.1f} | {off.seconds:.1f} "
            f"| {reuse.fps:.2f} | {off.fps:.2f} | {reuse.fps / off.fps:.2f} |"
        )
    return rows


def reference_crop(image: np.ndarray, faces: list, engine) -> np.ndarray:
    from streamer.compose.heads import crop_heads

    matrices = engine_matrices(engine, faces)
    if not matrices:  # no face: the frame's centre
        h, w = image.shape[:2]
        side = engine.layout.size
        return cv2.resize(image[h // 4 : h // 4 + h // 2, w // 4 : w // 4 + h // 2], (side, side))
    return crop_heads(image, matrices[:1], engine.layout.size)[0]


def engine_matrices(engine, faces: list) -> list[np.ndarray]:
    from streamer.tracking.alignment import similarity_transform

    return [similarity_transform(face.points, engine.layout.template) for face in faces]


# -- main -----------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=150, help="frames of each real clip (measures 2 and 3)")
    parser.add_argument("--noise-frames", type=int, default=60, help="frames of the still photo (measure 1)")
    parser.add_argument("--sigma", type=float, default=3.0, help="sensor noise, grey levels (measure 1)")
    parser.add_argument("--styles", nargs="+", default=[LEARNED, "toon"])
    parser.add_argument("--skip-file", action="store_true", help="leave out file mode (measure 4)")
    parser.add_argument("--skip-identity", action="store_true", help="leave out identity (measure 5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["STREAMER_HOME"] = str(folder / "home")
        from streamer.engines import open_engine
        from streamer.engines.install import import_style
        from streamer.engines.registry import is_learned

        notes = []
        styles = list(args.styles)
        if LEARNED in styles:
            if REFERENCE_WEIGHTS.exists():
                import_style(REFERENCE_WEIGHTS, LEARNED, "dctnet")
            else:
                styles.remove(LEARNED)
                notes.append(f"{REFERENCE_WEIGHTS} is absent: the learned style {LEARNED} is left out.")
        learned = [s for s in styles if is_learned(s)]
        clips = [c for c in (ANCHOR, WEBCAM) if c.exists()]
        notes += [f"{c} is absent: left out." for c in (ANCHOR, WEBCAM) if not c.exists()]

        print(f"# Temporal reuse of heads, on and off ({os.cpu_count()} CPU cores, {THREADS} threads per network)\n")
        for note in notes:
            print(f"Note: {note}")
        base, source = portrait()
        still = noisy_frames(base, args.noise_frames, args.sigma)
        still_faces = track(still)
        crop = None
        if learned:
            with open_engine(learned[0], threads=THREADS) as engine:
                crop = reference_crop(still[0], still_faces[0], engine)
            start_ms = head_reference(learned[0], crop)
            print(
                f"Machine state: the bare {learned[0]} head network (file mode's engine options) on a 288x288 "
                f"aligned crop, median of 10 runs: {start_ms:.1f} ms at the start.\n"
            )

        # 1. flicker
        results = []
        for style in styles:
            with open_engine(style, threads=THREADS) as engine:
                results.append(flicker(engine, still, still_faces))
                regions = [face_region(engine, engine_matrices(engine, f), base.shape) for f in still_faces]
        noise_alone = input_flicker(still, regions) if styles else float("nan")
        print(flicker_report(results, source, base.shape, args, noise_alone) + "\n", flush=True)

        # 2. fidelity, 3. mouth (and the measurements of 5. identity)
        faceid = None if args.skip_identity else FaceId.load()
        fidelities = []
        for clip in clips:
            frames = read_frames(clip, args.frames)
            faces = track(frames)
            inputs = input_faces(faceid, frames, faces) if faceid else None
            for style in styles:
                with open_engine(style, threads=THREADS) as engine:
                    fidelities.append(
                        fidelity(engine, clip, frames, faces, mouth=clip == ANCHOR, faceid=faceid, inputs=inputs)
                    )
        print(fidelity_report(fidelities) + "\n", flush=True)
        mouth = mouth_report([r for r in fidelities if r.openings])
        if mouth:
            print(mouth + "\n", flush=True)

        # 4. file mode
        if args.skip_file:
            print("File mode left out (--skip-file).")
        elif not learned or not clips:
            print("File mode left out: no learned style or no clip.")
        else:
            print("## 4. File mode: `stylize_file`, temporal reuse against off\n")
            rows = []
            before, after = {}, {}
            for style in learned:
                before[style] = head_reference(style, crop)
                rows += file_mode(style, clips, folder)
                after[style] = head_reference(style, crop)
            for style in learned:
                print(
                    f"Bare {style} head network, 288x288, median of 10 runs: {before[style]:.1f} ms before, "
                    f"{after[style]:.1f} ms after.\n"
                )
            print(
                "| clip | style | frames | keyframes | seconds, reuse | seconds, off | fps, reuse | fps, off "
                "| reuse / off |"
            )
            print("|---|---|---|---|---|---|---|---|---|")
            print("\n".join(rows))

        # 5. identity
        print()
        if args.skip_identity:
            print("Identity left out (--skip-identity).")
        elif faceid is None:
            print(f"Identity not measured: dlib or face_recognition_models is absent (`{IDENTITY_PIP}` enables it).")
        elif not fidelities:
            print("Identity left out: no clip.")
        else:
            print(identity_report(fidelities))
    return 0


if __name__ == "__main__":
    sys.exit(main())
