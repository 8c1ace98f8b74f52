"""Faults while running: a URL source that goes silent, a stream server that disappears or stalls,
a disk that fills while recording (a small filesystem in a private mount namespace), and SIGTERM
during `streamer live`. Each checks what the user is told and what is left on disk, never how long
it took (benchmarks/faults.py measures that)."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from streamer.capture.live import Reconnecting, UrlSource
from streamer.capture.synthetic import write_clip
from streamer.cli import EXIT_INTERRUPTED, EXIT_USER_ERROR
from streamer.frame import Frame
from streamer.pipeline.live import LiveControls, LiveOptions, LivePipeline
from streamer.sinks.file import RESERVE_BASE_BYTES, RESERVE_STEP_BYTES
from streamer.sinks.live import RecordingSink
from streamer.sinks.stream import StreamSink

from .conftest import REPO, moving_face
from .fakes import Camera, FakeTracker, engine_of
from .media_probe import probe

DEADLINE_S = 120  # what "never happened" means in the waits below: a hang, not a slow machine


def _wait_until(condition, what: str, deadline_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- a URL source that goes silent ------------------------------------------------------------------
def _mpegts_clip(frames: int) -> bytes:
    """`frames` frames of 160x120 H.264 in MPEG-TS, frame i all grey level 2i."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mpegts") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.options = {"preset": "ultrafast", "tune": "zerolatency", "g": "10"}
        for i in range(frames):
            vf = av.VideoFrame.from_ndarray(np.full((120, 160, 3), 2 * i, np.uint8), format="bgr24")
            vf.pts = i
            container.mux(stream.encode(vf))
        container.mux(stream.encode(None))
    return buf.getvalue()


class StallingServer:
    """HTTP on loopback serving an MPEG-TS clip: the first connection gets its first half and then
    nothing, the connection held open; each later one gets the whole clip."""

    def __init__(self, clip: bytes) -> None:
        self.clip = clip
        self.connections = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}/live.ts"
        self._held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return  # closed
            self.connections += 1
            conn.recv(65536)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: video/MP2T\r\n\r\n")
            if self.connections == 1:
                half = len(self.clip) // 2 // 188 * 188  # whole transport packets
                conn.sendall(self.clip[:half])
                self._held.append(conn)  # open and silent
            else:
                conn.sendall(self.clip)
                conn.close()

    def close(self) -> None:
        self._server.close()
        for conn in self._held:
            conn.close()


def test_a_url_that_goes_silent_is_noticed_and_reopened_and_frames_come_again():
    server = StallingServer(_mpegts_clip(60))
    url, statuses, stop = server.url, [], threading.Event()
    frames: list[tuple[int, int]] = []  # (connection, grey level)
    reconnecting = Reconnecting(lambda: UrlSource(url, timeout_s=0.5), statuses.append, stop, retry_s=0.1)
    timer = threading.Timer(DEADLINE_S, stop.set)  # a hang ends the loop rather than the suite
    timer.start()
    try:
        for frame in reconnecting:
            frames.append((server.connections, int(frame.image[60, 80, 1])))
            if sum(1 for connection, _ in frames if connection == 2) >= 20:
                break
    finally:
        timer.cancel()
        server.close()
    assert statuses[:2] == [f"source lost: {url} sent nothing for 0.5 s; retrying in 0.1 s", f"source back: {url}"]
    first = [grey for connection, grey in frames if connection == 1]
    second = [grey for connection, grey in frames if connection == 2]
    assert 5 <= len(first) < 30, "the first connection's half clip, then silence"
    assert len(second) == 20 and second[0] <= 4, "the clip again from its start"


# -- a stream server that disappears or stalls --------------------------------------------------------
LISTENER = """
import sys, av
print("listening", flush=True)
with av.open(sys.argv[1], options={"listen": "1"}, format="flv", timeout=60) as server:
    for i, frame in enumerate(server.decode(video=0)):
        if i == 0:
            print("receiving", flush=True)
"""


