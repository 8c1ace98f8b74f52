"""Faults in live mode, timed on the wall clock (tests/test_live_faults.py checks the behaviour):

    python benchmarks/faults.py [--repeat 3] [--url-timeout 5] [--stream-timeout 5]

- A URL source that goes silent: an HTTP server on loopback sends an MPEG-TS clip at its own pace
  for 2 s, then holds the connection open and sends nothing; the next connection serves the clip.
  Detection: from the server's last byte to the "source lost: URL sent nothing for N s" line.
  Reconnect: from that line to the first frame of the new connection (the 1 s retry wait included).
- An RTMP server (PyAV listening, in its own process) killed, or stopped (SIGSTOP: the connection
  open, no data taken), while `StreamSink` pushes noisy 640x480 frames: from the kill or stop to the
  failed write (a stopped server first fills the socket buffers), how long that write waited, and
  how long the close then takes.
- A full disk: `streamer stylize` onto a small tmpfs in a private mount namespace (where `unshare
  -Urm` is allowed): the one line it prints, what the kept NAME.partial.EXT holds, and what writing
  through the guarded file (Python I/O, a reserve grown beside it) costs of FileSink's time.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def mpegts_clip(seconds: float, fps: int = 30) -> tuple[bytes, list[int]]:
    """A 320x240 clip in MPEG-TS, and the byte offset where each frame's data ends."""
    buf = io.BytesIO()
    ends = []
    with av.open(buf, "w", format="mpegts") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(fps)}
        rng = np.random.default_rng(0)
        for i in range(round(seconds * fps)):
            vf = av.VideoFrame.from_ndarray(rng.integers(0, 64, (240, 320, 3), np.uint8), format="bgr24")
            vf.pts = i
            container.mux(stream.encode(vf))
            ends.append(buf.tell())
        container.mux(stream.encode(None))
    return buf.getvalue(), ends


class PacedServer:
    """HTTP on loopback: odd connections get 2 s of the clip at its own pace and then silence (the
    connection held); even ones get the whole clip at once. `silent_at`: when the last byte went."""

    def __init__(self, clip: bytes, ends: list[int], fps: int = 30) -> None:
        self.clip, self.ends, self.fps = clip, ends, fps
        self.connections = 0
        self.silent_at = 0.0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}/live.ts"
        self._held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self.connections += 1
            conn.recv(65536)
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: video/MP2T\r\n\r\n")
            if self.connections % 2:
                t0, sent = time.monotonic(), 0
                for i, end in enumerate(self.ends[: 2 * self.fps]):
                    time.sleep(max(0.0, t0 + i / self.fps - time.monotonic()))
                    end = end // 188 * 188
                    conn.sendall(self.clip[sent:end])
                    sent = end
                self.silent_at = time.monotonic()
                self._held.append(conn)
            else:
                conn.sendall(self.clip)
                conn.close()

    def close(self) -> None:
        self._server.close()
        for conn in self._held:
            conn.close()


def url_stall(timeout_s: float) -> tuple[float, float]:
    """(detection, reconnect) seconds for one silent URL."""
    from streamer.capture.live import Reconnecting, UrlSource

    clip, ends = mpegts_clip(4.0)
    server = PacedServer(clip, ends)
    stop = threading.Event()
    lost_at: list[float] = []

    def status(text: str) -> None:
        if text.startswith("source lost"):
            lost_at.append(time.monotonic())
            print(f"    {text}")

    try:
        for _ in Reconnecting(lambda: UrlSource(server.url, timeout_s=timeout_s), status, stop):
            if server.connections == 2 and lost_at:
                back = time.monotonic()
                break
    finally:
        server.close()
    return lost_at[0] - server.silent_at, back - lost_at[0]


LISTENER = """
import sys, av
print("listening", flush=True)
with av.open(sys.argv[1], options={"listen": "1"}, format="flv", timeout=60) as server:
    for frame in server.decode(video=0):
        pass
"""


