"""The page in a real headless Chromium (Debian's, driven by Playwright) with a fake camera clip,
inside a network namespace that has only loopback: stylized frames arrive, stats update, and
`?autostart=1` needs no click. Skips where Chromium, Playwright or namespaces are missing."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from streamer.capture.synthetic import Motion, SyntheticSource

CHROMIUM = os.environ.get("STREAMER_CHROMIUM", "/usr/bin/chromium")
SCENARIO = Path(__file__).with_name("browser_scenario.py")


def _can_isolate() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    return subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0


pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM} (Debian package chromium)"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None, reason="playwright is not installed"),
    pytest.mark.skipif(not _can_isolate(), reason="cannot make a loopback-only network namespace (unshare -rn)"),
]


@pytest.fixture(scope="module")
def still_camera(tmp_path_factory) -> Path:
    """A y4m clip of a still face: the remote picture differs from the local one only by stylizing."""
    path = tmp_path_factory.mktemp("camera") / "camera.y4m"
    source = SyntheticSource([Motion((320, 240), scale=1.3)], duration=2.0, noise=1.0)
    with open(path, "wb") as f:
        f.write(b"YUV4MPEG2 W640 H480 F30:1 Ip A1:1 C420jpeg\n")
        for frame in source:
            f.write(b"FRAME\n" + cv2.cvtColor(frame.image, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


def _scenario(camera: Path, seconds: int, *flags: str) -> dict:
    result = subprocess.run(
        ["unshare", "-rn", sys.executable, str(SCENARIO), str(camera), str(seconds), *flags],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_autostart_page_shows_the_camera_stylized_with_live_stats(still_camera):
    result = _scenario(still_camera, 8, "--autostart")
    assert result["samples"], "no remote video appeared without a click"
    last = result["samples"][-1]
    assert (last["width"], last["height"]) == (640, 480)
    # A still face: against the local camera, only stylizing (not motion) changes the picture.
    assert last["diff"] > 8, result["samples"]
    assert len(result["stats"]) >= 3 and result["stats"][-1]["t"] > result["stats"][0]["t"]
    # Counts, not rates (a loaded machine sets the rate; benchmarks/bench_web.py measures it).
    assert result["stats"][-1]["faces"] == 1 and sum(record["fps_out"] for record in result["stats"]) >= 1
    assert result.get("decoded_fps", 0) > 0, "the page decoded the stylized stream"


def test_the_start_button_also_works(still_camera):
    result = _scenario(still_camera, 5)
    assert result["samples"] and result["samples"][-1]["diff"] > 8
    assert result["status"] == "connected" or result["status"].startswith("connection")


def test_gradio_webcam_tab_streams_stylized_frames_unmirrored(still_camera):
    import numpy as np

    result = _scenario(still_camera, 8, "--gradio")
    assert len(result["images"]) >= 3, "the stylized image kept updating"
    stylized = cv2.imread(result["last"])
    camera = SyntheticSource([Motion((320, 240), scale=1.3)]).render(0)
    assert stylized.shape == camera.shape
    difference = np.abs(stylized.astype(int) - camera.astype(int)).mean()
    mirrored = np.abs(stylized.astype(int) - camera[:, ::-1].astype(int)).mean()
    assert difference > 5, "it is stylized"
    assert difference < mirrored, "and not mirrored"
