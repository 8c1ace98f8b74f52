"""Alignment maths: the similarity transform that puts 5 face points onto a crop template."""

from __future__ import annotations

import numpy as np

# MediaPipe FaceMesh (refined, 478 points) indices of the 5 alignment points, in template order:
# eye centres (iris, image left then right), nose tip, mouth corners (image left then right).
FIVE_POINT_INDICES = (468, 473, 1, 61, 291)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares rotation + uniform scale + translation taking `src` points onto `dst`.

    Both are (N, 2). Returns a 2x3 float64 matrix M with dst ≈ M @ [x, y, 1]. No reflection.
    Written with complex numbers: the linear part is one complex factor a = s·e^{iθ}.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s = (src[:, 0] - mu_s[0]) + 1j * (src[:, 1] - mu_s[1])
    d = (dst[:, 0] - mu_d[0]) + 1j * (dst[:, 1] - mu_d[1])
    a = complex((np.conj(s) * d).sum() / max(float((s.real**2 + s.imag**2).sum()), 1e-12))
    tx = mu_d[0] - (a.real * mu_s[0] - a.imag * mu_s[1])
    ty = mu_d[1] - (a.imag * mu_s[0] + a.real * mu_s[1])
    return np.array([[a.real, -a.imag, tx], [a.imag, a.real, ty]])


# The helpers below are written out element by element: per-frame maths on 2x3 matrices should not
# go through BLAS/LAPACK, whose thread pools cost more than the arithmetic.


def invert_affine(m: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine matrix."""
    (a, b, tx), (c, d, ty) = m
    det = a * d - b * c
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
    return np.array([[ia, ib, -(ia * tx + ib * ty)], [ic, id_, -(ic * tx + id_ * ty)]])


def apply_affine(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map (N, 2) points through a 2x3 matrix."""
    points = np.asarray(points, np.float64)
    x, y = points[:, 0], points[:, 1]
    return np.stack([m[0, 0] * x + m[0, 1] * y + m[0, 2], m[1, 0] * x + m[1, 1] * y + m[1, 2]], axis=-1)


def face_scale(points: np.ndarray) -> float:
    """A face's size in pixels from its 5 points: eye distance plus eye-to-mouth distance."""
    eyes = points[1] - points[0]
    eye_mouth = (points[3] + points[4]) / 2 - (points[0] + points[1]) / 2
    return float(np.hypot(*eyes) + np.hypot(*eye_mouth))
