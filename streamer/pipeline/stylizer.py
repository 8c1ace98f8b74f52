"""`FrameStylizer`: one frame and its tracked faces in, the cartoon frame out.

The one place that decides what a frame's picture is made of: the heads (stylized on every frame,
or, with temporal reuse, keyframes carried to each frame by optical flow: `pipeline.reuse`), and a
background in one of the `BackgroundMode`s the live scheduler picks (this frame's own,
the newest finished one while the next is made on the side, or the frame as captured, possibly
while a background is timed on the side). The pixels are moved by a device part
(`device.FrameDevice`): NumPy/OpenCV on the CPU (`cpu_device`), or torch tensors where the engine's
networks take them on a GPU (`gpu`: one upload, two CUDA streams, one download).

Each part's time is recorded on the frame as `heads` (their time on the frame's path), `background`
(one made for this frame, or a side one that finished since the last frame) and `compose`; with
reuse also `keyframe` (a keyframe's network, stylized now or arrived from the side) and `patch`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from streamer.compose.background import background_size
from streamer.compose.heads import head_box
from streamer.engines.base import StyleEngine
from streamer.frame import Frame
from streamer.pipeline.background_motion import BackgroundMotion
from streamer.pipeline.device import BackgroundJob, Clock, FrameDevice, Timing
from streamer.pipeline.quality import BackgroundMode
from streamer.pipeline.reuse import HeadReuse, ReuseOptions, SceneChange
from streamer.tracking.alignment import similarity_transform
from streamer.tracking.tracker import TrackedFace


class FrameStylizer:
    """Stylizes frames with `engine` on `device`; the background at `background_scale` of the frame
    or with `background_short_side` pixels. A background shown on a later frame than the one it was
    made from is carried to it by optical flow where the camera moved (`background_motion`; on the
    NumPy/OpenCV part), timed by `clock` as the stage `background_warp` (and counted in `compose`).

    Calls in STYLIZE and ORIGINAL mode may come from several threads at once (the file pipeline
    keeps two frames in flight); ASYNC and PROBE keep state between frames and are for one caller
    at a time (a live stream). `close()` closes what the stylizer opened (its device part and a
    head segmenter it made), not the engine.
    """

    def __init__(
        self,
        engine: StyleEngine,
        device: FrameDevice,
        background_scale: float | None = None,
        background_short_side: int | None = None,
        owned: tuple = (),
        clock: Clock = time.perf_counter,
    ) -> None:
        self.engine = engine
        self.device = device
        self.background_scale = background_scale
        self.background_short_side = background_short_side
        self._owned = owned
        self._lock = threading.Lock()
        # The newest finished background of each network (True: the engine's fallback).
        self._latest: dict[bool, _Background] = {}
        self._pending: BackgroundJob | None = None  # the side background being made ...
        self._pending_made = _Background(False, 1.0, None)  # ... and how
        self._motion = BackgroundMotion()
        self._clock = clock
        # The size factor of the background whose time this frame's stage times hold.
        self.background_factor_done = 1.0
        # With temporal reuse, a background is stylized again only when the picture changed.
        self._scene = SceneChange() if device.reuse is not None else None

    @property
    def reuse(self) -> HeadReuse | None:
        """The temporal reuse of heads (None: heads are stylized on every frame)."""
        return self.device.reuse

    @property
    def side_background(self) -> BackgroundJob | None:
        """The background being made on the side (ASYNC and PROBE modes), if any."""
        return self._pending

    def head_matrices(self, faces: list[TrackedFace]) -> list[np.ndarray]:
        """Frame -> crop similarity of each face, onto the engine's 5-point template."""
        return [similarity_transform(face.points, self.engine.layout.template) for face in faces]

    def background_size(self, width: int, height: int, factor: float = 1.0) -> tuple[int, int]:
        """(w, h) the background of a `width` x `height` frame is stylized at; `factor` shrinks it
        further (the scheduler's lower resolution)."""
        w, h = background_size(width, height, self.background_scale, self.background_short_side)
        return max(16, round(w * factor)), max(16, round(h * factor))

    def __call__(
        self,
        frame: Frame,
        faces: list[TrackedFace],
        mode: BackgroundMode = BackgroundMode.STYLIZE,
        background_factor: float = 1.0,
        refresh: bool = True,
        fallback: bool = False,
        side_fallback: bool | None = None,
    ) -> np.ndarray:
        """The stylized frame; stage times go to `frame.stage_ms`. In ASYNC and PROBE mode `refresh`
        says whether to start making a newer side background (the caller spaces them out, so the
        background does not take a core away from the heads). `fallback`: ASYNC shows a background
        of the engine's fallback network; `side_fallback` says which network a side background
        started now uses (default: the one shown), so a probe can time the other one."""
        matrices = self.head_matrices(faces)
        ids = [face.id for face in faces]
        return self.stylize(
            frame.image, matrices, mode, background_factor, refresh, frame.stage_ms, ids, fallback, side_fallback
        )

    def stylize(
        self,
        image: np.ndarray,
        matrices: list[np.ndarray],
        mode: BackgroundMode = BackgroundMode.STYLIZE,
        background_factor: float = 1.0,
        refresh: bool = True,
        stage_ms: dict[str, float] | None = None,
        ids: Sequence[int] | None = None,
        fallback: bool = False,
        side_fallback: bool | None = None,
    ) -> np.ndarray:
        """uint8 HxWx3 BGR image and each face's frame->crop matrix -> the stylized image. `ids`
        name the faces from frame to frame (temporal reuse); default: their order. `fallback` and
        `side_fallback` as for `__call__` (without a fallback network, the style's own is used)."""
        if not self.engine.stylizes_background:
            mode = BackgroundMode.ORIGINAL
        has_fallback = self.engine.fallback_background is not None
        fallback = fallback and has_fallback and mode is BackgroundMode.ASYNC
        side = fallback if side_fallback is None else side_fallback and has_fallback
        mode, refresh = self._reuse_background(image, matrices, mode, refresh, fallback)
        timings: dict[str, Timing] = {}
        extra: dict[str, float] = {}
        picture = self.device.upload(image)
        size = self.background_size(image.shape[1], image.shape[0], background_factor)
        own = None
        if mode is BackgroundMode.STYLIZE:
            own = self.device.start_background(picture, size, detached=False)
        heads = None
        if matrices:
            ids = range(len(matrices)) if ids is None else ids
            heads, timings["heads"] = self.device.stylize_heads(picture, matrices, ids, extra)
        thumbnail = None  # where a background may be shown on later frames (not in files stylizing every one)
        later = mode in (BackgroundMode.ASYNC, BackgroundMode.PROBE) or self._scene is not None
        if isinstance(picture, np.ndarray) and mode is not BackgroundMode.ORIGINAL and later:
            thumbnail = self._motion.thumbnail(image)
        sized = (size, background_factor, thumbnail)
        canvas, wait_for, made_from = self._canvas(picture, mode, sized, refresh, own, timings, fallback, side)
        if mode is BackgroundMode.ASYNC and thumbnail is not None:
            start = self._clock()
            if made_from is not None and made_from is not thumbnail:
                carried = self._motion.carry(canvas, made_from, thumbnail)
                canvas = canvas if carried is None else carried
            extra["background_warp"] = (self._clock() - start) * 1000.0
        out, timings["compose"] = self.device.compose(canvas, heads, matrices, wait_for)
        if stage_ms is not None:
            stage_ms.update({stage: timing.ms for stage, timing in timings.items()})
            stage_ms.update(extra)
            # Carrying the background is part of making this frame's canvas: counted in `compose`
            # too, which every stylized frame measures (a cost only some rungs measure would go
            # stale in the scheduler's averages while other rungs run).
            stage_ms["compose"] += extra.get("background_warp", 0.0)
        return out

    def _reuse_background(
        self, image: np.ndarray, matrices: list[np.ndarray], mode: BackgroundMode, refresh: bool, fallback: bool
    ) -> tuple[BackgroundMode, bool]:
        """With temporal reuse, a picture unchanged outside its heads keeps the newest stylized
        background (of the network asked for): STYLIZE shows it instead of making one, ASYNC does
        not refresh it."""
        scene = self._scene
        if scene is None or mode not in (BackgroundMode.STYLIZE, BackgroundMode.ASYNC):
            return mode, refresh
        with self._lock:
            latest = self._latest.get(fallback)
            ready = latest is not None and _frame_hw(latest.picture) == image.shape[:2]
            busy = self._pending is not None
        if mode is BackgroundMode.ASYNC and (busy or not refresh):
            return mode, refresh  # no background is started on this frame anyway
        size, (h, w) = self.engine.layout.size, image.shape[:2]
        if ready and not scene.changed(image, [head_box(m, size, w, h) for m in matrices]):
            return BackgroundMode.ASYNC, False  # the newest one, as it is
        scene.stylized(image)
        return mode, refresh

    def _canvas(
        self,
        picture: Any,
        mode: BackgroundMode,
        sized: tuple[tuple[int, int], float, np.ndarray | None],
        refresh: bool,
        own: BackgroundJob | None,
        timings: dict[str, Timing],
        fallback: bool,
        side_fallback: bool,
    ) -> tuple[Any, Timing | None, np.ndarray | None]:
        """The picture the heads go onto, the timing of a background made for this frame (then
        compositing waits for it; never for a side one), and the thumbnail of the frame the picture's
        background was made from. `sized`: the size a background made now gets, its factor of the
        full size, and this frame's thumbnail.

        ASYNC and PROBE take a side background that finished since the last frame (its time goes in
        `timings`, under `fallback_background` when the fallback network made it) and, with
        `refresh`, start the next one (with the fallback network when `side_fallback`). ASYNC shows
        the newest finished one of the network asked for (`fallback`); while there is none of this
        size it shows the other network's and starts one on the side at once, and only when neither
        has one makes it now. PROBE shows the frame as captured. STYLIZE's own background is kept
        as the newest too, so a switch to ASYNC starts without making one.
        """
        if mode is BackgroundMode.ORIGINAL:
            return picture, None, None
        size, factor, thumbnail = sized
        side = mode in (BackgroundMode.ASYNC, BackgroundMode.PROBE)
        made_now = None
        with self._lock:
            latest = self._latest
            if side and self._pending is not None and self._pending.done():
                finished = self._pending_made
                finished.picture, timings[finished.stage] = self._pending.result()
                latest[finished.fallback], self.background_factor_done = finished, finished.factor
                self._pending = None
            fresh = {kind: made for kind, made in latest.items() if made.picture.shape == picture.shape}
            if own is None and mode is BackgroundMode.ASYNC and not fresh:
                own = self.device.start_background(picture, size, detached=False, fallback=fallback)
            if own is not None:
                made = _Background(fallback and mode is BackgroundMode.ASYNC, factor, thumbnail)
                made.picture, made_now = own.result()
                latest[made.fallback] = fresh[made.fallback] = made
                timings[made.stage], self.background_factor_done = made_now, factor
            elif mode is BackgroundMode.ASYNC and fallback not in fresh:
                refresh, side_fallback = True, fallback  # showing the other network's: replace it soon
            if side and refresh and self._pending is None:
                self._pending = self.device.start_background(picture, size, detached=True, fallback=side_fallback)
                self._pending_made = _Background(side_fallback, factor, thumbnail)
            if mode is BackgroundMode.PROBE:
                return picture, made_now, None
            shown = fresh[fallback if fallback in fresh else not fallback]
            return shown.picture, made_now, shown.made_from

    def close(self) -> None:
        """Waits for a side background still being made; closes the device part and what the
        stylizer opened for the engine (a head segmenter), not the engine itself."""
        self.device.close()
        for resource in self._owned:
            resource.close()
        self._pending = None
        self._latest = {}


