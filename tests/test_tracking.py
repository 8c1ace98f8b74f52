"""Face tracking on the synthetic source, whose true face points are known for every frame."""

import numpy as np
import pytest

from streamer.capture.synthetic import Motion, SyntheticSource
from streamer.tracking.alignment import similarity_transform
from streamer.tracking.tracker import FaceTracker, TrackerOptions

from .conftest import moving_face

TEMPLATE = np.array([[111.78, 137.63], [179.74, 137.25], [145.98, 176.28], [118.06, 216.06], [174.34, 215.75]])


def _track(source: SyntheticSource, **options):
    frames = []
    with FaceTracker(TrackerOptions(**options)) as tracker:
        for frame in source:
            frames.append(tracker.update(frame.image, frame.time))
        return frames, tracker.detections_run


def _rms(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(((a - b) ** 2).sum(-1).mean()))


def test_moving_face_points_and_alignment_match_ground_truth():
    source = moving_face(duration=2.0, noise=2.0)
    frames, _ = _track(source)
    errors, aligned_errors = [], []
    for index, faces in enumerate(frames):
        assert len(faces) == 1, f"frame {index}: {len(faces)} faces"
        truth = source.ground_truth(index)[0]
        errors.append(_rms(faces[0].points, truth))
        # Where the true points land in the 288 crop built from the tracked points.
        m = similarity_transform(faces[0].points, TEMPLATE)
        truth_in_crop = truth @ m[:, :2].T + m[:, 2]
        m_true = similarity_transform(truth, TEMPLATE)
        aligned_errors.append(_rms(truth_in_crop, truth @ m_true[:, :2].T + m_true[:, 2]))
    assert np.sqrt(np.mean(np.square(errors))) < 2.5
    assert max(errors) < 5.0
    assert np.sqrt(np.mean(np.square(aligned_errors))) < 3.0


def test_still_face_does_not_shimmer():
    source = SyntheticSource([Motion((320, 240), scale=1.3)], duration=2.0, noise=6.0, seed=7)
    frames, _ = _track(source)
    smoothed = np.array([faces[0].points for faces in frames[10:]])
    raw = np.array([faces[0].raw_points for faces in frames[10:]])
    jitter = _rms(smoothed, smoothed.mean(axis=0))
    raw_jitter = _rms(raw, raw.mean(axis=0))
    assert jitter < 0.5
    assert jitter < raw_jitter


def test_two_faces_keep_their_ids_and_a_newcomer_gets_a_new_one():
    source = SyntheticSource(
        [Motion((170, 240), scale=1.0, sway=(30, 15)), Motion((470, 240), scale=1.0, sway=(30, 20), enter=0.5)],
        duration=2.0,
        noise=2.0,
    )
    frames, _ = _track(source)
    entered = round(0.5 * source.fps)
    assert [f.id for f in frames[0]] == [1]
    # The newcomer is found within one detection period.
    assert all(len(faces) == 2 for faces in frames[entered + 10 :])
    for index, faces in enumerate(frames):
        truths = source.ground_truth(index)
        for face in faces:
            # ID 1 is always the left face, ID 2 always the right one.
            truth = truths[face.id - 1]
            assert truth is not None and _rms(face.points, truth) < 5.0, (index, face.id)


def test_a_face_that_leaves_is_dropped():
    source = SyntheticSource([Motion((320, 240), scale=1.2, leave=1.0)], duration=1.6)
    frames, _ = _track(source)
    assert all(len(faces) == 1 for faces in frames[:30])
    assert all(len(faces) == 0 for faces in frames[30 + TrackerOptions().max_missed + 1 :])


@pytest.mark.parametrize("detect_every", [5, 15])
def test_full_detection_runs_every_k_frames_while_a_face_is_tracked(detect_every):
    source = moving_face(duration=1.5)
    frames, detections = _track(source, detect_every=detect_every)
    assert all(len(faces) == 1 for faces in frames)
    assert detections == -(-len(source) // detect_every)


def test_max_faces_caps_the_number_tracked():
    source = SyntheticSource([Motion((170, 240)), Motion((470, 240))], duration=0.5)
    frames, _ = _track(source, max_faces=1)
    assert all(len(faces) == 1 for faces in frames)


def test_python_lines_written_while_native_stderr_is_quiet_are_not_lost():
    """A status line printed on another thread while a model loads (fd 2 silenced) still shows."""
    import subprocess
    import sys

    script = (
        "import os, sys\n"
        "from streamer.tracking.landmarks import quiet_native_stderr\n"
        "with quiet_native_stderr():\n"
        "    os.write(2, b'native chatter\\n')\n"
        "    print('streamer: a status line', file=sys.stderr)\n"
        "print('streamer: after', file=sys.stderr)\n"
        "os.write(2, b'native after\\n')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == ["streamer: a status line", "streamer: after", "native after"]
