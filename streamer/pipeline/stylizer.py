"""`FrameStylizer`: one frame and its tracked faces in, the cartoon frame out.

Heads and background are independent: the background (downscale, stylize, upscale) runs on a
worker thread while this thread crops, batches and stylizes the heads (ONNX Runtime, OpenCV and
PyAV release the GIL). Then heads are pasted over the background. Each part's time is recorded on
the frame as `heads`, `background` and `compose`.

For live streams the background can also be refreshed asynchronously (the frame takes the newest
finished background and never waits for the next), stylized at a lower resolution, or left as
captured; the latency scheduler picks which.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from streamer.compose import background_size, crop_heads, paste_head, resize_to
from streamer.engines.base import StyleEngine
from streamer.frame import Frame, StageClock
from streamer.tracking.alignment import similarity_transform
from streamer.tracking.tracker import TrackedFace

BACKGROUND_MODES = ("stylize", "async", "original")


def head_matrices(faces: list[TrackedFace], template: np.ndarray) -> list[np.ndarray]:
    """Frame -> crop similarity of each face, onto an engine's 5-point template."""
    return [similarity_transform(face.points, template) for face in faces]


class FrameStylizer:
    """Stylizes frames with `engine`; the background at `background_scale` or `background_short_side`."""

    def __init__(
        self,
        engine: StyleEngine,
        background_scale: float | None = None,
        background_short_side: int | None = None,
        parallel: bool = True,
    ) -> None:
        self.engine = engine
        self.background_scale = background_scale
        self.background_short_side = background_short_side
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="background") if parallel else None
        self._pending: Future | None = None  # the asynchronous background being computed
        self._latest: np.ndarray | None = None  # the newest finished asynchronous background

    def head_matrices(self, faces: list[TrackedFace]) -> list[np.ndarray]:
        return head_matrices(faces, self.engine.layout.template)

    def _background(self, image: np.ndarray, factor: float = 1.0) -> tuple[np.ndarray, float]:
        t0 = time.perf_counter()
        if not self.engine.stylizes_background:
            return image, 0.0
        h, w = image.shape[:2]
        small_w, small_h = background_size(w, h, self.background_scale, self.background_short_side)
        small = resize_to(image, (max(16, round(small_w * factor)), max(16, round(small_h * factor))))
        stylized = resize_to(self.engine.stylize_background(small), (w, h))
        return stylized, (time.perf_counter() - t0) * 1000.0

    def _async_background(self, frame: Frame, factor: float, refresh: bool) -> np.ndarray:
        """The newest finished background; with `refresh`, starts the next one if none is running."""
        if self._pending is not None and (self._pending.done() or self._latest is None):
            self._latest, frame.stage_ms["background"] = self._pending.result()
            self._pending = None
        if refresh and self._pending is None and self._pool is not None:
            self._pending = self._pool.submit(self._background, frame.image, factor)
        if self._latest is None or self._latest.shape != frame.image.shape:
            self._latest, frame.stage_ms["background"] = self._background(frame.image, factor)
        return self._latest.copy()

    def probe_background(self, frame: Frame, factor: float = 1.0) -> None:
        """Keep measuring the background while it is not shown: start a job when none is running,
        record the time of one that finished (on `frame.stage_ms`)."""
        if self._pool is None:
            return
        if self._pending is not None and self._pending.done():
            self._latest, frame.stage_ms["background"] = self._pending.result()
            self._pending = None
        if self._pending is None:
            self._pending = self._pool.submit(self._background, frame.image, factor)

    def __call__(
        self,
        frame: Frame,
        faces: list[TrackedFace],
        background: str = "stylize",
        background_factor: float = 1.0,
        refresh: bool = True,
    ) -> np.ndarray:
        """The stylized frame. `background` is one of BACKGROUND_MODES; `background_factor` scales
        the background's stylizing size further (the scheduler's lower resolution); in "async" mode,
        `refresh` says whether to start computing a newer background (the caller spaces them out,
        so the background does not take a core away from the heads)."""
        pending = None
        if background == "stylize" and self._pool is not None:
            pending = self._pool.submit(self._background, frame.image, background_factor)
        with StageClock(frame, "heads"):
            matrices = self.head_matrices(faces)
            inputs, masks = self.engine.prepare_heads(crop_heads(frame.image, matrices, self.engine.layout.size))
            heads = self.engine.stylize_heads(inputs)
        if background == "stylize":
            result = pending.result() if pending else self._background(frame.image, background_factor)
            canvas, frame.stage_ms["background"] = result
            if self._pool is not None:  # live: a switch to "async" then starts without making one in place
                self._latest = canvas.copy()
        elif background == "async":
            canvas = self._async_background(frame, background_factor, refresh)
        else:
            canvas = frame.image
        with StageClock(frame, "compose"):
            if canvas is frame.image:
                canvas = canvas.copy()
            for head, mask, m in zip(heads, masks, matrices, strict=True):
                paste_head(canvas, head, mask, m)
        return canvas

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)


def open_frame_stylizer(
    engine: StyleEngine,
    background_scale: float | None = None,
    background_short_side: int | None = None,
    parallel: bool = True,
):
    """The GPU path (one upload, two CUDA streams, one download) where the engine's runners take
    CUDA tensors, else `FrameStylizer` (`parallel`: heads and background side by side)."""
    if "torch" in sys.modules:  # runners on a GPU have imported it; otherwise none can be there
        from streamer.pipeline import gpu

        if gpu.GpuFrameStylizer.supports(engine):
            return gpu.GpuFrameStylizer(engine, background_scale, background_short_side)
    return FrameStylizer(engine, background_scale, background_short_side, parallel=parallel)