class Listener:
    """An RTMP server (PyAV listening) in its own process; `receiving` once a frame arrived."""

    def __init__(self) -> None:
        self.url = f"rtmp://127.0.0.1:{_free_port()}/live/test"
        self.process = subprocess.Popen(
            [sys.executable, "-c", LISTENER, self.url], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "listening"
        self.receiving = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        time.sleep(0.5)  # from "listening" to listening

    def _read(self) -> None:
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() == "receiving":
            self.receiving.set()

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def test_an_rtmp_server_killed_mid_stream_fails_its_output_alone_and_the_recording_is_complete(listener, tmp_path):
    """A recording and an RTMP push; the server is killed once frames arrive: one status line for
    the push, the run goes on, and the recording holds every frame that went out."""
    frames = [moving_face(size=(320, 240)).render(i) for i in range(4)]
    out = tmp_path / "rec.mp4"
    controls, statuses = LiveControls("x"), []
    killed_at: list[int] = []
    recording = RecordingSink(out)

    class Killing(Camera):
        def __iter__(self):
            for frame in super().__iter__():
                if not killed_at and listener.receiving.is_set():
                    listener.close()
                    killed_at.append(frame.index)
                if killed_at and frame.index == killed_at[0] + 45:  # the run went on after it
                    controls.quit.set()
                yield frame

    pipeline = LivePipeline(
        lambda: Killing(frames, 30, 30 * DEADLINE_S, sleep=time.sleep),
        [recording, StreamSink(listener.url)],
        LiveOptions(fps=30),
        controls,
        open_engine=lambda style: engine_of(),
        tracker_factory=lambda: FakeTracker([]),
        status=statuses.append,
    )
    summary = pipeline.run()
    assert killed_at, "the server never received a frame"
    pushes = [s for s in statuses if listener.url in s]
    url = re.escape(listener.url)
    assert len(pushes) == 1, statuses
    assert re.fullmatch(rf"output {url} failed: {url} went away \(.*\); the other outputs go on", pushes[0])
    assert not summary.failed and not summary.interrupted
    assert recording.saved == out and len(probe(out).frame_times) == summary.written[recording.name] > killed_at[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.mp4"]


def test_a_stream_server_that_stops_taking_data_is_cut_after_the_timeout(listener):
    """The server process is stopped (SIGSTOP): its socket stays open and takes nothing once its
    buffers are full. The write waiting on it fails after the timeout, and close does not wait."""
    sink = StreamSink(listener.url, timeout_s=1.0)
    sink.open(320, 240, 30.0)
    noise = np.random.default_rng(0).integers(0, 255, (8, 240, 320, 3), np.uint8)  # large frames fill buffers
    errors: list[Exception] = []

    def push() -> None:
        try:
            for i in range(30 * DEADLINE_S):
                if i == 10:
                    listener.process.send_signal(signal.SIGSTOP)
                sink.write(Frame(noise[i % 8], i * 33, Fraction(1, 1000), i))
        except Exception as exc:
            errors.append(exc)

    pusher = threading.Thread(target=push, daemon=True)
    pusher.start()
    pusher.join(DEADLINE_S)
    assert not pusher.is_alive(), "the write still waits on the stopped server"
    assert len(errors) == 1 and str(errors[0]) == (
        f"{listener.url} took no data for 1 s (the server stalled or the network is cut)"
    )

    def close() -> None:
        with contextlib.suppress(Exception):  # the connection was cut: its end cannot be sent
            sink.close()

    closer = threading.Thread(target=close, daemon=True)
    closer.start()
    closer.join(DEADLINE_S)
    assert not closer.is_alive()
    listener.process.send_signal(signal.SIGCONT)


# -- subprocess runs: a fake camera and virtual camera, a private small filesystem -------------------
WRAPPER = r'''
"""`streamer.cli.main(argv)` with webcam:N replaced by a synthetic camera and the virtual camera by
a pyvirtualcam backend; both leave marker files as they are opened, used and closed. With "disk"
and "keep", the files in "disk" (a filesystem that goes with this process's namespace) are copied
to "keep" at the end."""
import itertools, json, shutil, sys, time
from fractions import Fraction
from pathlib import Path

setup = json.loads(sys.argv[1])
markers = Path(setup["markers"])

import pyvirtualcam
import streamer.capture.live as live
from streamer.capture.synthetic import Motion, SyntheticSource
from streamer.frame import Frame


class Webcam:
    live = True

    def __init__(self, device, width=None, height=None, fps=None):
        self.name = f"camera {device}"
        w, h = setup["size"]
        motion = Motion((w / 2, h / 2), scale=w / 640, sway=(w / 10, 0))
        source = SyntheticSource([motion], (w, h), noise=setup["noise"])
        self.images = [source.render(i) for i in range(8)]
        (markers / "camera-opened").touch()

    def __iter__(self):
        t0 = time.monotonic()
        for i in itertools.count():
            time.sleep(max(0.0, t0 + i / 30 - time.monotonic()))
            now = time.monotonic()
            yield Frame(self.images[i % 8], round((now - t0) * 1000), Fraction(1, 1000), i, now)

    def close(self):
        (markers / "camera-closed").touch()


class VirtualCamera:
    def __init__(self, *, width, height, fps, fourcc, device, **kw):
        self.sent = 0

    def device(self):
        return "test-camera"

    def native_fourcc(self):
        return None

    def send(self, frame):
        self.sent += 1
        if self.sent == 1:
            (markers / "vcam-sent").touch()

    def close(self):
        (markers / "vcam-closed").touch()


live.WebcamSource = Webcam
pyvirtualcam.camera.BACKENDS.clear()
pyvirtualcam.register_backend("test", VirtualCamera)

from streamer.cli import main

try:
    code = main(sys.argv[2:])
finally:
    if setup.get("keep"):
        shutil.copytree(setup["disk"], setup["keep"], dirs_exist_ok=True)
sys.exit(code)
'''


def _wrapped(tmp_path: Path, argv: list[str], size=(320, 240), noise=0.0, disk: Path | None = None) -> list[str]:
    """The command that runs `streamer` `argv` through WRAPPER (markers in tmp_path/markers)."""
    markers = tmp_path / "markers"
    markers.mkdir(exist_ok=True)
    setup = {"markers": str(markers), "size": size, "noise": noise}
    if disk is not None:
        setup.update(disk=str(disk), keep=str(tmp_path / "kept"))
    return [sys.executable, "-c", WRAPPER, json.dumps(setup), *argv]


def _on_a_small_disk(disk: Path, kilobytes: int, command: list[str]) -> list[str]:
    """`command` in a private mount namespace where `disk` is a tmpfs of `kilobytes`."""
    script = f'mount -t tmpfs -o size={kilobytes}k tmpfs "$0" && exec "$@"'
    return ["unshare", "-Urm", "sh", "-c", script, str(disk), *command]


@pytest.fixture
def small_disk(tmp_path) -> Path:
    """A folder to mount a small tmpfs on, inside a private mount namespace (skipped where the
    system does not allow one)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    tried = subprocess.run(_on_a_small_disk(disk, 64, ["true"]), capture_output=True, text=True)
    if tried.returncode != 0:
        pytest.skip(f"no private mount namespace here: {tried.stderr.strip()}")
    return disk


# Room for the reserve, and about 600 KB of video (some 20 noisy 640x480 frames) before the disk is full.
SMALL_DISK_KB = (RESERVE_BASE_BYTES + RESERVE_STEP_BYTES) // 1024 + 600


def _popen(command: list[str], tmp_path: Path) -> tuple[subprocess.Popen, Path, Path]:
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    proc = subprocess.Popen(
        command,
        stdout=out.open("w"),
        stderr=err.open("w"),
        cwd=REPO,
        # A shell that started this suite in the background ignores Ctrl-C in its children; undo that.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    return proc, out, err


def test_a_full_disk_ends_the_live_recording_valid_as_partial_and_the_run_goes_on(tmp_path, small_disk):
    """`streamer live` records noisy 640x480 frames (large: the disk fills in the first second) onto
    a small filesystem beside a `null` output: one line says what was kept, the partial recording
    decodes to that many frames, the run goes on until Ctrl-C, and nothing else is left."""
    argv = ["live", "--source", "webcam:0", "--sink", "null", "--sink", f"file:{small_disk}/out.mp4"]
    argv += ["--background-style", "none"]
    command = _on_a_small_disk(small_disk, SMALL_DISK_KB, _wrapped(tmp_path, argv, (640, 480), 12.0, small_disk))
    proc, out, err = _popen(command, tmp_path)
    try:
        _wait_until(lambda: "disk is full" in err.read_text() or proc.poll() is not None, "the disk to fill")
        # The run goes on: a stats line after it shows frames going out.
        after = lambda: err.read_text().split("disk is full", 1)[-1]  # noqa: E731
        _wait_until(lambda: re.search(r"out +[1-9]\d* fps", after()) or proc.poll() is not None, "frames after it")
        assert proc.poll() is None, err.read_text()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(DEADLINE_S) == 0, err.read_text()  # without --duration, Ctrl-C is how it ends
    finally:
        proc.kill()
        proc.wait()
    lines = [line for line in err.read_text().splitlines() if "disk" in line]
    assert "Traceback" not in err.read_text()
    assert len(lines) == 1, lines
    kept = re.fullmatch(
        rf"streamer: output file:{re.escape(str(small_disk))}/out\.mp4: the disk is full; kept the first "
        r"(\d+\.\d) s \((\d+) frames\) as out\.partial\.mp4; the other outputs go on",
        lines[0],
    )
    assert kept, lines[0]
    seconds, count = float(kept[1]), int(kept[2])
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == ["out.partial.mp4"]
    written = probe(tmp_path / "kept" / "out.partial.mp4")
    assert count >= 1 and len(written.frame_times) == count and (written.width, written.height) == (640, 480)
    span = float(written.frame_times[-1] - written.frame_times[0])  # the line adds the last frame's own time
    assert span - 0.05 <= seconds <= span + 0.2
    frames_out = int(re.search(r"live: \d+ frames in, (\d+) out", out.read_text())[1])
    assert frames_out > count, "the null output went on after the recording stopped"


def test_stylize_onto_a_full_disk_says_so_in_one_line_and_keeps_a_valid_partial(tmp_path, small_disk):
    """Noisy 640x480 frames (large) onto a small filesystem: one line, exit status 2, and the
    frames that fit are kept, valid, as NAME.partial.EXT (audio interleaved); nothing else is left."""
    clip, face = tmp_path / "noisy.mp4", moving_face(noise=12.0)
    noisy = [face.render(i) for i in range(8)]  # noise is slow to make; 8 frames apart it is still costly to code
    write_clip(clip, (noisy[i % 8] for i in range(48)))
    argv = ["stylize", str(clip), f"{small_disk}/out.mp4", "--no-progress", "--background-style", "none"]
    command = _wrapped(tmp_path, argv, disk=small_disk)
    done = subprocess.run(
        _on_a_small_disk(small_disk, SMALL_DISK_KB, command), capture_output=True, text=True, timeout=DEADLINE_S
    )
    assert done.returncode == EXIT_USER_ERROR, done.stderr
    kept = re.fullmatch(
        r"streamer: error: the disk is full; kept the first (\d+\.\d) s \((\d+) frames\) as out\.partial\.mp4\n",
        done.stderr,
    )
    assert kept, done.stderr
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == ["out.partial.mp4"]
    written, source = probe(tmp_path / "kept" / "out.partial.mp4"), probe(clip)
    count = int(kept[2])
    assert 1 <= count < len(source.frame_times) and written.frame_times == source.frame_times[:count]


# -- SIGTERM and Ctrl-C during `streamer live` --------------------------------------------------------
@pytest.mark.parametrize(
    ("signum", "duration", "code", "name"),
    [(signal.SIGTERM, "600", EXIT_INTERRUPTED, "out.partial.mp4"), (signal.SIGINT, None, 0, "out.mp4")],
    ids=["sigterm-before-duration", "ctrl-c-without-duration"],
)
def test_an_interrupted_live_run_releases_the_cameras_and_closes_its_recording(tmp_path, signum, duration, code, name):
    """SIGTERM is taken as Ctrl-C. Before --duration is up the recording is kept as
    NAME.partial.EXT and the exit status is 130; without --duration an interrupt is the run's end
    and the recording keeps its name. Either way the camera and the virtual camera are closed."""
    out = tmp_path / "out.mp4"
    argv = ["live", "--source", "webcam:0", "--sink", "vcam", "--sink", f"file:{out}", "--quiet"]
    argv += ["--duration", duration] if duration else []
    proc, _, err = _popen(_wrapped(tmp_path, argv), tmp_path)
    markers = tmp_path / "markers"
    try:
        recording = lambda: [p for p in tmp_path.iterdir() if p.name.endswith(".tmp") and p.stat().st_size > 5000]  # noqa: E731
        _wait_until(
            lambda: ((markers / "vcam-sent").exists() and recording()) or proc.poll() is not None,
            "frames to reach the virtual camera and the recording",
        )
        assert proc.poll() is None, err.read_text()
        proc.send_signal(signum)
        assert proc.wait(DEADLINE_S) == code, err.read_text()
    finally:
        proc.kill()
        proc.wait()
    text = err.read_text()
    assert "Traceback" not in text and "interrupted" in text
    assert sorted(p.name for p in markers.iterdir()) == ["camera-closed", "camera-opened", "vcam-closed", "vcam-sent"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith((".mp4", ".tmp", ".reserve"))) == [name]
    assert len(probe(tmp_path / name).frame_times) >= 1
    if duration:
        assert f"the recording so far is in {tmp_path / name}" in text
