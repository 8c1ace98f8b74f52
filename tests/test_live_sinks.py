"""Live outputs: the virtual camera through pyvirtualcam's backend seam, an RTMP push received on
loopback, and `streamer live` errors from the user's side."""

import time
import typing
from fractions import Fraction

import numpy as np
import pytest

from streamer.cli import EXIT_USER_ERROR, main
from streamer.frame import Frame

pyvirtualcam = pytest.importorskip("pyvirtualcam")


class RecordingBackend:
    """A pyvirtualcam backend that keeps what it is sent, registered like the platform ones."""

    instances: typing.ClassVar[list] = []

    def __init__(self, *, width, height, fps, fourcc, device, **kw):
        self.width, self.height, self.fps, self.fourcc = width, height, fps, fourcc
        self.sent: list[tuple[float, tuple, np.dtype]] = []
        RecordingBackend.instances.append(self)

    def device(self):
        return "test-camera"

    def native_fourcc(self):
        return None

    def send(self, frame):  # pyvirtualcam hands backends the frame flattened
        self.sent.append((time.monotonic(), frame.size, frame.dtype))

    def close(self):
        pass


@pytest.fixture
def test_backend():
    pyvirtualcam.register_backend("streamer-test", RecordingBackend)
    yield "streamer-test"
    del pyvirtualcam.camera.BACKENDS["streamer-test"]


def test_virtual_camera_gets_frames_of_the_right_size_and_format_paced_to_the_fps(test_backend):
    from streamer.sinks.vcam import VirtualCameraSink

    sink = VirtualCameraSink(backend=test_backend)
    sink.open(320, 240, 20.0)
    image = np.zeros((240, 320, 3), np.uint8)
    for i in range(5):  # fewer frames than the camera's rate: it repeats the newest
        sink.write(Frame(image, i, Fraction(1, 20), i))
        time.sleep(0.2)
    sink.close()
    backend = RecordingBackend.instances[-1]
    assert (backend.width, backend.height, backend.fps) == (320, 240, 20.0)
    assert backend.fourcc == pyvirtualcam.camera.encode_fourcc(pyvirtualcam.PixelFormat.BGR.value)
    assert all(size == 240 * 320 * 3 and dtype == np.uint8 for _, size, dtype in backend.sent)
    intervals = np.diff([t for t, _, _ in backend.sent])
    assert len(backend.sent) >= 15
    assert abs(float(np.median(intervals)) - 1 / 20) < 0.01


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
    assert "frames in" in capsys.readouterr().out
    assert len(probe(out).frame_times) >= 40
    assert stats.read_text().count("\n") >= 1
