"""The pure NumPy core: One Euro smoothing and the alignment maths, exactly and without a camera."""

import math

import numpy as np
import pytest

from streamer.tracking.alignment import apply_affine, face_scale, invert_affine, similarity_transform
from streamer.tracking.smoothing import OneEuroFilter

FPS = 30.0


def _run(filt: OneEuroFilter, signal: np.ndarray, scale: float = 100.0) -> np.ndarray:
    return np.array([filt(i / FPS, p, scale) for i, p in enumerate(signal)])


def test_one_euro_removes_most_jitter_on_a_still_point():
    rng = np.random.default_rng(1)
    noisy = 100.0 + rng.normal(0, 1.0, (300, 1, 2))
    out = _run(OneEuroFilter(), noisy)[30:]
    assert np.sqrt(((out - 100.0) ** 2).sum(-1).mean()) < 0.5 * np.sqrt(((noisy[30:] - 100.0) ** 2).sum(-1).mean())


def test_one_euro_follows_fast_motion_with_little_lag():
    # 10 face sizes per second would lag by many pixels with a plain low-pass at the still cutoff.
    t = np.arange(120) / FPS
    moving = np.stack([100 + 1000 * t, np.full_like(t, 50.0)], -1)[:, None, :]
    adaptive = _run(OneEuroFilter(min_cutoff=1.0, beta=30.0), moving)
    plain = _run(OneEuroFilter(min_cutoff=1.0, beta=0.0), moving)
    lag_adaptive = np.abs(adaptive[-1] - moving[-1]).max()
    lag_plain = np.abs(plain[-1] - moving[-1]).max()
    assert lag_adaptive < 4.0
    assert lag_plain > 4 * lag_adaptive


def test_one_euro_is_scale_invariant():
    rng = np.random.default_rng(2)
    path = np.cumsum(rng.normal(0, 0.01, (200, 1, 2)), axis=0)
    small = _run(OneEuroFilter(), 40 * path, scale=40.0)
    large = _run(OneEuroFilter(), 400 * path, scale=400.0)
    np.testing.assert_allclose(large, 10 * small, rtol=1e-9, atol=1e-9)


def test_one_euro_ignores_repeated_timestamps():
    f = OneEuroFilter()
    first = f(0.0, np.array([[1.0, 2.0]]))
    f(0.1, np.array([[5.0, 5.0]]))
    again = f(0.1, np.array([[100.0, 100.0]]))
    assert np.all(again < 10) and first.shape == (1, 2)


def test_similarity_transform_recovers_a_known_transform():
    rng = np.random.default_rng(3)
    src = rng.uniform(0, 300, (5, 2))
    angle, scale, shift = math.radians(23), 1.7, np.array([12.0, -40.0])
    r = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    dst = src @ r.T + shift
    m = similarity_transform(src, dst)
    np.testing.assert_allclose(m[:, :2], r, atol=1e-9)
    np.testing.assert_allclose(apply_affine(m, src), dst, atol=1e-9)
    np.testing.assert_allclose(apply_affine(invert_affine(m), dst), src, atol=1e-9)


@pytest.mark.parametrize("k", [1.0, 3.0])
def test_face_scale_grows_with_the_face(k):
    pts = np.array([[10, 10], [30, 10], [20, 20], [12, 30], [28, 30]], float)
    assert face_scale(pts * k) == pytest.approx(k * face_scale(pts))
