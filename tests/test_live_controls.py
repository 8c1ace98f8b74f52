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


class _Broken:
    """A sink that fails on its first write with `error`."""

    queue_frames = 1

    def __init__(self, error: Exception, name: str = "broken") -> None:
        self.error, self.name = error, name
        self.opened = self.closed = False

    def open(self, width, height, fps):
        self.opened = True

    def write(self, frame):
        raise self.error

    def close(self):
        self.closed = True


class _Good:
    """A sink that counts what it writes; it may queue every frame offered here."""

    name, queue_frames = "good", 5

    def __init__(self):
        self.count = 0

    def open(self, width, height, fps):
        pass

    def write(self, frame):
        self.count += 1

    def close(self):
        pass


def _frame(i: int):
    from fractions import Fraction

    from streamer.frame import Frame

    return Frame(np.zeros((8, 8, 3), np.uint8), i, Fraction(1, 30), i)


def _run_workers(sinks, statuses):
    from streamer.pipeline.sink_worker import SinkWorker

    workers = [SinkWorker(sink, 30, statuses.append) for sink in sinks]
    for i in range(5):
        for worker in workers:
            worker.offer(_frame(i))
    for worker in workers:
        worker.close()
    return workers


def test_a_failing_sink_stops_alone_and_the_others_go_on():
    statuses = []
    broken, good = _Broken(OSError(28, "No space left on device")), _Good()
    workers = _run_workers([broken, good], statuses)
    assert workers[0].failed and statuses == [
        "output broken failed: [Errno 28] No space left on device; the other outputs go on"
    ]
    assert broken.closed, "an opened sink is closed even when it failed"
    assert good.count == 5 and workers[1].written == 5 and not workers[1].failed


def test_any_exception_in_a_sink_fails_that_sink_with_a_status_and_one_logged_traceback(caplog):
    """A preview window's cv2.error (not a streamer error) used to kill the sink's thread silently
    while the pipeline kept feeding it."""
    import logging

    import cv2

    statuses = []
    broken, good = _Broken(cv2.error("imshow: the window is gone"), "preview"), _Good()
    with caplog.at_level(logging.ERROR, logger="streamer"):
        workers = _run_workers([broken, good], statuses)
    assert workers[0].failed == "error: imshow: the window is gone"
    assert statuses == ["output preview failed: error: imshow: the window is gone; the other outputs go on"]
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1 and tracebacks[0].exc_info[1] is broken.error
    assert workers[0].link.closed, "nothing more is offered to a failed sink"
    assert good.count == 5


def test_a_pipeline_whose_every_output_failed_stops():
    from streamer.pipeline.live import LiveOptions, LivePipeline

    from .fakes import Camera, FakeClock, FakeTracker, engine_of, run_on_clock

    clock = FakeClock()
    camera = Camera([np.zeros((48, 64, 3), np.uint8)], 30, 90, clock)
    pipeline = LivePipeline(
        lambda: camera,
        [_Broken(ValueError("bad frame"))],
        LiveOptions(fps=30),
        open_engine=lambda style: engine_of(),
        tracker_factory=lambda: FakeTracker([]),
        clock=clock,
    )
    summary = run_on_clock(pipeline, camera, clock)
    assert summary.failed and summary.statuses == [
        "output broken failed: ValueError: bad frame; the other outputs go on",
        "every output failed; stopping",
    ]
    assert summary.frames_in == 1 and summary.frames_out == 0, "stopped at the loop's next turn"


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
