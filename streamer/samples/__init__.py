"""Sample photos for the demo clip, the tests, model checks and int8 calibration.

They come from scikit-image's bundled data (see README.md here for where each was taken and its
licence) and load as `skimage.data` gives them: RGB (or grey) uint8 arrays, a fresh copy per call.
"""

from __future__ import annotations

from importlib import resources

import cv2
import numpy as np


def _load(name: str, colour: bool = True) -> np.ndarray:
    encoded = np.frombuffer((resources.files(__name__) / name).read_bytes(), np.uint8)
    image = cv2.imdecode(encoded, cv2.IMREAD_COLOR if colour else cv2.IMREAD_GRAYSCALE)
    return np.ascontiguousarray(image[:, :, ::-1]) if colour else image


def astronaut() -> np.ndarray:
    """Eileen Collins, NASA astronaut: (512, 512, 3) RGB."""
    return _load("astronaut.jpg")


def coffee() -> np.ndarray:
    """A cup of coffee on a wooden table: (400, 600, 3) RGB."""
    return _load("coffee.jpg")


def chelsea() -> np.ndarray:
    """Chelsea the cat: (300, 451, 3) RGB."""
    return _load("chelsea.jpg")


def rocket() -> np.ndarray:
    """The launch of DSCOVR on a Falcon 9: (427, 640, 3) RGB."""
    return _load("rocket.jpg")


def camera() -> np.ndarray:
    """A man with a camera: (512, 512) grey."""
    return _load("camera.jpg", colour=False)
