"""A stylized background carried to a later frame of a moving camera by low-resolution optical flow.

Live, a background is stylized on the side and shown until the next one is ready: a few frames for
the built-in style, a quarter second or more for a learned one. A still camera loses nothing by it;
a moving one would show the room where it was when that background's frame was taken, sliding under
the heads. So each background keeps a small grey copy of the frame it was made from, and a frame
that shows it computes dense optical flow (OpenCV DIS, `WIDTH` pixels wide) from its own small copy
to that one, and samples the background there: the room moves with the camera until the refresh
lands. Where the flow says the picture is still (the median motion under `STILL_PX` small pixels),
the background is shown as it is, costing only the flow.
"""

from __future__ import annotations

import cv2
import numpy as np


class BackgroundMotion:
    """`thumbnail(image)` of each frame; `carry(background, made_from, now)` moves a background made
    from the frame with thumbnail `made_from` to the frame with thumbnail `now` (None: no motion)."""

    WIDTH = 160
    # A still webcam with a person moving in it: median flow 0.17 (p90 0.37) small pixels over 8
    # frames; a camera panning 4 frame pixels a frame: 1 small pixel a frame.
    STILL_PX = 0.5

    def __init__(self) -> None:
        # The fast preset: on a panning webcam clip it leaves 0.14-0.17 of the difference a late
        # background shows, the medium one 0.10-0.12 at 1.5 ms more per frame, the ultrafast one
        # loses motions beyond a few small pixels (benchmarks/bench_background_motion.py).
        self._flow = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
        self._grid: np.ndarray | None = None
        still = np.zeros((90, self.WIDTH), np.uint8)
        self._flow.calc(still, still, None)  # type: ignore[call-overload]  # its first call sets it up: not on a frame

    def thumbnail(self, image: np.ndarray) -> np.ndarray:
        """A grey copy of a uint8 HxWx3 BGR frame, `WIDTH` pixels wide."""
        h, w = image.shape[:2]
        height = max(8, round(h * self.WIDTH / w))
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        return cv2.resize(grey, (self.WIDTH, height), interpolation=cv2.INTER_AREA)

    def carry(self, background: np.ndarray, made_from: np.ndarray, now: np.ndarray) -> np.ndarray | None:
        """`background` (uint8 HxWx3, made from the frame of `made_from`) as seen from the frame of
        `now`, or None when the flow between them says the picture did not move."""
        if made_from.shape != now.shape:
            return None
        # now(x) ~ made_from(x + flow(x)). DIS makes its own output; OpenCV's annotations insist on one.
        flow = self._flow.calc(now, made_from, None)  # type: ignore[call-overload]
        if float(np.median(np.hypot(flow[..., 0], flow[..., 1]))) < self.STILL_PX:
            return None
        h, w = background.shape[:2]
        th, tw = now.shape
        big = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
        big[..., 0] *= w / tw
        big[..., 1] *= h / th
        if self._grid is None or self._grid.shape[:2] != (h, w):
            xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            self._grid = np.dstack([xs, ys])
        big += self._grid
        # A two-channel first map takes no second one; OpenCV's type annotations insist on it.
        return cv2.remap(background, big, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)  # type: ignore[call-overload]
