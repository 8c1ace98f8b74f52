"""Ctrl-C (or SIGTERM, as a service manager or `kill` sends) during `streamer stylize`: the output
path is not written; what was done is kept, valid, as NAME.partial.EXT."""

import signal
import subprocess
import sys
import time

import pytest

from streamer.capture.synthetic import write_clip
from streamer.cli import EXIT_INTERRUPTED

from .conftest import moving_face
from .media_probe import probe


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupt_leaves_a_valid_shorter_partial_file_and_no_output(tmp_path, signum):
    # Long enough that the run is still going when the signal comes: the output reaches the disk
    # in 256 KiB writes, and a short clip can finish soon after the first one.
    clip = tmp_path / "long.mp4"
    write_clip(clip, (f.image for f in moving_face(duration=40.0, size=(320, 240))))
    out = tmp_path / "out.mp4"
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamer", "stylize", str(clip), str(out), "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell that started this suite in the background ignores Ctrl-C in its children; undo that.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until frames are being written
        tmp = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        if tmp and tmp[0].stat().st_size > 50_000:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert "Traceback" not in err
    assert not out.exists()
    partial = tmp_path / "out.partial.mp4"
    assert partial.exists() and "interrupted" in err and partial.name in err
    written = probe(partial)
    total = probe(clip)
    assert 0 < len(written.frame_times) < len(total.frame_times)
    assert written.frame_times == total.frame_times[: len(written.frame_times)]
    assert written.audio_codecs == ["aac"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4", "out.partial.mp4"]
