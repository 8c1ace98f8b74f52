"""`FaceTracker`: every face in a stream, with a stable ID, smoothed 5 alignment points per frame.

Per frame:
- each tracked face gets its landmarks from its own `LandmarkTracker`, in a window centred on
  where the face was in the previous frame (landmark tracking only, no detection);
- every `detect_every` frames, and on every frame while no face is tracked, the detector scans the
  whole frame; a detection that overlaps no tracked face starts a new track (up to `max_faces`,
  largest first);
- a face whose landmarks are lost is kept at its last place for `max_missed` frames (no flicker on a
  single bad frame), then dropped; two tracks on one face are merged (the older ID stays);
- the 5 points are smoothed by a One Euro filter scaled by face size.

IDs are never reused within a tracker. Detector and landmark trackers are injectable for tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from streamer.tracking.alignment import face_scale
from streamer.tracking.landmarks import Detection, FaceDetector, LandmarkTracker, Window, five_points
from streamer.tracking.smoothing import OneEuroFilter

# How much larger than the face's landmark box the tracking window is: room for motion between
# frames, while the face still fills the landmark model's input.
WINDOW_MARGIN = 2.0
# A detection box is tighter than the landmark box; its window is a little larger.
DETECTION_WINDOW_MARGIN = 2.4


@dataclass
class TrackerOptions:
    max_faces: int = 4
    detect_every: int = 10
    min_confidence: float = 0.5
    max_missed: int = 3
    min_cutoff: float = 1.0
    beta: float = 30.0


@dataclass
class TrackedFace:
    """One face in one frame. `points` are smoothed (use them); `raw_points` are as measured."""

    id: int
    points: np.ndarray
    raw_points: np.ndarray
    box: tuple[float, float, float, float]
    missed: int = 0


@dataclass
class _Track:
    id: int
    landmarker: LandmarkTracker
    smoother: OneEuroFilter
    landmarks: np.ndarray
    points: np.ndarray
    missed: int = 0
    born: int = 0
    raw_points: np.ndarray = field(default_factory=lambda: np.zeros((5, 2)))

    @property
    def box(self) -> tuple[float, float, float, float]:
        x0, y0 = self.landmarks.min(axis=0)
        x1, y1 = self.landmarks.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)

    def face(self) -> TrackedFace:
        return TrackedFace(self.id, self.points.copy(), self.raw_points.copy(), self.box, self.missed)


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class FaceTracker:
    """See the module docstring. `update(image, t)` returns the faces of that frame, by ID."""

    def __init__(
        self,
        options: TrackerOptions | None = None,
        detector: Callable[[np.ndarray], list[Detection]] | None = None,
        landmarker_factory: Callable[[], LandmarkTracker] | None = None,
    ) -> None:
        self.options = options or TrackerOptions()
        if self.options.max_faces < 1:
            raise ValueError("max_faces must be at least 1")
        self._detector_model: FaceDetector | None = None
        if detector is None:
            self._detector_model = FaceDetector(self.options.min_confidence)
            detector = self._detector_model.detect
        self._detect = detector
        self._make_landmarker = landmarker_factory or (lambda: LandmarkTracker(self.options.min_confidence))
        # One landmark tracker made ahead, so the first face to appear does not pay for starting one.
        self._spare: LandmarkTracker | None = self._make_landmarker()
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._frame = 0
        self.detections_run = 0

    def update(self, image: np.ndarray, t: float) -> list[TrackedFace]:
        """Track faces in `image` (BGR uint8) taken at time `t` seconds."""
        for track in self._tracks:
            self._follow(track, image)
            if track.missed > self.options.max_missed:
                track.landmarker.close()
        self._tracks = [tr for tr in self._tracks if tr.missed <= self.options.max_missed]

        if not self._tracks or self._frame % self.options.detect_every == 0:
            self._detect_new(image)
        self._merge_duplicates()

        for track in self._tracks:
            if track.missed == 0:
                track.points = track.smoother(t, track.raw_points, face_scale(track.raw_points))
        self._frame += 1
        return [tr.face() for tr in sorted(self._tracks, key=lambda tr: tr.id)]

    def _follow(self, track: _Track, image: np.ndarray) -> None:
        landmarks = track.landmarker.track(image, Window.around(track.box, WINDOW_MARGIN))
        if landmarks is None:
            track.missed += 1
            return
        track.landmarks = landmarks
        track.raw_points = five_points(landmarks)
        track.missed = 0

    def _detect_new(self, image: np.ndarray) -> None:
        self.detections_run += 1
        detections = sorted(
            self._detect(image), key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]), reverse=True
        )
        for det in detections:
            if len(self._tracks) >= self.options.max_faces:
                break
            if any(box_iou(det.box, tr.box) > 0.1 for tr in self._tracks):
                continue
            landmarker, self._spare = self._spare or self._make_landmarker(), None
            landmarks = landmarker.track(image, Window.around(det.box, DETECTION_WINDOW_MARGIN))
            if landmarks is None:
                landmarker.close()
                continue
            points = five_points(landmarks)
            track = _Track(
                self._next_id,
                landmarker,
                OneEuroFilter(self.options.min_cutoff, self.options.beta),
                landmarks,
                points,
                born=self._frame,
                raw_points=points,
            )
            self._next_id += 1
            self._tracks.append(track)

    def _merge_duplicates(self) -> None:
        kept: list[_Track] = []
        for track in sorted(self._tracks, key=lambda tr: tr.id):
            if any(box_iou(track.box, other.box) > 0.5 for other in kept):
                track.landmarker.close()
            else:
                kept.append(track)
        self._tracks = kept

    def close(self) -> None:
        for track in self._tracks:
            track.landmarker.close()
        self._tracks = []
        if self._spare is not None:
            self._spare.close()
            self._spare = None
        if self._detector_model is not None:
            self._detector_model.close()

    def __enter__(self) -> FaceTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
