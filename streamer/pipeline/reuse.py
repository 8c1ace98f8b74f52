"""Temporal reuse: a stylized head carried from its keyframe to the next frames by optical flow.

A head is stylized in a crop aligned to a fixed template, so rigid motion of the head barely
changes the crop. For each face (by track id):
- a keyframe holds an input crop and its stylization;
- on each frame, dense optical flow (OpenCV DIS, at `flow_side`) from the current crop to the
  keyframe's carries the stylized keyframe to the current crop; the keyframe's input carried the same
  way, against the current crop, gives the residual (mean grey difference over the face) and the
  share of face pixels the warp does not explain;
- a new keyframe is taken when either passes its limit (no sooner than `keyframe_every` frames after
  the last), and at the latest after `max_age` frames;
- a new keyframe fades in over `handover_frames` frames, the old one carried along beside it, so the
  switch shows no jump;
- the mouth: flow cannot open a mouth that was shut in the keyframe. Where the head network takes
  any size, a patch around the template's mouth is stylized on the frame itself when the mouth's own
  residual (against the keyframe, or against the one fading out) says it moved, and blended over
  the carried head. Live (`start_patches`), the patch is made beside the frame's path and shown
  from the next frame on (a frame period late: too little to see, and the frame's path stays
  short); in files, on the frame itself.

Keyframes are stylized inline (`start_keyframes` None: files, where every run gives the same
output), or handed to `start_keyframes` (live: frames keep going out, carried from the older
keyframe, and never wait for the new one; one batch of keyframes in flight at most). A face seen for
the first time is stylized inline.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from streamer.engines.base import HeadLayout
from streamer.pipeline.device import BackgroundJob, Clock

UNEXPLAINED_GREY = 24  # a pixel the warp leaves this many grey levels off is not explained by it
MOUTH_BOX = 80 / 288  # the mouth patch's stylized square, as a share of the head crop's side
MOUTH_CONTEXT = 8 / 288  # context around it on each side, faded out in the blend
PATCH_AGE = 2  # live: a mouth patch made beside the frame path is shown this many frames at most


@dataclass
class ReuseOptions:
    """How far a keyframe may be carried. `head_size`: keyframes are stylized at this side and
    grown back (fully convolutional head networks only); None: the style's own."""

    keyframe_every: int = 4
    max_age: int = 30
    residual_limit: float = 5.0
    unexplained_limit: float = 0.1
    mouth_limit: float | None = 3.0  # None: no mouth patch
    flow_side: int = 144
    handover_frames: int = 3
    head_size: int | None = None


@dataclass
class _Keyframe:
    grey: np.ndarray  # the input crop, grey, flow_side square
    stylized: np.ndarray  # S x S x 3 uint8
    frame: int  # the frame its input came from


@dataclass
class _Face:
    key: _Keyframe
    old: _Keyframe | None = None  # the keyframe fading out
    faded: int = 0  # handover frames shown so far
    requested: bool = False  # a keyframe for this face is being made


@dataclass
class Carried:
    """One face carried from its keyframe to the current frame."""

    stylized: np.ndarray  # S x S x 3 float32
    residual: float  # mean grey difference over the face after the warp
    unexplained: float  # share of face pixels the warp leaves more than UNEXPLAINED_GREY off
    mouth: float  # mean grey difference over the mouth box


