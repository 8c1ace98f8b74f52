"""The frame stylizer's NumPy/OpenCV device part: the CPU path, with any engine.

Heads are cropped with OpenCV, stylized as one batch, and pasted back through their blend masks.
Backgrounds run on a worker thread: this frame's beside the heads (when `parallel`; ONNX Runtime,
OpenCV and PyAV release the GIL), a detached one on the side for live streams.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from streamer.compose import crop_heads, paste_head, resize_to
from streamer.engines.base import StyleEngine
from streamer.pipeline.device import BackgroundJob, Clock, Elapsed, Finished, Timing
from streamer.pipeline.reuse import HeadReuse


class CpuFrameDevice:
    """`FrameDevice` on NumPy arrays. `segmenter` (anything with `masks(crops) -> [N,S,S] floats`)
    is required by engines that declare `segments_heads`: their crops go in on white, and the person
    mask limits the pasted head. With `reuse`, heads come from keyframes carried by optical flow
    (`pipeline.reuse`); for such engines the reuse's network is a `SegmentedHeads`, so crops are
    segmented at keyframes only and the mask is carried with the head. Stages are timed by `clock`."""

    def __init__(
        self,
        engine: StyleEngine,
        parallel: bool = True,
        segmenter=None,
        clock: Clock = time.perf_counter,
        reuse: HeadReuse | None = None,
    ) -> None:
        if engine.capabilities.segments_heads and segmenter is None:
            raise ValueError(f"style {engine.style} needs a head segmenter")
        self.engine = engine
        self.parallel = parallel
        self.segmenter = segmenter
        self._pool: ThreadPoolExecutor | None = None
        self._clock = clock
        self.reuse = reuse

    def upload(self, image: np.ndarray) -> np.ndarray:
        return image

    def stylize_heads(
        self, picture: np.ndarray, matrices: list[np.ndarray], ids: Sequence[int], stage_ms: dict[str, float]
    ) -> tuple[tuple, Elapsed]:
        start = self._clock()
        crops = crop_heads(picture, matrices, self.engine.layout.size)
        masks = np.broadcast_to(self.engine.head_mask, crops.shape[:3])
        if self.reuse is None or not len(crops):
            if self.segmenter is not None and len(crops):
                from streamer.compose.segmentation import on_white

                person = self.segmenter.masks(crops)
                crops, masks = on_white(crops, person), person * self.engine.head_mask
            return (self.engine.stylize_heads(crops), masks), Elapsed(start, self._clock)
        heads = self.reuse.heads(crops, ids, stage_ms)
        if self.segmenter is not None:  # the person mask, segmented at the keyframe, carried with the head
            masks = heads[..., 3].astype(np.float32) * (1.0 / 255.0) * self.engine.head_mask
            heads = np.ascontiguousarray(heads[..., :3])
        timing = Elapsed(start, self._clock)
        # Keyframes stylized on this frame's path count as keyframes, not as the heads' usual time.
        timing.ms -= self.reuse.inline_ms
        return (heads, masks), timing

    def _background(self, picture: np.ndarray, size: tuple[int, int], fallback: bool) -> tuple[np.ndarray, Elapsed]:
        start = self._clock()
        h, w = picture.shape[:2]
        stylized = resize_to(self.engine.stylize_background(resize_to(picture, size), fallback), (w, h))
        return stylized, Elapsed(start, self._clock)

    def start_background(
        self, picture: np.ndarray, size: tuple[int, int], detached: bool, fallback: bool = False
    ) -> BackgroundJob:
        if not (detached or self.parallel):
            return Finished(*self._background(picture, size, fallback))
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="background")
        return self._pool.submit(self._background, picture, size, fallback)

    def compose(
        self, canvas: np.ndarray, heads: tuple | None, matrices: list[np.ndarray], wait_for: Timing | None
    ) -> tuple[np.ndarray, Timing]:
        start = self._clock()
        canvas = canvas.copy()
        if heads is not None:
            for head, mask, m in zip(*heads, matrices, strict=True):
                paste_head(canvas, head, mask, m)
        return canvas, Elapsed(start, self._clock)

    def close(self) -> None:
        """Waits for a background still being stylized; the engine and segmenter are the owner's."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


class SegmentedHeads:
    """The head network of a family that segments heads, for temporal reuse: uint8 [N, S, S, 3]
    crops -> uint8 [N, S, S, 4], the stylized crop on white and, as a fourth channel, the person
    mask (0-255) it was cut out by. The mask is then carried from the keyframe with the head."""

    def __init__(self, engine: StyleEngine, segmenter) -> None:
        self.engine, self.segmenter = engine, segmenter

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        from streamer.compose.segmentation import on_white

        person = self.segmenter.masks(crops)
        heads = self.engine.stylize_heads(on_white(crops, person))
        mask = np.clip(person * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.concatenate([heads, mask[..., None]], axis=-1)
