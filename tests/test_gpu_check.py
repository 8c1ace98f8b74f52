"""`make gpu-check` stays runnable: a quick CPU pass of the script, and its imports need no PyAV or
MediaPipe (the GPU machines have neither)."""

import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


def test_gpu_path_imports_need_no_pyav_or_mediapipe():
    code = (
        "import sys; import streamer, streamer.pipeline.gpu, streamer.engines.backends.torch, "
        "streamer.engines.models.unet, streamer.engines.models.photo2cartoon; "
        "bad = [m for m in ('av', 'mediapipe') if m in sys.modules]; print(bad); sys.exit(bool(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_gpu_check_runs_quickly_on_the_cpu():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu", "--quick"], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    assert "conformance dctnet cpu fp32" in result.stdout
    assert "| 320x176 | 4 | fp32 | 1 | every frame |" in result.stdout
    assert "| 320x176 | 4 | fp32 | 2 | async, 1 in 3 |" in result.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
def test_without_a_gpu_it_says_so_in_one_line_instead_of_sweeping_on_the_cpu():
    result = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "sees no CUDA GPU" in result.stderr