@dataclass
class _Background:
    """A stylized background (`picture`, frame size, once made): by the engine's fallback network
    or the style's own, at `factor` of the full size, from the frame whose thumbnail is `made_from`
    (None: not kept)."""

    fallback: bool
    factor: float
    made_from: np.ndarray | None
    picture: Any = None

    @property
    def stage(self) -> str:
        """The stage its time is recorded as."""
        return "fallback_background" if self.fallback else "background"


def _frame_hw(picture: Any) -> tuple[int, int]:
    """Height and width of a device picture: an HxWx3 array, or a 1x3xHxW tensor."""
    h, w = picture.shape[-2:] if len(picture.shape) == 4 else picture.shape[:2]
    return int(h), int(w)


def open_frame_stylizer(
    engine: StyleEngine,
    background_scale: float | None = None,
    background_short_side: int | None = None,
    parallel: bool = True,
    reuse: ReuseOptions | None = None,
    keyframes_aside: bool = False,
) -> FrameStylizer:
    """A stylizer on the best device part for `engine`: torch tensors (one upload, two CUDA streams,
    one download) where both networks take tensors on one CUDA device, else NumPy/OpenCV
    (`parallel`: this frame's background beside its heads). Engines that segment heads get a
    MediaPipe segmenter here, owned by the stylizer.

    With `reuse`, heads are carried from keyframes by optical flow (on either part; on the torch one
    the flow runs on the CPU and keyframes on the GPU); `keyframes_aside`: keyframes and mouth
    patches are stylized on threads of their own and no frame waits for them (live), else on the
    frame that needs one (files: the same output every run)."""
    from streamer.pipeline.device import SideThread

    caps = engine.capabilities
    on_gpu = caps.takes_tensors and caps.device.startswith("cuda") and not caps.segments_heads
    from streamer.pipeline.cpu_device import CpuFrameDevice, SegmentedHeads

    aside = reuse is not None and keyframes_aside
    keyframes, patches = (SideThread("keyframes"), SideThread("mouths")) if aside else (None, None)
    segmenter = None
    if caps.segments_heads:  # never on the GPU path
        from streamer.compose.segmentation import HeadSegmenter

        segmenter = HeadSegmenter()
    head_reuse = None
    if reuse is not None:
        stylize: Callable[[np.ndarray], np.ndarray] = engine.stylize_heads
        if segmenter is not None:  # segmented at keyframes, the mask carried with the head
            stylize = SegmentedHeads(engine, segmenter)
        elif on_gpu:  # keyframes on the GPU, each calling thread on a CUDA stream of its own
            from streamer.pipeline.gpu import HeadNetwork

            stylize = HeadNetwork(engine)
        head_reuse = HeadReuse(
            stylize,
            engine.layout,
            engine.head_mask,
            reuse,
            caps.any_head_size,
            start_keyframes=keyframes.start if keyframes else None,
            start_patches=patches.start if patches else None,
            channels=4 if segmenter is not None else 3,
        )
    device: FrameDevice
    if on_gpu:
        from streamer.pipeline.gpu import TorchFrameDevice

        device = TorchFrameDevice(engine, reuse=head_reuse)
    else:
        device = CpuFrameDevice(engine, parallel, segmenter, reuse=head_reuse)
    owned = tuple(part for part in (keyframes, patches, segmenter) if part is not None)
    return FrameStylizer(engine, device, background_scale, background_short_side, owned)
