"""Person segmentation masks for head crops (MediaPipe selfie segmentation, bundled with the wheel).

photo2cartoon was trained on heads over a white background; this gives the mask that whitens the
crop's background before the network, and that limits the pasted cartoon to the person.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np


class HeadSegmenter:
    """`masks(crops)`: uint8 [N,S,S,3] BGR -> float32 [N,S,S] person probability in [0, 1].

    Safe to call from several threads (the file pipeline stylizes two frames at once): MediaPipe's
    graph is not, so calls take turns.
    """

    def __init__(self) -> None:
        from streamer.tracking.landmarks import load_mediapipe, quiet_native_stderr

        self._lock = threading.Lock()
        mp = load_mediapipe()
        with quiet_native_stderr():
            self._model = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
            self._model.process(np.zeros((64, 64, 3), np.uint8))

    def masks(self, crops: np.ndarray) -> np.ndarray:
        out = np.empty(crops.shape[:3], np.float32)
        for i, crop in enumerate(crops):
            rgb = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
            with self._lock:
                out[i] = self._model.process(rgb).segmentation_mask
        return out

    def close(self) -> None:
        self._model.close()


def on_white(crops: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """The crops with everything outside the masks faded to white."""
    m = masks[..., None]
    return np.clip(crops * m + 255.0 * (1.0 - m) + 0.5, 0, 255).astype(np.uint8)
