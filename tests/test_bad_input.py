"""Bad input: one clear line, a non-zero exit, no traceback, and nothing misleading left behind."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from streamer.cli import EXIT_PARTIAL_INPUT, EXIT_USER_ERROR, main

from .conftest import moving_face
from .media_probe import probe


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["stylize", *args, "--no-progress"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _assert_one_line_error(code: int, err: str, needle: str) -> None:
    assert code == EXIT_USER_ERROR
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("streamer: error: ") and needle in lines[0], lines[0]


def _lost(err: str) -> int:
    return int(re.search(r"(\d+) frames? could not be decoded", err).group(1))


def _only(folder: Path, *names: str) -> None:
    assert sorted(p.name for p in folder.iterdir()) == sorted(names), "a stray or partial file was left"


def test_missing_input(tmp_path, capsys):
    code, _, err = _run(capsys, str(tmp_path / "nope.mp4"), str(tmp_path / "out.mp4"))
    _assert_one_line_error(code, err, "not found")
    _only(tmp_path)


def test_empty_file(tmp_path, capsys):
    (tmp_path / "empty.mp4").write_bytes(b"")
    code, _, err = _run(capsys, str(tmp_path / "empty.mp4"), str(tmp_path / "out.mp4"))
    _assert_one_line_error(code, err, "empty")
    _only(tmp_path, "empty.mp4")


def test_not_a_media_file(tmp_path, capsys):
    text = tmp_path / "notes.mp4"
    text.write_text("these are not the frames you are looking for\n" * 50)
    code, _, err = _run(capsys, str(text), str(tmp_path / "out.mp4"))
    _assert_one_line_error(code, err, "notes.mp4")
    _only(tmp_path, "notes.mp4")


def test_no_video_stream(tmp_path, capsys):
    import av

    audio_only = tmp_path / "voice.m4a"
    with av.open(str(audio_only), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=48000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 48000), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = 48000, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    code, _, err = _run(capsys, str(audio_only), str(tmp_path / "out.mp4"))
    _assert_one_line_error(code, err, "no video stream")
    _only(tmp_path, "voice.m4a")


def test_output_equal_to_input(face_clip, capsys):
    code, _, err = _run(capsys, str(face_clip), str(face_clip))
    _assert_one_line_error(code, err, "is the input")
    assert probe(face_clip).frame_times, "the input is untouched"


def test_unknown_output_extension(face_clip, tmp_path, capsys):
    code, _, err = _run(capsys, str(face_clip), str(tmp_path / "out.xyz"))
    _assert_one_line_error(code, err, ".xyz")
    _only(tmp_path)


def test_image_to_video_mismatch(tmp_path, capsys):
    import cv2

    cv2.imwrite(str(tmp_path / "p.png"), np.zeros((32, 32, 3), np.uint8))
    code, _, err = _run(capsys, str(tmp_path / "p.png"), str(tmp_path / "out.mp4"))
    _assert_one_line_error(code, err, "image")
    _only(tmp_path, "p.png")


def test_unwritable_directory(face_clip, tmp_path, capsys):
    if os.geteuid() == 0:  # root writes through permissions; a pseudo file system still refuses
        target = Path("/proc/out.mp4")
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        target = locked / "out.mp4"
    code, _, err = _run(capsys, str(face_clip), str(target))
    _assert_one_line_error(code, err, "not writable")
    assert not target.exists()


def test_missing_output_folder(face_clip, tmp_path, capsys):
    code, _, err = _run(capsys, str(face_clip), str(tmp_path / "no" / "such" / "out.mp4"))
    _assert_one_line_error(code, err, "does not exist")


def test_truncated_file_keeps_what_decodes_and_says_how_much_was_lost(tmp_path, capsys):
    from streamer.capture.synthetic import write_clip

    clip = tmp_path / "whole.mkv"
    write_clip(clip, (f.image for f in moving_face(duration=2.0)))
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    out = tmp_path / "out.mp4"
    code, _, err = _run(capsys, str(cut), str(out))
    assert code == EXIT_PARTIAL_INPUT
    written = len(probe(out).frame_times)
    assert 0 < written < 60
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "could not be decoded" in lines[0]
    lost = _lost(lines[0])
    assert abs(lost + written - 60) <= 2, "lost frames are counted"


def test_truncated_mp4_without_index_is_refused_cleanly(face_clip, tmp_path, capsys):
    cut = tmp_path / "cut.mp4"  # the index (moov) of this file is at its end: nothing can be read
    cut.write_bytes(face_clip.read_bytes()[: face_clip.stat().st_size // 2])
    code, _, err = _run(capsys, str(cut), str(tmp_path / "out.mp4"))
    _assert_one_line_error(code, err, "cut.mp4")
    _only(tmp_path, "cut.mp4")


def test_corrupt_middle_is_skipped_and_counted(tmp_path, capsys):
    from streamer.capture.synthetic import write_clip

    clip = tmp_path / "clip.mp4"
    write_clip(clip, (f.image for f in moving_face(duration=2.0)))
    data = bytearray(clip.read_bytes())
    rng = np.random.default_rng(0)
    for frac in (0.3, 0.6):  # garbage inside the picture data; the index (at the end) is intact
        at = int(len(data) * frac)
        data[at : at + 4000] = rng.integers(0, 255, 4000, dtype=np.uint8).tobytes()
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    out = tmp_path / "out.mp4"
    code, _, err = _run(capsys, str(bad), str(out))
    assert code == EXIT_PARTIAL_INPUT
    written = len(probe(out).frame_times)
    lost = _lost(err)
    assert written > 30 and lost > 0
    assert written + lost == 60, "every frame is either written or counted as lost"


@pytest.mark.parametrize("case", ["not_media", "missing"])
def test_the_installed_command_prints_no_traceback(tmp_path, case):
    src = tmp_path / "x.mp4"
    if case == "not_media":
        src.write_bytes(os.urandom(4096))
    result = subprocess.run(
        [sys.executable, "-m", "streamer", "stylize", str(src), str(tmp_path / "o.mp4")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == EXIT_USER_ERROR
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("streamer: error: ")
