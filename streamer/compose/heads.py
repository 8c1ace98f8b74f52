"""Head crops: warp each face out of the frame onto its template, and the stylized head back in.

Pure OpenCV/NumPy on uint8 BGR images. `frame_to_crop` is the 2x3 similarity that
`tracking.alignment.similarity_transform` gives (frame pixels -> crop pixels).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from streamer.tracking.alignment import apply_affine, invert_affine


def crop_heads(image: np.ndarray, frame_to_crop: list[np.ndarray], size: int) -> np.ndarray:
    """uint8 [N, size, size, 3]: one aligned crop per matrix (edge pixels repeat past the frame)."""
    crops = np.empty((len(frame_to_crop), size, size, 3), np.uint8)
    for i, m in enumerate(frame_to_crop):
        cv2.warpAffine(image, m, (size, size), dst=crops[i], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return crops


def head_box(frame_to_crop: np.ndarray, size: int, width: int, height: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): the part of a `width` x `height` frame that a `size` crop covers (empty
    when x1 <= x0 or y1 <= y0)."""
    corners = apply_affine(
        invert_affine(frame_to_crop), np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
    )
    x0 = max(0, math.floor(corners[:, 0].min()))
    y0 = max(0, math.floor(corners[:, 1].min()))
    x1 = min(width, math.ceil(corners[:, 0].max()) + 1)
    y1 = min(height, math.ceil(corners[:, 1].max()) + 1)
    return x0, y0, x1, y1


def paste_head(canvas: np.ndarray, head: np.ndarray, mask: np.ndarray, frame_to_crop: np.ndarray) -> None:
    """Blend `head` (SxSx3 uint8) into `canvas` in place, where `mask` (SxS float in [0, 1]) says.

    Only the canvas box that the crop covers is touched, so the cost follows the face's size, not
    the frame's. A mask that fades to 0 before the crop border leaves no seam and no box.
    """
    x0, y0, x1, y1 = head_box(frame_to_crop, head.shape[0], canvas.shape[1], canvas.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    local = invert_affine(frame_to_crop)
    local[:, 2] -= (x0, y0)
    box = (x1 - x0, y1 - y0)
    warped = cv2.warpAffine(head, local, box, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(mask, local, box, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    region = canvas[y0:y1, x0:x1]
    region[:] = cv2.blendLinear(warped, region, alpha, 1.0 - alpha)