def stream_fault(kind: str, timeout_s: float) -> tuple[float, float, float]:
    """Seconds from the fault to the failed write, from the start of that write (the one that waited
    on the server) to its failure, and of the close; `kind` "kill" or "stop"."""
    from streamer.frame import Frame
    from streamer.sinks.stream import StreamSink

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"rtmp://127.0.0.1:{s.getsockname()[1]}/live/test"
    server = subprocess.Popen([sys.executable, "-c", LISTENER, url], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None and server.stdout.readline().strip() == "listening"
    time.sleep(0.5)
    sink = StreamSink(url, timeout_s=timeout_s)
    sink.open(640, 480, 30.0)
    noise = np.random.default_rng(0).integers(0, 255, (8, 480, 640, 3), np.uint8)
    fault_at = failed_at = write_at = 0.0
    try:
        for i in range(100_000):
            if i == 30:
                server.kill() if kind == "kill" else server.send_signal(signal.SIGSTOP)
                fault_at = time.monotonic()
            try:
                write_at = time.monotonic()
                sink.write(Frame(noise[i % 8], i * 33, Fraction(1, 1000), i))
            except Exception as exc:
                failed_at = time.monotonic()
                print(f"    {kind}: {exc}")
                break
        t = time.monotonic()
        with contextlib.suppress(Exception):  # the connection is gone: its end cannot be sent
            sink.close()
        closed = time.monotonic() - t
    finally:
        server.send_signal(signal.SIGCONT)
        server.kill()
        server.wait()
    return failed_at - fault_at, failed_at - write_at, closed


def disk_full() -> None:
    from streamer.capture.synthetic import write_clip
    from streamer.sinks.file import RESERVE_BASE_BYTES, RESERVE_STEP_BYTES
    from tests.conftest import moving_face
    from tests.media_probe import probe

    if shutil.which("unshare") is None:
        print("  unshare is not installed: skipped")
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        face = moving_face(noise=12.0)
        noisy = [face.render(i) for i in range(8)]
        clip = folder / "noisy.mp4"
        write_clip(clip, (noisy[i % 8] for i in range(90)))
        disk, kept = folder / "disk", folder / "kept"
        disk.mkdir()
        room_kb = 1000
        size_kb = (RESERVE_BASE_BYTES + RESERVE_STEP_BYTES) // 1024 + room_kb
        script = (
            f'mount -t tmpfs -o size={size_kb}k tmpfs "$0" || exit 99; "$@"; code=$?; cp -a "$0"/. {kept}/; exit $code'
        )
        kept.mkdir()
        t = time.monotonic()
        cmd = [sys.executable, "-m", "streamer", "stylize", str(clip), f"{disk}/out.mp4", "--no-progress"]
        done = subprocess.run(
            ["unshare", "-Urm", "sh", "-c", script, str(disk), *cmd, "--background-style", "none"],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        seconds = time.monotonic() - t
        if done.returncode == 99:
            print(f"  no private mount namespace here: skipped ({done.stderr.strip()})")
            return
        print(f"  stylize of 90 noisy 640x480 frames onto a {size_kb} KB tmpfs ({room_kb} KB past the reserve):")
        print(f"    exit status {done.returncode} after {seconds:.1f} s; stderr: {done.stderr.strip()}")
        for path in sorted(kept.iterdir()):
            written = probe(path)
            print(
                f"    left: {path.name}, {path.stat().st_size / 1024:.0f} KB, {len(written.frame_times)} frames "
                f"decoded, the first {float(written.frame_times[-1]):.3f} s, audio {written.audio_codecs}"
            )
        guarded_cost(folder, noisy)


def guarded_cost(folder: Path, images: list[np.ndarray], frames: int = 300) -> None:
    """What writing through the guarded file (Python I/O, the reserve grown beside it) costs: the time
    spent in its writes and the reserve's growth, against the whole of `FileSink`'s work."""
    import streamer.sinks.file as file_sink
    from streamer.frame import Frame

    spent = [0.0, 0.0]  # writes, reserve growth

    def timed(function, slot: int):
        def run(*args):
            t = time.perf_counter()
            try:
                return function(*args)
            finally:
                spent[slot] += time.perf_counter() - t

        return run

    file_sink._GuardedFile.write = timed(file_sink._GuardedFile.write, 0)  # type: ignore[method-assign]
    file_sink._Reserve.grow = timed(file_sink._Reserve.grow, 1)  # type: ignore[method-assign]
    t = time.perf_counter()
    sink = file_sink.FileSink(folder / "guarded.mp4", 640, 480, Fraction(1, 30), Fraction(30))
    for i in range(frames):
        sink.write(Frame(images[i % len(images)], i, Fraction(1, 30), i))
    sink.close()
    total = time.perf_counter() - t
    size = (folder / "guarded.mp4").stat().st_size
    print(
        f"  FileSink writing {frames} noisy 640x480 frames ({size / 1e6:.1f} MB) in {total:.1f} s: "
        f"{spent[0] * 1000:.0f} ms in the guarded file's writes, {spent[1] * 1000:.1f} ms growing the reserve "
        f"({sum(spent) / total * 100:.2f}% of the time)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--url-timeout", type=float, default=None, help="default: URL_TIMEOUT_S")
    parser.add_argument("--stream-timeout", type=float, default=None, help="default: STALL_TIMEOUT_S")
    args = parser.parse_args()
    from streamer.capture.live import URL_TIMEOUT_S
    from streamer.sinks.stream import STALL_TIMEOUT_S

    url_timeout = args.url_timeout or URL_TIMEOUT_S
    stream_timeout = args.stream_timeout or STALL_TIMEOUT_S

    print(f"URL source gone silent (read timeout {url_timeout:g} s, retry after 1 s):")
    runs = [url_stall(url_timeout) for _ in range(args.repeat)]
    for label, values in (("detection", [r[0] for r in runs]), ("reconnect", [r[1] for r in runs])):
        print(f"  {label}: " + ", ".join(f"{v:.2f}" for v in values) + f" s (median {statistics.median(values):.2f})")

    print(f"RTMP server gone (write timeout {stream_timeout:g} s):")
    for kind in ("kill", "stop"):
        runs = [stream_fault(kind, stream_timeout) for _ in range(args.repeat)]
        failed, waited, closes = (", ".join(f"{r[k]:.2f}" for r in runs) for k in range(3))
        print(f"  {kind}: a write failed {failed} s after it (that write waited {waited} s); close took {closes} s")

    print("Disk full:")
    disk_full()


if __name__ == "__main__":
    main()
