"""Still images as input: read with OpenCV, which applies the EXIF orientation."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from streamer.capture.file import check_input_path
from streamer.errors import InvalidInputError
from streamer.frame import Frame

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def read_image(path: Path) -> Frame:
    """The image at `path` as a one-frame `Frame` (pts 0); `InvalidInputError` if it cannot be read."""
    check_input_path(path)
    data = np.fromfile(path, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise InvalidInputError(f"cannot read {path.name}: not an image, or damaged")
    return Frame(image, 0, Fraction(1, 1), 0)
