"""Real clips (shared test media, not part of the project): every frame comes out, faces are found.

Skipped, with the reason, where the media folder is absent.
"""

import pytest

from streamer.pipeline.file_job import stylize_file

from .conftest import MEDIA_DIR
from .media_probe import probe

pytestmark = pytest.mark.skipif(not MEDIA_DIR.is_dir(), reason=f"real test media not found in {MEDIA_DIR}")

CLIPS = ["child_classroom_720p.mp4", "streamer_webcam_488p.mp4", "anchor_talking_368p.mp4"]


@pytest.mark.slow
@pytest.mark.parametrize("name", CLIPS)
def test_real_clip_every_frame_out_and_faces_found(tmp_path, name):
    clip = MEDIA_DIR / name
    out = tmp_path / "out.mp4"
    report = stylize_file(clip, out)
    src, res = probe(clip), probe(out)
    assert report.lost_frames == 0
    assert res.frame_times == src.frame_times
    assert (res.width, res.height) == (src.width, src.height)
    # Each clip shows one person throughout.
    assert report.faces_seen >= 1
    assert report.frames_with_faces >= 0.95 * report.frames


def test_real_photo(tmp_path):
    import cv2

    out = tmp_path / "portrait.png"
    report = stylize_file(MEDIA_DIR / "portrait_photo.jpg", out)
    assert report.faces_seen == 1
    assert cv2.imread(str(out)).shape == cv2.imread(str(MEDIA_DIR / "portrait_photo.jpg")).shape
