"""The fuzz runner (`benchmarks/fuzz.py`) with a few cases: damaged media and model files each end
in one line and a valid exit status, never a traceback, a hang or a half-written output; a .pt
whose pickle would create a file is refused without running it. BENCHMARKS.md has the long runs."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from .benchmark_modules import benchmark_script, load_benchmark

SCRIPT = benchmark_script("fuzz")


fuzz = load_benchmark("fuzz")


def _run(tmp_path: Path, *args: str) -> dict:
    report = tmp_path / "fuzz.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--json", str(report)], capture_output=True, text=True, timeout=900
    )
    assert report.exists(), done.stderr
    data = json.loads(report.read_text())
    failures = [c for c in data["cases"] if c["verdict"] != "pass"]
    assert done.returncode == 0 and not failures, failures or done.stdout
    return data


@pytest.mark.slow
def test_damaged_media_of_every_container_is_handled(tmp_path):
    data = _run(tmp_path, "--area", "media", "--cases", "12", "--seed", "7", "--timeout", "90")
    cases = data["cases"]
    assert len(cases) == 12
    assert {c["seed_name"] for c in cases} >= {"seed.mp4", "seed.webm", "seed.avi", "seed.jpg", "no_frames.mkv"}
    assert {c["status"] for c in cases} <= {0, 2, 3}


@pytest.mark.slow
def test_damaged_model_files_and_a_pickle_payload_are_refused(tmp_path):
    pytest.importorskip("torch")
    data = _run(tmp_path, "--area", "models", "--cases", "3", "--seed", "3", "--timeout", "120")
    payload = next(c for c in data["cases"] if c["mutation"] == "pickle that creates a file")
    assert payload["status"] == 2 and "not a safe PyTorch checkpoint" in payload["message"]


def test_the_mutations_change_the_file():
    rng = random.Random(0)
    data = bytes(range(256)) * 8
    for mutate in fuzz.MUTATIONS.values():
        assert mutate(data, rng) != data


def test_a_traceback_a_hang_or_two_error_lines_fail_a_case():
    def judged(status, err):
        case = fuzz.Case("media", "seed.mp4", "bit flips")
        fuzz._judge_messages(case, status, err)
        return case.verdict

    assert judged(None, "") == "hang"
    assert judged(1, 'Traceback (most recent call last):\n  File "x"\nValueError: boom') == "traceback"
    assert judged(1, "streamer: error: x") == "exit status 1"
    assert judged(2, "streamer: error: one\nstreamer: error: two") == "2 error lines"
    assert judged(2, "streamer: error: cannot read in.mp4") == ""  # fine so far: the output is checked next


# Cases the fuzz runner found, kept as plain tests.


def test_a_video_whose_codec_is_unknown_is_one_line(tmp_path, capsys):
    from streamer.capture.synthetic import write_clip
    from streamer.cli import main

    from .conftest import moving_face

    clip = tmp_path / "clip.mov"
    write_clip(clip, (f.image for f in moving_face(duration=0.2, size=(160, 120))))
    clip.write_bytes(clip.read_bytes().replace(b"avc1", b"zzzz"))  # a codec no decoder knows
    assert main(["stylize", str(clip), str(tmp_path / "out.mp4"), "--no-progress"]) == 2
    assert "video codec is unknown" in capsys.readouterr().err
    assert not (tmp_path / "out.mp4").exists()


def test_an_onnx_file_with_a_broken_node_is_one_line(tmp_path, streamer_home, capsys):
    import onnx
    from onnx import helper

    from streamer.cli import main

    graph = onnx.load_from_string(fuzz._small_onnx_graph())
    graph.graph.node[0].attribute.append(helper.make_attribute("pads", "not a list of ints"))
    model = tmp_path / "photo2cartoon_weights.onnx"
    model.write_bytes(graph.SerializeToString())
    assert main(["models", "import", str(model), "--style", "photo2cartoon"]) == 2
    assert "is not a valid ONNX model" in capsys.readouterr().err
    assert not (streamer_home / "models").exists() or not any((streamer_home / "models").iterdir())


def test_weights_that_hold_nan_are_one_line(tmp_path, streamer_home, capsys):
    torch = pytest.importorskip("torch")
    from streamer.cli import main
    from streamer.engines.models.photo2cartoon import Photo2Cartoon

    state = Photo2Cartoon().generator.state_dict()
    first = next(k for k, v in state.items() if v.is_floating_point())
    state[first][...] = float("nan")
    checkpoint = tmp_path / "photo2cartoon_weights.pt"
    torch.save({"genA2B": state}, checkpoint)
    assert main(["models", "import", str(checkpoint), "--style", "photo2cartoon"]) == 2
    assert "NaN or infinite" in capsys.readouterr().err
    assert not (streamer_home / "models").exists() or not any((streamer_home / "models").iterdir())
