"""`rtmp://...` / `srt://...`: push H.264 to a media server (or OBS) with PyAV, tuned for low latency.

A server that goes away fails the sink alone (`DeviceUnavailableError`): one that closes the
connection at the next write, one that stops taking data (a stalled server, a cut network) after
`STALL_TIMEOUT_S`, since PyAV gives output connections no timeout of their own: a watchdog thread
shuts the connection down under a write (or the close) that has waited that long.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from streamer.errors import DeviceUnavailableError, InvalidInputError, unsupported_protocol
from streamer.frame import Frame

if TYPE_CHECKING:
    import av

# A write (or the close) to a server that takes no data for this long fails the sink.
STALL_TIMEOUT_S = 5.0
DEFAULT_PORTS = {"rtmp": 1935, "rtmps": 443}


def _open_fds() -> set[int]:
    """The process's open file descriptors, where the system lists them (else none)."""
    try:
        listed = {int(name) for name in os.listdir("/dev/fd")}
    except (OSError, ValueError):
        return set()
    open_now = set()
    for fd in listed:  # the listing's own descriptor is among them, closed by now
        with contextlib.suppress(OSError):
            os.fstat(fd)
            open_now.add(fd)
    return open_now


def _connections_to(port: int, fds: set[int]) -> list[int]:
    """Those of `fds` that are TCP connections to `port`."""
    found = []
    for fd in fds:
        try:
            dup = os.dup(fd)
        except OSError:
            continue
        try:
            sock = socket.socket(fileno=dup)
        except OSError:  # not a socket: the duplicate is still ours to close
            os.close(dup)
            continue
        with sock, contextlib.suppress(OSError, IndexError, TypeError):
            if sock.type == socket.SOCK_STREAM and sock.getpeername()[1] == port:
                found.append(fd)
    return found


class StreamSink:
    """Pushes frames to `url` (FLV over RTMP, MPEG-TS over SRT); see the module docstring.

    `timeout_s`: how long a write or the close may wait on the server before the connection is cut
    and the sink fails."""

    queue_frames = 1

    def __init__(
        self, url: str, timeout_s: float = STALL_TIMEOUT_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.url = url
        self.name = url
        self.timeout_s = timeout_s
        self._clock = clock
        self._container: av.container.OutputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._last_pts = -1
        parts = urlsplit(url)
        self._port = parts.port or DEFAULT_PORTS.get(parts.scheme, 0)
        self._fds_before: set[int] | None = None  # before the connection was made (the first write)
        self._connections: list[int] = []  # the connection's sockets, once made
        self._busy_since: float | None = None
        self._cut = False  # the watchdog shut the connection down
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._watchdog: threading.Thread | None = None

    def open(self, width: int, height: int, fps: float) -> None:
        import av

        fmt = "flv" if self.url.startswith("rtmp") else "mpegts"
        try:
            container = av.open(self.url, "w", format=fmt, timeout=self.timeout_s)
        except av.error.ProtocolNotFoundError as exc:
            raise InvalidInputError(unsupported_protocol(self.url)) from exc
        except (av.FFmpegError, OSError) as exc:
            raise DeviceUnavailableError(f"cannot reach {self.url} ({exc})") from exc
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height = width - width % 2, height - height % 2
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(max(1, round(2 * fps)))}
        self._container, self._stream = container, stream
        self._watchdog = threading.Thread(target=self._watch, name=f"watchdog {self.url}", daemon=True)
        self._watchdog.start()

    def write(self, frame: Frame) -> None:
        import av

        container, stream = self._container, self._stream
        assert container is not None and stream is not None, "write after open"
        image = frame.image[: stream.height, : stream.width]
        vf = av.VideoFrame.from_ndarray(image, format="bgr24")
        vf.pts = max(self._last_pts + 1, round(float(frame.pts * frame.time_base) * 1000))
        vf.time_base = Fraction(1, 1000)
        self._last_pts = vf.pts
        first = self._fds_before is None
        if first:
            self._fds_before = _open_fds()
        try:
            with self._guard():
                container.mux(stream.encode(vf))
        except av.error.ProtocolNotFoundError as exc:  # output containers open their URL with the first write
            raise InvalidInputError(unsupported_protocol(self.url)) from exc
        except (av.FFmpegError, OSError) as exc:
            if self._cut:
                raise DeviceUnavailableError(
                    f"{self.url} took no data for {self.timeout_s:g} s (the server stalled or the network is cut)"
                ) from exc
            raise DeviceUnavailableError(f"{self.url} went away ({exc})") from exc
        if first:
            self._connections = self._find_connections()

    def _find_connections(self) -> list[int]:
        return _connections_to(self._port, _open_fds() - (self._fds_before or set())) if self._port else []

    @contextlib.contextmanager
    def _guard(self):
        """The watchdog times what runs inside."""
        with self._lock:
            self._busy_since = self._clock()
        try:
            yield
        finally:
            with self._lock:
                self._busy_since = None

    def _watch(self) -> None:
        """Shut the connection down under a write or close that waited `timeout_s`: it then fails."""
        while not self._done.wait(min(0.1, self.timeout_s / 4)):
            with self._lock:
                since = self._busy_since
                if since is None or self._cut or self._clock() - since < self.timeout_s:
                    continue
                self._cut = True
            for fd in self._connections or self._find_connections():
                with contextlib.suppress(OSError), socket.socket(fileno=os.dup(fd)) as sock:
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Flush and close; a server gone or stalled does not make it wait longer than `timeout_s`."""
        import av

        container, stream = self._container, self._stream
        if container is None or stream is None:
            return
        self._container = self._stream = None
        try:
            with self._guard():
                try:
                    container.mux(stream.encode(None))
                except (av.FFmpegError, OSError):
                    pass
                finally:
                    container.close()
        finally:
            self._done.set()
