"""`streamer stylize` on generated clips: frames, timestamps, audio and size come through; faces get
stylized where they are."""

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from streamer.capture.synthetic import Motion, SyntheticSource
from streamer.cli import main
from streamer.tracking.tracker import FaceTracker

from .conftest import moving_face, vfr_pts
from .media_probe import ffprobe_streams, frames, probe


def _stylize(src: Path, out: Path, *extra: str) -> int:
    return main(["stylize", str(src), str(out), "--no-progress", *extra])


def test_frames_timestamps_size_and_audio_are_kept(face_clip, tmp_path):
    out = tmp_path / "out.mp4"
    assert _stylize(face_clip, out) == 0
    src, res = probe(face_clip), probe(out)
    assert res.frame_times == src.frame_times
    assert (res.width, res.height) == (src.width, src.height) == (640, 480)
    assert res.video_codec == "h264" and res.pix_fmt == "yuv420p"
    assert res.audio_codecs == src.audio_codecs == ["aac"]
    assert res.audio_packets == src.audio_packets
    assert res.audio_seconds == pytest.approx(src.audio_seconds, abs=1e-6)
    streams = ffprobe_streams(out)
    if streams is not None:  # an independent reader agrees
        video = next(s for s in streams if s["codec_type"] == "video")
        assert int(video["nb_read_frames"]) == len(src.frame_times)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"], "no temporary file left"


def test_the_face_is_stylized_and_the_cartoon_lines_up_with_it(face_clip, tmp_path):
    out = tmp_path / "out.mp4"
    assert _stylize(face_clip, out) == 0
    source = moving_face()
    before, after = frames(face_clip), frames(out)
    for index in (5, 20, 40):
        truth = source.ground_truth(index)[0]
        x0, y0 = truth.min(axis=0).astype(int) - 10
        x1, y1 = truth.max(axis=0).astype(int) + 10
        diff = np.abs(after[index][y0:y1, x0:x1].astype(int) - before[index][y0:y1, x0:x1].astype(int))
        assert diff.mean() > 6, f"frame {index}: face region barely changed"
        # The cartoon is still a face, and its eyes, nose and mouth sit on the real ones.
        with FaceTracker() as tracker:
            found = tracker.update(after[index], 0.0)
        assert len(found) == 1
        assert np.sqrt(((found[0].raw_points - truth) ** 2).sum(-1).mean()) < 5.0


def test_variable_frame_rate_stays_variable(make_clip, tmp_path):
    source = moving_face(duration=1.0)
    pts, tb = vfr_pts(len(source))
    clip = make_clip("vfr.mkv", source, pts=pts, time_base=tb)
    out = tmp_path / "vfr_out.mp4"
    assert _stylize(clip, out) == 0
    times = probe(out).frame_times
    assert times == [Fraction(p) * tb for p in pts]
    assert len(set(np.diff([float(t) for t in times]).round(3))) == 2


def test_odd_size_is_written_at_its_exact_size(make_clip, tmp_path):
    clip = make_clip("odd.mp4", moving_face(duration=0.5, size=(321, 241)), pix_fmt="yuv444p")
    out = tmp_path / "odd_out.mp4"
    assert _stylize(clip, out) == 0
    res = probe(out)
    assert (res.width, res.height) == (321, 241)
    assert res.pix_fmt == "yuv444p"
    assert len(res.frame_times) == len(probe(clip).frame_times)


def test_phone_rotation_is_applied(make_clip, tmp_path):
    source = moving_face(duration=0.5, size=(480, 320))
    # Store the picture lying on its side, with a display matrix that turns it upright again.
    sideways = [np.ascontiguousarray(np.rot90(f.image, -1)) for f in source]
    clip = tmp_path / "phone.mp4"
    from streamer.capture.synthetic import write_clip

    write_clip(clip, sideways, rotation=90)
    out = tmp_path / "phone_out.mp4"
    assert _stylize(clip, out) == 0
    res = probe(out)
    assert (res.width, res.height) == (480, 320)
    upright, result = source.render(5).astype(float), frames(out)[5].astype(float)
    corr = np.corrcoef(upright[::8, ::8].ravel(), result[::8, ::8].ravel())[0, 1]
    assert corr > 0.8


@pytest.mark.parametrize(
    ("name", "codec", "audio", "out_name", "out_audio", "copied"),
    [
        ("in.mkv", "libvpx-vp9", "libopus", "out.mp4", "opus", True),
        ("in.avi", "mpeg4", "mp3", "out.mov", "mp3", True),
        ("in.mov", "libx265", "aac", "out.webm", "opus", False),
        ("in.webm", "libvpx", "libopus", "out.mkv", "opus", True),
    ],
)
def test_containers_and_codecs(make_clip, tmp_path, capsys, name, codec, audio, out_name, out_audio, copied):
    clip = make_clip(name, moving_face(duration=0.5), codec=codec, audio_codec=audio)
    out = tmp_path / out_name
    assert _stylize(clip, out) == 0
    src, res = probe(clip), probe(out)
    assert len(res.frame_times) == len(src.frame_times)
    assert res.audio_codecs == [out_audio]
    assert res.audio_seconds[0] == pytest.approx(src.audio_seconds[0], abs=0.05)
    assert f"{out_audio} {'copied' if copied else 'transcoded'}" in capsys.readouterr().out


def test_still_image_in_image_out(tmp_path):
    import cv2

    source = SyntheticSource([Motion((320, 240), scale=1.3)], duration=0.1)
    photo = tmp_path / "photo.jpg"
    cv2.imwrite(str(photo), source.render(0))
    out = tmp_path / "photo_toon.png"
    assert _stylize(photo, out) == 0
    result = cv2.imread(str(out))
    assert result.shape == (480, 640, 3)
    truth = source.ground_truth(0)[0]
    x0, y0 = truth.min(axis=0).astype(int)
    x1, y1 = truth.max(axis=0).astype(int)
    assert np.abs(result[y0:y1, x0:x1].astype(int) - source.render(0)[y0:y1, x0:x1].astype(int)).mean() > 6


def test_clip_without_faces_keeps_the_stylized_background(make_clip, tmp_path, capsys):
    clip = make_clip("empty.mp4", SyntheticSource([], duration=0.5))
    out = tmp_path / "empty_out.mp4"
    assert _stylize(clip, out) == 0
    assert "0 faces seen" in capsys.readouterr().out
    before, after = frames(clip)[3].astype(int), frames(out)[3].astype(int)
    assert np.abs(after - before).mean() > 4
