"""Still images as output, written whole or not at all (encode in memory, temp file, rename)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from streamer.capture.image import IMAGE_EXTENSIONS
from streamer.errors import OutputError
from streamer.sinks.file import check_output_path


def write_image(path: Path, image: np.ndarray) -> None:
    check_output_path(path, IMAGE_EXTENSIONS)
    ok, encoded = cv2.imencode(path.suffix.lower(), image)
    if not ok:
        raise OutputError(f"cannot encode {path.name}")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(encoded.tobytes())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
