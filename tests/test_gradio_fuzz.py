"""The Gradio page's fuzz runner (`benchmarks/fuzz_gradio.py`) with one case of each kind: every bad
upload to a real `streamer demo` is refused with one sentence and no traceback in its log, a valid
clip under any name comes back, and the demo still works afterwards. BENCHMARKS.md has the long runs.

The demo runs with its caps lowered (`--max-upload-mb 1 --max-video-seconds 3`), so the cases too
large and too long are a megabyte and a few frames.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .benchmark_modules import benchmark_script, load_benchmark

pytest.importorskip("gradio")
pytest.importorskip("gradio_client")

SCRIPT = benchmark_script("fuzz_gradio")


fuzz = load_benchmark("fuzz_gradio")


@pytest.mark.slow
def test_every_kind_of_bad_upload_is_one_sentence_and_the_demo_goes_on(tmp_path):
    report = tmp_path / "fuzz.json"
    kinds = len(fuzz.MUTATORS)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--cases", str(kinds), "--seed", "5", "--timeout", "60", "--json", str(report)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert report.exists(), done.stderr
    cases = json.loads(report.read_text())["cases"]
    failures = [c for c in cases if c["verdict"] != "pass"]
    assert done.returncode == 0 and not failures, failures or done.stdout
    assert [c["mutation"] for c in cases] == [*fuzz.MUTATORS, "valid, after the others"]
    by_kind = {c["mutation"]: c for c in cases}
    assert all(by_kind[kind]["status"] == 1 for kind in fuzz.MUST_REFUSE)
    assert all(by_kind[kind]["status"] == 0 for kind in fuzz.MUST_SUCCEED)
    assert by_kind["image renamed"]["message"] == "photo.mp4 is a still image, not a video; use the Image tab"
    assert by_kind["too long"]["message"].startswith("long.mp4 is longer than 3 s")
    assert by_kind["too large"]["message"].startswith("HTTP 413: ")
    assert by_kind["empty file"]["message"] == "empty.mp4 is empty (0 bytes)"


def test_a_refusal_is_one_line_one_sentence_without_a_traceback_or_a_server_folder():
    import tempfile

    assert fuzz.one_sentence("cannot read x.mp4: not a media file, or damaged (Invalid data found)")
    assert fuzz.one_sentence("HTTP 413: File size exceeded maximum allowed size of 1048576 bytes.")
    assert not fuzz.one_sentence("")
    assert not fuzz.one_sentence("boom\nTraceback (most recent call last):")
    assert not fuzz.one_sentence("The video is bad. Try another one.")
    assert not fuzz.one_sentence(f"input is empty (0 bytes): {tempfile.gettempdir()}/gradio/abc/empty.mp4")


def test_the_page_refuses_a_file_over_its_cap_itself_and_names_no_folder(tmp_path, face_clip):
    """Gradio refuses a larger upload as it arrives; a file that reaches the page anyway is refused
    by the page's own check, its sentence naming the file only."""
    import gradio as gr

    from streamer.server.gradio_app import Demo

    demo = Demo(max_upload_mb=0.01)
    with pytest.raises(gr.Error) as refused:
        demo.stylize_video(str(face_clip), "toon")
    assert refused.value.message == f"{face_clip.name} is larger than 0.01 MB"
    assert refused.value.print_exception is False, "a user's mistake: no traceback in the log"
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(gr.Error) as refused:
        demo.stylize_video(str(empty), "toon")
    assert refused.value.message == "empty.mp4 is empty (0 bytes)"


def test_video_jobs_older_than_the_keep_time_are_deleted_when_the_next_starts():
    import os
    import time

    from streamer.server.gradio_app import OUTPUT_KEEP_S, Demo

    demo = Demo()
    old, new = demo._outputs / "old", demo._outputs / "new"
    for folder in (old, new):
        folder.mkdir()
        (folder / "out.mp4").write_bytes(b"x")
    past = time.time() - OUTPUT_KEEP_S - 60
    os.utime(old, (past, past))
    demo._sweep()
    assert not old.exists() and new.exists()


def test_a_page_that_does_not_answer_gradio_s_start_up_check_is_one_sentence(monkeypatch):
    """Gradio asks the started page for itself (through any proxy set, 3 s at most) and raises if no
    answer comes; `streamer demo` says so in one sentence and frees the port."""
    import socket

    from gradio import networking

    from streamer.errors import DeviceUnavailableError
    from streamer.server.gradio_app import launch

    monkeypatch.setattr(networking, "url_ok", lambda url: False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DeviceUnavailableError, match=r"did not answer Gradio's check .*; try again$"):
        launch(port=port, block=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # free again
