"""Background sizing: stylize a smaller copy of the frame, then scale the result back up."""

from __future__ import annotations

import cv2
import numpy as np


def background_size(
    width: int, height: int, scale: float | None = None, short_side: int | None = None
) -> tuple[int, int]:
    """(w, h) at which to stylize the background of a `width` x `height` frame.

    Give either `scale` (0 < scale <= 1) or `short_side` (pixels; never upscales). The aspect ratio
    is kept and each side is at least 16 pixels.
    """
    if scale is None:
        scale = 1.0 if short_side is None else min(1.0, short_side / min(width, height))
    if not 0 < scale <= 1:
        raise ValueError(f"background scale must be in (0, 1], got {scale}")
    return max(16, round(width * scale)), max(16, round(height * scale))


def resize_to(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to (w, h): area averaging when shrinking, bilinear when growing; a no-op at equal size."""
    h, w = image.shape[:2]
    if (w, h) == size:
        return image
    shrinking = size[0] < w
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
