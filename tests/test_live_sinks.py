"""Live outputs: the virtual camera through pyvirtualcam's backend seam (paced on a fake clock), an
RTMP push received on loopback, and `streamer live` errors from the user's side."""

import re
import threading
import time
import typing
from fractions import Fraction

import numpy as np
import pytest

from streamer.cli import EXIT_USER_ERROR, main
from streamer.frame import Frame

from .fakes import EPSILON, FakeClock

pyvirtualcam = pytest.importorskip("pyvirtualcam")


class RecordingBackend:
    """A pyvirtualcam backend that keeps what it is sent (when, on `clock`, and the first byte),
    registered like the platform ones."""

    instances: typing.ClassVar[list] = []
    clock: typing.ClassVar[typing.Callable[[], float]] = time.monotonic

    def __init__(self, *, width, height, fps, fourcc, device, **kw):
        self.width, self.height, self.fps, self.fourcc = width, height, fps, fourcc
        self.sent: list[tuple[float, int, int, np.dtype]] = []
        RecordingBackend.instances.append(self)

    def device(self):
        return "test-camera"

    def native_fourcc(self):
        return None

    def send(self, frame):  # pyvirtualcam hands backends the frame flattened
        self.sent.append((RecordingBackend.clock(), int(frame[0]), frame.size, frame.dtype))

    def close(self):
        pass


@pytest.fixture
def test_backend():
    pyvirtualcam.register_backend("streamer-test", RecordingBackend)
    yield "streamer-test"
    del pyvirtualcam.camera.BACKENDS["streamer-test"]
    RecordingBackend.clock = time.monotonic


def test_virtual_camera_gets_frames_of_the_right_size_and_format_paced_to_the_fps(test_backend):
    """A 20 fps camera fed 5 frames a second (frame k, all grey level k, written at k/5 s): it sends
    every 1/20 s of the clock, repeating the newest frame, each four times."""
    from streamer.sinks.vcam import VirtualCameraSink

    clock = FakeClock()
    RecordingBackend.clock = clock
    one_second = threading.Event()

    def image(k: int) -> Frame:
        return Frame(np.full((240, 320, 3), k, np.uint8), k, Fraction(1, 5), k)

    def wait(seconds: float) -> bool:  # the pacer's wait: the pipeline writes while the camera waits
        clock.advance(seconds)
        if clock() >= 1.0 - EPSILON:
            one_second.set()
            return True
        k = round(clock() * 5)
        if abs(clock() - k / 5) < EPSILON:
            sink.write(image(k))
        return False

    sink = VirtualCameraSink(backend=test_backend, clock=clock, wait=wait)
    sink.write(image(0))
    sink.open(320, 240, 20.0)
    assert one_second.wait(30)
    sink.close()
    backend = RecordingBackend.instances[-1]
    assert (backend.width, backend.height, backend.fps) == (320, 240, 20.0)
    assert backend.fourcc == pyvirtualcam.camera.encode_fourcc(pyvirtualcam.PixelFormat.BGR.value)
    assert all(size == 240 * 320 * 3 and dtype == np.uint8 for _, _, size, dtype in backend.sent)
    assert [t for t, _, _, _ in backend.sent] == pytest.approx([i / 20 for i in range(20)])
    assert [k for _, k, _, _ in backend.sent] == [k for k in range(5) for _ in range(4)]


def test_no_virtual_camera_says_how_to_set_one_up():
    from streamer.errors import DeviceUnavailableError
    from streamer.sinks.vcam import VirtualCameraSink

    with pytest.raises(DeviceUnavailableError, match="v4l2loopback"):
        VirtualCameraSink(device="/dev/video-none").open(320, 240, 30.0)


SERVER = """
import sys, av
shapes = []
with av.open(sys.argv[1], options={"listen": "1"}, format="flv", timeout=30) as server:
    try:
        for frame in server.decode(video=0):
            shapes.append(frame.to_ndarray(format="bgr24").shape)
    except av.error.OSError:
        pass  # the pusher hung up: the end of the stream
print(len(shapes), shapes[0] if shapes else None)
"""


def test_rtmp_push_arrives_on_loopback():
    import socket
    import subprocess
    import sys

    from streamer.sinks.stream import StreamSink

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"rtmp://127.0.0.1:{port}/live/test"
    # The receiving end in its own process (PyAV holds the GIL while it listens).
    server = subprocess.Popen([sys.executable, "-c", SERVER, url], stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)
    sink = StreamSink(url)
    sink.open(320, 240, 30.0)
    image = np.full((240, 320, 3), 128, np.uint8)
    for i in range(30):
        sink.write(Frame(image, i * 33, Fraction(1, 1000), i))
    sink.close()
    out, _ = server.communicate(timeout=30)
    count, shape = out.split(maxsplit=1)
    assert int(count) >= 25 and shape.strip() == "(240, 320, 3)"


def test_cli_errors_are_one_line(tmp_path, capsys, face_clip):
    code = main(["live", "--source", str(face_clip), "--sink", "file:" + str(tmp_path / "o.mp4")])
    err = capsys.readouterr().err
    assert code == EXIT_USER_ERROR and "--realtime" in err and err.count("\n") == 1
    code = main(["live", "--source", "webcam:0", "--sink", "smoke-signals"])
    err = capsys.readouterr().err
    assert code == EXIT_USER_ERROR and "unknown sink" in err and err.count("\n") == 1
    code = main(["live", "--source", str(tmp_path / "none.mp4"), "--realtime", "--sink", "preview"])
    assert code == EXIT_USER_ERROR and "source not found" in capsys.readouterr().err


def test_cli_live_records_a_realtime_file_with_stats(tmp_path, capsys, face_clip):
    from .media_probe import probe

    out, stats = tmp_path / "live.mp4", tmp_path / "stats.jsonl"
    code = main(
        [
            "live",
            "--source",
            str(face_clip),
            "--realtime",
            "--sink",
            f"file:{out}",
            "--stats-json",
            str(stats),
            "--quiet",
        ]
    )
    assert code == 0
    summary = re.search(
        r"live: (\d+) frames in, (\d+) out, (\d+) dropped, (\d+) left out by a reduced frame rate",
        capsys.readouterr().out,
    )
    frames_in, frames_out, dropped, skipped = map(int, summary.groups())
    assert frames_in == 45, "a file played in real time delivers every frame"
    # (a loaded machine may drop frames or take a half-rate rung: every frame is counted once)
    assert frames_out + dropped + skipped == frames_in and len(probe(out).frame_times) == frames_out
    assert stats.read_text().count("\n") >= 1  # a 1.5 s clip played in real time: at least one second