class HeadReuse:
    """Stylized heads for each frame's crops, reusing keyframes (see the module docstring).

    `stylize(crops)`: the engine's head network, uint8 [N, s, s, 3] -> uint8 [N, s, s, `channels`]
    (any multiple of 16 when `resizable`); channels past the colours (a head's person mask, for
    families that segment heads) are carried and blended with them. `start_keyframes(work)`: runs
    `work()` (which returns the stylized crops) off the frame path and returns a job whose
    `result()` is (stylized, timing); None: inline. `start_patches` the same for mouth patches (a
    thread of their own).
    """

    def __init__(
        self,
        stylize: Callable[[np.ndarray], np.ndarray],
        layout: HeadLayout,
        mask: np.ndarray,
        options: ReuseOptions | None = None,
        resizable: bool = False,
        start_keyframes: Callable[[Callable[[], np.ndarray]], BackgroundJob] | None = None,
        start_patches: Callable[[Callable[[], np.ndarray]], BackgroundJob] | None = None,
        clock: Clock = time.perf_counter,
        channels: int = 3,
    ) -> None:
        self.options = options or ReuseOptions()
        self.channels = channels
        self.layout = layout
        self.resizable = resizable
        self._stylize = stylize
        self._start = start_keyframes
        self._start_patches = start_patches
        self._patch_job: BackgroundJob | None = None
        self._patch_faces: list[tuple[int, int]] = []  # (id, frame) of the patches in flight
        self._patches: dict[int, tuple[np.ndarray, int]] = {}  # id -> (stylized patch, its frame)
        self._clock = clock
        self._faces: dict[int, _Face] = {}
        self._flow = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._job: BackgroundJob | None = None
        self._job_faces: list[tuple[int, np.ndarray, int]] = []  # (id, grey, frame) of the keyframes in flight
        self._frame = 0
        self.inline_ms = 0.0  # keyframes stylized on the last frame's own path, in milliseconds
        self.keyframes = 0  # keyframes stylized so far
        self.patches = 0  # mouth patches stylized so far
        size, side = layout.size, self.options.flow_side
        small = cv2.resize(mask, (side, side), interpolation=cv2.INTER_AREA)
        self._face_px = small > 0.5
        self._grid_small = _grid(side)
        self._grid = _grid(size)
        self._mouth = _mouth_boxes(layout, side)
        self._patch_alpha = _patch_alpha(self._mouth[0][2] - self._mouth[0][0], round(MOUTH_CONTEXT * size))

    def heads(self, crops: np.ndarray, ids: Sequence[int], stage_ms: dict[str, float] | None = None) -> np.ndarray:
        """uint8 [N, S, S, 3] aligned crops of this frame's faces (track `ids`) -> their stylized
        heads (uint8 [N, S, S, `channels`]). `stage_ms` gets `keyframe` (a keyframe batch's network
        time, when one was stylized or arrived) and `patch` (the mouth patches' time)."""
        stage_ms = {} if stage_ms is None else stage_ms
        frame, self._frame = self._frame, self._frame + 1
        self.inline_ms = 0.0
        self._collect(stage_ms)
        self._collect_patches(stage_ms)
        greys = [_grey(crop, self.options.flow_side) for crop in crops]
        out = np.empty((*crops.shape[:3], self.channels), np.float32)
        fresh: list[int] = []
        wanted: list[int] = []
        mouths: list[int] = []
        for i, face_id in enumerate(ids):
            face = self._faces.get(face_id)
            if face is None:
                fresh.append(i)
                continue
            carried = self._carry(face.key, greys[i])
            old_mouth = 0.0
            if face.old is not None:  # a keyframe fading out: carried too, and its mouth counts
                old = self._carry(face.old, greys[i])
                old_mouth = old.mouth
                out[i] = self._handover(face, carried.stylized, old.stylized)
            else:
                out[i] = carried.stylized
            if self._wants_keyframe(face, carried, frame):
                wanted.append(i)
            if self._mouth_moved(max(carried.mouth, old_mouth)):
                mouths.append(i)
        if wanted and self._start is not None and self._job is None:
            self._start_job([(ids[i], crops[i], greys[i]) for i in wanted], frame)
        elif wanted and self._start is None:
            fresh.extend(wanted)
        if fresh:
            stylized = self._timed_keyframes(crops[fresh], stage_ms)
            for i, head in zip(fresh, stylized, strict=True):
                key = _Keyframe(greys[i], head, frame)
                face = self._faces.get(ids[i])
                if face is None:
                    self._faces[ids[i]] = _Face(key)
                    out[i] = head
                else:  # the head shown so far fades out; the mouth patch keeps the mouth current
                    self._install(face, key)
                    out[i] = self._handover(face, head.astype(np.float32), out[i])
        if mouths:
            self._patch_mouths(crops, ids, out, mouths, stage_ms)
        self._faces = {face_id: self._faces[face_id] for face_id in ids if face_id in self._faces}
        self._patches = {face_id: p for face_id, p in self._patches.items() if face_id in self._faces}
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)

    # -- keyframes ----------------------------------------------------------------------------------
    def _wants_keyframe(self, face: _Face, carried: Carried, frame: int) -> bool:
        o = self.options
        if face.requested:
            return False
        age = frame - face.key.frame
        if age >= o.max_age:
            return True
        changed = carried.residual > o.residual_limit or carried.unexplained > o.unexplained_limit
        return age >= o.keyframe_every and changed

    def _keyframe_network(self, crops: np.ndarray) -> np.ndarray:
        """The head network on `crops`, at `head_size` when set (and grown back)."""
        side = self.options.head_size
        size = crops.shape[1]
        if not side or side == size or not self.resizable:
            return self._stylize(crops)
        small = np.stack([cv2.resize(c, (side, side), interpolation=cv2.INTER_AREA) for c in crops])
        return np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_LINEAR) for c in self._stylize(small)])

    def _timed_keyframes(self, crops: np.ndarray, stage_ms: dict[str, float]) -> np.ndarray:
        start = self._clock()
        stylized = self._keyframe_network(crops)
        self.inline_ms += (self._clock() - start) * 1000.0
        stage_ms["keyframe"] = stage_ms.get("keyframe", 0.0) + self.inline_ms
        self.keyframes += len(crops)
        return stylized

    def _start_job(self, wanted: list[tuple[int, np.ndarray, np.ndarray]], frame: int) -> None:
        crops = np.stack([crop for _, crop, _ in wanted])
        assert self._start is not None
        self._job = self._start(lambda: self._keyframe_network(crops))
        self._job_faces = [(face_id, grey, frame) for face_id, _, grey in wanted]
        for face_id, _, _ in wanted:
            self._faces[face_id].requested = True

    def _collect(self, stage_ms: dict[str, float]) -> None:
        """Install the keyframes in flight once they are done (raises what their network raised)."""
        if self._job is None or not self._job.done():
            return
        job, self._job = self._job, None
        try:
            stylized, timing = job.result()
        finally:
            for face_id, _, _ in self._job_faces:
                if face_id in self._faces:
                    self._faces[face_id].requested = False
        stage_ms["keyframe"] = timing.ms
        self.keyframes += len(self._job_faces)
        for (face_id, grey, frame), head in zip(self._job_faces, stylized, strict=True):
            if face_id in self._faces:
                self._install(self._faces[face_id], _Keyframe(grey, head, frame))
        self._job_faces = []

    def _install(self, face: _Face, key: _Keyframe) -> None:
        face.old = face.key if self.options.handover_frames > 0 else None
        face.key, face.faded = key, 0

    def _handover(self, face: _Face, new: np.ndarray, old: np.ndarray) -> np.ndarray:
        """The head to show while `face`'s new keyframe fades in: `new` (it, carried here) over `old`
        (the keyframe fading out, carried here); counts a frame of the fade."""
        face.faded += 1
        weight = face.faded / (self.options.handover_frames + 1)
        if face.faded >= self.options.handover_frames:
            face.old = None
        return weight * new + (1.0 - weight) * old

    # -- flow ---------------------------------------------------------------------------------------
    def _carry(self, key: _Keyframe, grey: np.ndarray) -> Carried:
        side, size = self.options.flow_side, self.layout.size
        # grey(x) ~ key.grey(x + flow(x)). DIS makes its own output (an array passed in crashes it);
        # OpenCV's type annotations insist on one.
        flow = self._flow.calc(grey, key.grey, None)  # type: ignore[call-overload]
        warped_grey = _remap(key.grey, self._grid_small + flow)
        diff = cv2.absdiff(warped_grey, grey)
        face = diff[self._face_px]
        x0, y0, x1, y1 = self._mouth[1]
        flow_big = cv2.resize(flow, (size, size), interpolation=cv2.INTER_LINEAR) * (size / side)
        stylized = _remap(key.stylized, self._grid + flow_big)
        return Carried(
            stylized.astype(np.float32),
            float(face.mean()),
            float((face > UNEXPLAINED_GREY).mean()),
            float(diff[y0:y1, x0:x1].mean()),
        )

    # -- the mouth ----------------------------------------------------------------------------------
    def _mouth_moved(self, residual: float) -> bool:
        limit = self.options.mouth_limit
        return self.resizable and limit is not None and residual > limit

    def _patch_mouths(
        self, crops: np.ndarray, ids: Sequence[int], out: np.ndarray, faces: list[int], stage_ms: dict[str, float]
    ) -> None:
        """Blend a stylized mouth over each of `faces` (indexes): made now (inline), or the newest
        one made beside the frame path, at most `PATCH_AGE` frames old, while the next is made."""
        x0, y0, x1, y1 = self._mouth[0]
        mouths = np.ascontiguousarray(crops[faces, y0:y1, x0:x1])
        frame = self._frame - 1
        if self._start_patches is None:
            start = self._clock()
            patches: dict[int, np.ndarray] = dict(zip(faces, self._stylize(mouths), strict=True))
            self.patches += len(faces)
            stage_ms["patch"] = (self._clock() - start) * 1000.0
        else:
            if self._patch_job is None:
                self._patch_job = self._start_patches(lambda: self._stylize(mouths))
                self._patch_faces = [(ids[i], frame) for i in faces]
            patches = {}
            for i in faces:
                made = self._patches.get(ids[i])
                if made is not None and frame - made[1] <= PATCH_AGE:
                    patches[i] = made[0]
        alpha = self._patch_alpha
        for i, patch in patches.items():
            region = out[i, y0:y1, x0:x1]
            region[:] = alpha * patch + (1.0 - alpha) * region

    def _collect_patches(self, stage_ms: dict[str, float]) -> None:
        """Keep the mouth patches made beside the frame path once they are done."""
        if self._patch_job is None or not self._patch_job.done():
            return
        job, self._patch_job = self._patch_job, None
        patches, timing = job.result()
        stage_ms["patch"] = timing.ms
        self.patches += len(self._patch_faces)
        for (face_id, frame), patch in zip(self._patch_faces, patches, strict=True):
            self._patches[face_id] = (patch, frame)

    def close(self) -> None:
        """Waits for keyframes and patches in flight (their threads are the caller's to shut)."""
        for job in (self._job, self._patch_job):
            if job is not None:
                with contextlib.suppress(Exception):  # the stream is over: nothing would show them
                    job.result()
        self._job = self._patch_job = None


