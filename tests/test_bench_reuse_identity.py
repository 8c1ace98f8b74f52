"""The identity measure of `benchmarks/bench_reuse.py` (measure 5): the face box derived from the
tracker's, the grouping of distances by keyframe age, the keyframe ages read from `HeadReuse`, and the
report, on injected numbers. dlib itself only where it is installed."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from streamer.engines.base import DCTNET_LAYOUT, feathered_head_mask
from streamer.pipeline.reuse import HeadReuse, ReuseOptions

from .benchmark_modules import load_benchmark

bench = load_benchmark("bench_reuse")


# -- the face box ---------------------------------------------------------------------------------
def test_dlib_box_is_a_square_on_the_landmark_box_centre():
    left, top, right, bottom = bench.dlib_box((100.0, 50.0, 200.0, 170.0))  # 100 wide, 120 high
    side = bench.BOX_SIDE * 110
    assert right - left == pytest.approx(side, abs=1)
    assert bottom - top == pytest.approx(side, abs=1)
    assert (left + right) / 2 == pytest.approx(150, abs=0.5)
    assert (top + bottom) / 2 == pytest.approx(110, abs=0.5)
    assert all(isinstance(v, int) for v in (left, top, right, bottom))


# -- points ---------------------------------------------------------------------------------------
FIVE = np.array([[60.0, 50.0], [80.0, 50.0], [120.0, 50.0], [140.0, 50.0], [100.0, 90.0]])  # eyes 60 apart


def test_eye_distance_is_between_the_eye_corner_pairs_centres():
    assert bench.eye_distance(FIVE) == pytest.approx(60.0)


def test_landmark_shift_is_the_mean_point_distance_over_the_eye_distance():
    assert bench.landmark_shift(FIVE, FIVE) == 0.0
    assert bench.landmark_shift(FIVE + np.array([3.0, 4.0]), FIVE) == pytest.approx(5 / 60)
    moved = FIVE.copy()
    moved[4] += [0.0, 12.0]  # one point of five
    assert bench.landmark_shift(moved, FIVE) == pytest.approx(12 / 5 / 60)
    assert math.isnan(bench.landmark_shift(FIVE, np.zeros((5, 2))))


# -- keyframe ages --------------------------------------------------------------------------------
def test_age_groups_take_the_median_and_count_of_each_group():
    ages = [0, 0, 1, 2, 3, 4, 7, 8, 15, 16, 29]
    distances = [0.0, 0.2, 0.1, 0.3, 0.2, 0.4, 0.6, 0.5, 0.7, 0.9, 1.1]
    groups = bench.age_groups(ages, distances)
    assert [n for _, n in groups] == [2, 3, 2, 2, 2]
    assert [m for m, _ in groups] == pytest.approx([0.1, 0.2, 0.5, 0.6, 1.0])


def test_age_groups_are_nan_where_no_frame_is():
    groups = bench.age_groups([0, 1], [0.1, 0.2])
    assert groups[:2] == [(0.1, 1), (0.2, 1)]
    assert all(math.isnan(m) and n == 0 for m, n in groups[2:])
    assert all(n == 0 for _, n in bench.age_groups([], []))


def test_age_slope_is_the_least_squares_slope():
    ages = [0, 1, 2, 3, 4, 5]
    assert bench.age_slope(ages, [0.1 + 0.02 * a for a in ages]) == pytest.approx(0.02)
    assert bench.age_slope(ages, [0.3] * 6) == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(bench.age_slope([0, 1], [0.1, 0.2]))  # too few
    assert math.isnan(bench.age_slope([2, 2, 2], [0.1, 0.2, 0.3]))  # one age


def test_keyframe_ages_follow_the_reuse_state():
    """A still face: a keyframe on its first frame and then only every `max_age` frames; a second face
    joining later has its own count."""
    mask = feathered_head_mask(DCTNET_LAYOUT)
    reuse = HeadReuse(lambda crops: 255 - crops, DCTNET_LAYOUT, mask, ReuseOptions(max_age=5, mouth_limit=None))
    rng = np.random.default_rng(0)
    face = rng.integers(0, 256, (1, DCTNET_LAYOUT.size, DCTNET_LAYOUT.size, 3), dtype=np.uint8)
    ages = []
    for frame in range(12):
        ids = [7] if frame < 8 else [7, 9]
        reuse.heads(np.repeat(face, len(ids), axis=0), ids)
        ages.append(bench.keyframe_ages(reuse, ids))
    assert [a[7] for a in ages] == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]
    assert [a[9] for a in ages[8:]] == [0, 1, 2, 3]


# -- descriptors and samples ----------------------------------------------------------------------
def sample(frame: int, age: int, reuse: float, each: float, source: float = 0.0, face: int = 1):
    """A face whose descriptors lie on one axis, so distances are differences."""
    axis = np.eye(128)[0]
    return bench.IdentitySample(frame, face, age, source * axis, reuse * axis, each * axis, 0.01, 0.02)


def test_sample_distances():
    s = sample(0, 0, reuse=0.5, each=0.2, source=-0.1)
    assert s.reuse_each == pytest.approx(0.3)
    assert s.reuse_input == pytest.approx(0.6)
    assert s.each_input == pytest.approx(0.3)


def test_frame_steps_pair_each_face_with_itself_on_the_frame_before():
    samples = [
        sample(0, 0, 0.0, 0.0),
        sample(1, 1, 0.1, 0.0),
        sample(3, 3, 0.4, 0.0),  # no frame 2: no step
        sample(4, 4, 0.6, 0.0),
        sample(4, 0, 5.0, 0.0, face=2),  # another face, seen once
    ]
    assert bench.frame_steps(samples, "reuse") == pytest.approx([0.1, 0.2])
    assert bench.frame_steps(samples, "each") == [0.0, 0.0]


class FakeFaceId:
    """Descriptors: the picture's mean grey on the first axis; points: fixed, moved by the picture's
    first pixel."""

    def shape(self, rgb, rect):
        return rgb

    def describe(self, rgb, shape):
        return np.eye(128)[0] * float(rgb.mean()) / 255

    @staticmethod
    def points(shape):
        return FIVE + float(shape[0, 0, 0])


def test_identity_samples_measure_each_face_with_an_age():
    def picture(grey: int, corner: int = 0) -> np.ndarray:
        image = np.full((8, 8, 3), grey, np.uint8)
        image[0, 0] = corner
        return image

    source = bench.InputFace((0, 0, 8, 8), None, FIVE.copy(), np.zeros(128))
    faces = [SimpleNamespace(id=3), SimpleNamespace(id=4)]
    samples = bench.identity_samples(
        FakeFaceId(), 5, picture(51, corner=6), picture(102), [source, source], faces, {3: 2}
    )
    assert len(samples) == 1  # face 4 has no keyframe: not measured
    (s,) = samples
    assert (s.frame, s.face, s.age) == (5, 3, 2)
    assert s.reuse_input == pytest.approx((51 - 45 / 64) / 255)  # one pixel of 64 is 6, not 51
    assert s.shift_reuse == pytest.approx(6 / 60 * math.sqrt(2))
    assert s.shift_each == 0.0


def test_identity_report_has_both_tables_and_the_threshold():
    result = bench.Fidelity("clip.mp4", "toon", frames=4)
    result.identity = [sample(i, age, reuse=0.1 * i, each=0.0) for i, age in enumerate([0, 1, 2, 5])]
    empty = bench.Fidelity("other.mp4", "toon", frames=4)
    report = bench.identity_report([result, empty])
    assert "0.6" in report
    rows = [line for line in report.splitlines() if line.startswith("| clip.mp4")]
    assert len(rows) == 2
    summary, drift = rows
    assert "| 4 | 0.150 | 0.300 |" in summary
    assert "0.000 (1) | 0.150 (2) | 0.300 (1) | n/a (0) | n/a (0)" in drift
    assert "| other.mp4 | toon | 0 |" in report
    header = next(line for line in report.splitlines() if "age 1-3" in line)
    assert "age 0 | age 1-3 | age 4-7 | age 8-15 | age 16+" in header


# -- dlib itself ----------------------------------------------------------------------------------
def test_face_id_is_none_without_the_models(monkeypatch):
    monkeypatch.setattr(bench.importlib.util, "find_spec", lambda name: None)
    assert bench.FaceId.load() is None


def test_face_id_describes_a_real_face():
    pytest.importorskip("dlib")
    faceid = bench.FaceId.load()
    if faceid is None:
        pytest.skip("face_recognition_models is not installed")
    from streamer import samples

    rgb = np.ascontiguousarray(samples.astronaut())
    found = faceid.dlib.get_frontal_face_detector()(rgb, 1)
    assert found, "dlib finds the sample's face"
    rect = (found[0].left(), found[0].top(), found[0].right(), found[0].bottom())
    shape = faceid.shape(rgb, rect)
    points = faceid.points(shape)
    assert points.shape == (5, 2)
    assert bench.eye_distance(points) > 0.2 * (rect[2] - rect[0])
    descriptor = faceid.describe(rgb, shape)
    assert descriptor.shape == (128,) and np.isfinite(descriptor).all()
    noisy = np.clip(rgb + np.random.default_rng(0).normal(0, 3, rgb.shape), 0, 255).astype(np.uint8)
    assert bench.distance(faceid.describe(noisy, shape), descriptor) < bench.SAME_PERSON
