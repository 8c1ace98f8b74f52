"""Runtime controls and the preview's keys and overlay (the window itself needs a display)."""

import numpy as np
import pytest

from streamer.pipeline.live import LiveControls
from streamer.sinks.preview import apply_key, draw_overlay, overlay_lines


def test_preview_keys_steer_the_run():
    controls = LiveControls("toon", styles=["toon", "anime", "3d"])
    assert apply_key(ord("s"), controls) == "next style" and controls.take_style_request() == "anime"
    apply_key(ord("b"), controls)
    assert controls.background is False
    apply_key(ord("-"), controls)
    apply_key(ord("-"), controls)
    assert controls.strength == pytest.approx(0.8)
    for _ in range(5):
        apply_key(ord("+"), controls)
    assert controls.strength == 1.0, "strength stays within [0, 1]"
    apply_key(ord("o"), controls)
    assert controls.overlay is False
    assert apply_key(-1, controls) is None and not controls.quit.is_set()
    apply_key(ord("q"), controls)
    assert controls.quit.is_set()


def test_overlay_shows_the_stats_figures():
    controls = LiveControls("toon")
    stats = {
        "fps_in": 30,
        "fps_out": 29,
        "faces": 2,
        "level": 1,
        "latency_ms_p50": 21.5,
        "latency_ms_p99": 40.2,
        "dropped": 3,
    }
    text = "\n".join(overlay_lines(stats, controls))
    for needle in ("in 30 fps", "out 29 fps", "faces 2", "level 1", "p50 21.5 ms", "p99 40.2 ms", "dropped 3"):
        assert needle in text
    image = np.zeros((120, 320, 3), np.uint8)
    assert draw_overlay(image, overlay_lines(stats, controls)).max() == 255 and image.max() == 0


def test_a_url_that_does_not_answer_is_one_clear_error():
    from streamer.capture.live import UrlSource
    from streamer.errors import DeviceUnavailableError

    with pytest.raises(DeviceUnavailableError, match="does not answer"):
        UrlSource("rtmp://127.0.0.1:9/live/none", timeout_s=2.0)


def test_a_failing_sink_stops_alone_and_the_others_go_on():
    import time
    from fractions import Fraction

    from streamer.frame import Frame
    from streamer.sinks.live import SinkWorker

    class Broken:
        name, queue_frames = "broken", 1

        def open(self, w, h, fps):
            pass

        def write(self, frame):
            raise OSError(28, "No space left on device")

        def close(self):
            pass

    class Good(Broken):
        name = "good"

        def __init__(self):
            self.count = 0

        def write(self, frame):
            self.count += 1

    statuses = []
    good = Good()
    workers = [SinkWorker(Broken(), 30, statuses.append), SinkWorker(good, 30, statuses.append)]
    for i in range(5):
        for w in workers:
            w.offer(Frame(np.zeros((8, 8, 3), np.uint8), i, Fraction(1, 30), i))
        time.sleep(0.02)
    for w in workers:
        w.close()
    assert workers[0].failed and "No space left" in statuses[0] and "the other outputs go on" in statuses[0]
    assert good.count == 5


def test_the_preview_window_opens_and_shows_frames_on_a_display():
    import os
    import shutil
    import subprocess
    import sys

    if shutil.which("xvfb-run") is None:
        pytest.skip("no X display server (xvfb-run) to open a window on")
    code = (
        "import numpy as np; from fractions import Fraction; from streamer.frame import Frame; "
        "from streamer.pipeline.live import LiveControls; from streamer.sinks.preview import PreviewSink; "
        "c = LiveControls('toon'); p = PreviewSink(); p.attach(c, lambda: None); p.open(320, 240, 30); "
        "[p.write(Frame(np.zeros((240, 320, 3), np.uint8), i, Fraction(1, 30), i)) for i in range(10)]; "
        "p.close(); print('shown')"
    )
    result = subprocess.run(
        ["xvfb-run", "-a", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "QT_QPA_PLATFORM": "xcb"},
    )
    assert "shown" in result.stdout, result.stderr[-500:]
