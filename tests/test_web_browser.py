"""The page in a real headless Chromium (Debian's, driven by Playwright) with a fake camera clip,
inside a network namespace that has only loopback: stylized frames arrive, stats update, and
`?autostart=1` needs no click; the camera picker and size are remembered, the copy buttons copy
working links, a call room shows the other person's state, the chart draws, the layout fits a
phone, and a denied or missing camera says what to do. Skips where Chromium, Playwright or
namespaces are missing."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

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


@pytest.fixture(scope="module")
def controls(still_camera) -> dict:
    """One run of the page with three fake cameras (see browser_scenario.page_controls)."""
    return _scenario(still_camera, 8, "--controls")


def test_the_camera_picker_lists_the_cameras_and_remembers_the_pick_and_size_across_a_reload(controls):
    assert {"default camera", "fake_device_0", "fake_device_1", "fake_device_2"} <= set(controls["cameras"])
    assert controls["after_reload"] == ["fake_device_2", "1280x720"]
    # Start after the reload opened the remembered camera at the remembered size.
    assert controls["local"] == {"label": "fake_device_2", "width": 1280, "height": 720}


def test_copy_obs_link_copies_an_autostart_link_with_the_style_and_settings(controls):
    assert controls["obs_feedback"] == "copied"
    link = urlsplit(controls["obs_link"])
    assert link.path == "/" and link.hostname == "127.0.0.1"
    assert parse_qs(link.query) == {"autostart": ["1"], "style": ["toon"], "strength": ["0.5"]}
    # Opened as an OBS Browser Source would: it starts by itself, controls hidden, same strength.
    assert controls["obs_page"] == {"strength": "0.5", "controls_visible": False, "video_visible": True}


def test_the_live_chart_draws_fps_and_latency(controls):
    assert controls["stats"] is not None and controls["stats"]["latency_ms_p50"] is not None
    assert controls["chart"]["fps"] > 0 and controls["chart"]["latency"] > 0


def test_the_layout_fits_a_laptop_and_a_phone(controls):
    laptop, phone = controls["laptop"], controls["phone"]
    for layout in (laptop, phone):
        assert layout["overflow"] <= 0, "nothing is wider than the window"
        assert layout["start_visible"]
        assert layout["video_width"] <= layout["width"]
    stage_right = laptop["stage"][2]
    assert laptop["panel"][0] >= stage_right, "on a laptop the panel is beside the video"
    assert laptop["video_width"] > laptop["width"] / 2
    stage_bottom = phone["stage"][3]
    assert phone["panel"][1] >= stage_bottom, "on a phone the panel is under the video"
    assert phone["video_width"] > phone["width"] * 0.9, "and the video takes the width"


def test_a_call_room_link_is_copied_and_the_other_persons_state_is_shown(still_camera):
    result = _scenario(still_camera, 0, "--room")
    assert result["room_feedback"] == "copied" and result["copied"] == result["link"]
    assert len(parse_qs(urlsplit(result["link"]).query)["room"][0]) >= 20
    states = [state for state, _ in result["first"]]
    assert states == ["idle", "waiting", "connected", "left"]
    texts = [text for _, text in result["first"]]
    assert "Waiting for the other person" in texts[1]
    assert "connected" in texts[2] and "left" in texts[3] and "come back" in texts[3]
    assert [state for state, _ in result["second"]] == ["connected"], "the second in sees the first at once"
    assert result["both_see"]


def test_a_denied_or_missing_camera_says_what_to_do(still_camera):
    result = _scenario(still_camera, 0, "--camera-errors")
    denied, absent = result["denied"], result["absent"]
    assert "Camera access was denied" in denied["message"] and "Allow the camera" in denied["message"]
    assert "No camera was found" in absent["message"] and "Plug one in" in absent["message"]
    assert denied["button"] == absent["button"] == "Start", "ready to try again"


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