def _grey(crop: np.ndarray, side: int) -> np.ndarray:
    return cv2.resize(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), (side, side), interpolation=cv2.INTER_AREA)


def _remap(image: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """`image` sampled at `maps` (float32 [H, W, 2]: each pixel's source x, y), edges repeated."""
    # A two-channel first map takes no second one; OpenCV's type annotations insist on it.
    return cv2.remap(image, maps, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)  # type: ignore[call-overload]


def _grid(side: int) -> np.ndarray:
    """float32 [side, side, 2]: each pixel's own (x, y), for `cv2.remap`."""
    xs, ys = np.meshgrid(np.arange(side, dtype=np.float32), np.arange(side, dtype=np.float32))
    return np.dstack([xs, ys])


def _mouth_boxes(layout: HeadLayout, flow_side: int) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) of the mouth patch in crop pixels (the stylized square plus its context, a
    multiple of 16 inside the crop), and of the mouth box itself in flow pixels."""
    size = layout.size
    cx, cy = layout.template[3:5].mean(axis=0)
    side = min(size, max(16, round((MOUTH_BOX + 2 * MOUTH_CONTEXT) * size / 16) * 16))
    x0 = int(np.clip(round(cx - side / 2), 0, size - side))
    y0 = int(np.clip(round(cy - side / 2), 0, size - side))
    half = MOUTH_BOX * size / 2
    k = flow_side / size
    box = (round((cx - half) * k), round((cy - half) * k), round((cx + half) * k), round((cy + half) * k))
    return (x0, y0, x0 + side, y0 + side), box


def _patch_alpha(side: int, context: int) -> np.ndarray:
    """float32 [side, side, 1]: 1 inside the context border, fading linearly to 0 at the edge."""
    ramp = np.minimum(np.arange(side), np.arange(side)[::-1]).astype(np.float32)
    edge = np.clip(ramp / max(context, 1), 0.0, 1.0)
    return np.minimum.outer(edge, edge)[..., None]


class SceneChange:
    """Whether a frame's background must be stylized again: a still camera's needs it only when the
    picture changed. Compares a small grey copy of each frame with the one last stylized, in blocks
    (a person moving in one corner is a change there), leaving out where the heads go (they are
    pasted over it); `max_age` frames at the latest."""

    THUMBNAIL_WIDTH = 64
    BLOCK = 8

    def __init__(self, limit: float = 6.0, max_age: int = 60) -> None:
        self.limit, self.max_age = limit, max_age
        self._last: np.ndarray | None = None
        self._age = 0

    def _thumbnail(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        width = self.THUMBNAIL_WIDTH
        height = max(self.BLOCK, round(h * width / w / self.BLOCK) * self.BLOCK)
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        return cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32)

    def changed(self, image: np.ndarray, heads: Sequence[tuple[int, int, int, int]] = ()) -> bool:
        """Whether `image` differs from the last stylized one (or it is too old) outside the `heads`
        (x0, y0, x1, y1 boxes in image pixels); counts a frame."""
        self._age += 1
        if self._last is None or self._age > self.max_age:
            return True
        thumb = self._thumbnail(image)
        if thumb.shape != self._last.shape:
            return True
        b = self.BLOCK
        h, w = thumb.shape
        diff = np.abs(thumb - self._last)
        sx, sy = w / image.shape[1], h / image.shape[0]  # the thumbnail's height is rounded to whole blocks
        for x0, y0, x1, y1 in heads:
            diff[int(y0 * sy) : int(np.ceil(y1 * sy)), int(x0 * sx) : int(np.ceil(x1 * sx))] = 0.0
        blocks = diff.reshape(h // b, b, w // b, b).mean(axis=(1, 3))
        return bool(blocks.max() > self.limit)

    def stylized(self, image: np.ndarray) -> None:
        """`image`'s background is being stylized now: later frames compare with it."""
        self._last = self._thumbnail(image)
        self._age = 0
