"""MediaPipe models behind two small interfaces: a face detector and a per-face landmark tracker.

MediaPipe 0.10.21 is the last release whose wheel bundles these models, so nothing is downloaded.
It is imported only when a tracker is built. Both classes take BGR uint8 images and return pixel
coordinates; MediaPipe's RGB, normalized coordinates stay inside this file.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from streamer.tracking.alignment import FIVE_POINT_INDICES

# The landmark model works on a square window around the face, resized to this many pixels.
WINDOW_SIZE = 256


_quiet_lock = threading.Lock()
_quiet_users = 0  # threads inside `quiet_native_stderr` now
_saved_stderr: int | None = None  # the real fd 2 while they are


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence C++ log lines (MediaPipe's glog/absl start-up chatter) written straight to fd 2.

    fd 2 belongs to the whole process, and several threads may load models at once (one per
    session of `streamer serve`): the first thread in sends it to /dev/null and the last one out
    puts the real one back, so overlapping uses can never leave stderr silenced. Python's own
    `sys.stderr` is first moved to a copy of fd 2, so the lines other threads print or log
    meanwhile (status lines, a session closing) are not lost with the native ones."""
    global _quiet_users, _saved_stderr
    with _quiet_lock:
        if _quiet_users == 0:
            _move_python_stderr_off_fd2()
            try:
                saved = os.dup(2)
            except OSError:  # no stderr at all
                saved = None
            if saved is not None:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 2)
                os.close(devnull)
            _saved_stderr = saved
        _quiet_users += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_users -= 1
            if _quiet_users == 0 and _saved_stderr is not None:
                os.dup2(_saved_stderr, 2)
                os.close(_saved_stderr)
                _saved_stderr = None


def _move_python_stderr_off_fd2() -> None:
    """Point `sys.stderr` at a duplicate of fd 2 when it writes to fd 2 itself (once: after that it
    no longer does). A stream replaced by the caller (a test's capture, a log file) is left alone."""
    stream = sys.stderr
    try:
        if stream is None or stream.fileno() != 2:
            return
        stream.flush()
        sys.stderr = os.fdopen(
            os.dup(2), "w", buffering=1, encoding=stream.encoding, errors=stream.errors, closefd=True
        )
    except (AttributeError, OSError, ValueError):  # no real file behind it
        return


def load_mediapipe():
    os.environ.setdefault("GLOG_minloglevel", "2")
    with quiet_native_stderr():
        import mediapipe as mp
    return mp


def _warm_up(model) -> None:
    """Run one blank frame so the graph's threads finish starting (and logging) right now."""
    model.process(np.zeros((WINDOW_SIZE, WINDOW_SIZE + 64, 3), np.uint8))  # not square: logs that too


@dataclass(frozen=True)
class Detection:
    """A face found by the detector: box (x0, y0, x1, y1) in pixels and a confidence in [0, 1]."""

    box: tuple[float, float, float, float]
    score: float


class FaceDetector:
    """MediaPipe's BlazeFace full-range detector (faces up to about 5 m from the camera)."""

    def __init__(self, min_confidence: float = 0.5) -> None:
        mp = load_mediapipe()
        with quiet_native_stderr():
            self._model = mp.solutions.face_detection.FaceDetection(
                model_selection=1, min_detection_confidence=min_confidence
            )
            _warm_up(self._model)

    def detect(self, image_bgr: np.ndarray) -> list[Detection]:
        h, w = image_bgr.shape[:2]
        result = self._model.process(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB))
        found = []
        for det in result.detections or []:
            box = det.location_data.relative_bounding_box
            x0, y0 = box.xmin * w, box.ymin * h
            found.append(Detection((x0, y0, x0 + box.width * w, y0 + box.height * h), float(det.score[0])))
        return found

    def close(self) -> None:
        self._model.close()


@dataclass(frozen=True)
class Window:
    """A square region of the frame (centre, side in pixels) that is resized to WINDOW_SIZE."""

    cx: float
    cy: float
    side: float

    def matrix(self) -> np.ndarray:
        """2x3 affine taking frame pixels to window pixels."""
        k = WINDOW_SIZE / self.side
        return np.array([[k, 0.0, WINDOW_SIZE / 2 - k * self.cx], [0.0, k, WINDOW_SIZE / 2 - k * self.cy]])

    def to_frame(self, normalized: np.ndarray) -> np.ndarray:
        """Window-normalized (x, y) in [0, 1] -> frame pixels."""
        return np.column_stack(
            [self.cx + (normalized[:, 0] - 0.5) * self.side, self.cy + (normalized[:, 1] - 0.5) * self.side]
        )

    @staticmethod
    def around(box: tuple[float, float, float, float], margin: float) -> Window:
        x0, y0, x1, y1 = box
        return Window((x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0, 8.0) * margin)


class LandmarkTracker:
    """FaceMesh with refined landmarks (478 points) following one face inside a moving window.

    It runs MediaPipe in video mode, so from one call to the next it only tracks landmarks (no
    detection) while the face stays in its window; the caller moves the window with the face.
    Returns all 478 points in frame pixels, or None when the face is gone from the window.
    """

    _found_any = False  # per process, like MediaPipe's own log-once counters

    def __init__(self, min_confidence: float = 0.5) -> None:
        mp = load_mediapipe()
        with quiet_native_stderr():
            self._model = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=False,
                max_num_faces=1,
                refine_landmarks=True,
                min_detection_confidence=min_confidence,
                min_tracking_confidence=min_confidence,
            )
            _warm_up(self._model)

    def track(self, image_bgr: np.ndarray, window: Window) -> np.ndarray | None:
        crop = cv2.warpAffine(
            image_bgr,
            window.matrix(),
            (WINDOW_SIZE, WINDOW_SIZE),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        rgb = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
        if LandmarkTracker._found_any:
            result = self._model.process(rgb)
        else:  # MediaPipe logs a warning the first time a face's landmarks are projected
            with quiet_native_stderr():
                result = self._model.process(rgb)
        if not result.multi_face_landmarks:
            return None
        LandmarkTracker._found_any = True
        lm = result.multi_face_landmarks[0].landmark
        normalized = np.array([(p.x, p.y) for p in lm], np.float64)
        return window.to_frame(normalized)

    def close(self) -> None:
        self._model.close()


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """The 5 alignment points (eyes, nose tip, mouth corners) from 478 FaceMesh landmarks."""
    return landmarks[list(FIVE_POINT_INDICES)]
