"""Compositing: stylized heads go back exactly where the faces are, with no seam or box."""

import math

import numpy as np

from streamer.compose import background_size, crop_heads, paste_head
from streamer.engines.base import DCTNET_LAYOUT, feathered_head_mask
from streamer.tracking.alignment import apply_affine, similarity_transform


def _transform(angle_deg: float, scale: float, centre: tuple[float, float]) -> np.ndarray:
    """A frame->crop similarity that puts `centre` at the crop centre."""
    a = math.radians(angle_deg)
    r = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return np.hstack([r, (np.array([144.0, 144.0]) - r @ np.array(centre))[:, None]])


def test_crop_then_paste_round_trips_the_face_region():
    rng = np.random.default_rng(0)
    frame = cv_blur(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))
    m = _transform(20, 1.4, (300, 220))
    crop = crop_heads(frame, [m], 288)[0]
    canvas = frame.copy()
    mask = np.ones((288, 288), np.float32)
    paste_head(canvas, crop, mask, m)
    inner = (slice(200, 240), slice(280, 320))
    assert np.abs(canvas[inner].astype(int) - frame[inner].astype(int)).mean() < 3


def cv_blur(img):
    import cv2

    return cv2.GaussianBlur(img, (0, 0), 3)


def test_pasted_head_lands_on_the_face_and_nowhere_else():
    frame = np.zeros((480, 640, 3), np.uint8)
    face = np.array([[250, 200], [300, 200], [275, 230], [255, 260], [295, 260]], float)
    m = similarity_transform(face, DCTNET_LAYOUT.template)
    head = np.full((288, 288, 3), 255, np.uint8)
    paste_head(frame, head, feathered_head_mask(DCTNET_LAYOUT), m)
    # Full strength at the eyes and the mouth, nothing far away.
    for x, y in face.astype(int):
        assert frame[y, x].min() > 250
    assert frame[20, 20].max() == 0 and frame[460, 620].max() == 0
    # The painted area's centre is near the face (head and hair above the eyes).
    ys, xs = np.nonzero(frame[:, :, 0] > 128)
    assert abs(xs.mean() - 275) < 8 and 160 < ys.mean() < 240


def test_no_seam_at_the_edge_of_the_pasted_crop():
    frame = np.full((480, 640, 3), 100, np.uint8)
    m = _transform(-15, 1.0, (320, 240))
    head = np.full((288, 288, 3), 200, np.uint8)
    paste_head(frame, head, feathered_head_mask(DCTNET_LAYOUT), m)
    corners = apply_affine(np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2], np.array([[0, 0], [287, 287]]))
    # Along the crop's own border the frame is untouched: the mask has faded out before it.
    for x, y in corners.astype(int):
        assert frame[y, x].tolist() == [100, 100, 100]
    # Neighbouring pixels differ by a few levels at most anywhere: a ramp, not a step.
    assert np.abs(np.diff(frame[:, :, 0].astype(int), axis=1)).max() <= 8
    assert np.abs(np.diff(frame[:, :, 0].astype(int), axis=0)).max() <= 8


def test_a_face_partly_outside_the_frame_is_pasted_without_error():
    frame = np.zeros((240, 320, 3), np.uint8)
    m = _transform(0, 1.0, (5, 5))
    paste_head(frame, np.full((288, 288, 3), 255, np.uint8), np.ones((288, 288), np.float32), m)
    assert frame[0, 0].min() == 255


def test_background_size_keeps_aspect_and_never_upscales():
    assert background_size(1280, 720, short_side=360) == (640, 360)
    assert background_size(640, 480, short_side=720) == (640, 480)
    assert background_size(642, 488, scale=0.5) == (321, 244)


def test_head_masks_asked_for_from_two_threads_at_once_match_the_serial_ones():
    """The file pipeline stylizes two frames at once; photo2cartoon's segmentation must not mix them."""
    import threading

    import cv2

    from streamer.capture.synthetic import Motion, SyntheticSource
    from streamer.compose.segmentation import HeadSegmenter

    source = SyntheticSource([Motion((320, 240), scale=1.2, sway=(40, 15), period=1.0)], duration=1.0)
    crops = [cv2.resize(source.render(i)[40:440, 120:520], (256, 256)) for i in range(0, 30, 3)]
    crops += [np.full((256, 256, 3), v, np.uint8) for v in (0, 128, 255)]
    segmenter = HeadSegmenter()
    serial = [segmenter.masks(crop[None])[0] for crop in crops]
    wrong: list[str] = []

    def work(indices: list[int]) -> None:
        for _ in range(3):
            for i in indices:
                try:
                    mask = segmenter.masks(crops[i][None])[0]
                except Exception as exc:  # MediaPipe's graph reports interleaved calls as errors
                    wrong.append(f"crop {i}: {exc}")
                    continue
                if not np.isfinite(mask).all() or np.abs(mask - serial[i]).max() > 1e-3:
                    wrong.append(f"crop {i}: another mask")

    threads = [threading.Thread(target=work, args=(list(range(k, len(crops), 2)),)) for k in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    segmenter.close()
    assert wrong == []
