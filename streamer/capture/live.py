"""Live sources: a webcam, any URL PyAV opens, or a file played at its own pace (`--realtime`).

Each is a `Source` (see `streamer.capture.source`): frames stamped with their capture time, and one
end-of-stream rule: iteration ends when the stream has ended for good, `DeviceUnavailableError`
when the source dropped. `Reconnecting` wraps a source that can drop (a camera unplugged, a stream
that stops): it reports a status line, waits, and opens it again, until stopped. Nothing here
blocks the pipeline: the capture thread hands frames to a latest-frame link and goes on reading.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

from streamer.capture.source import OpenSource
from streamer.errors import DeviceUnavailableError, InvalidInputError, unsupported_protocol
from streamer.frame import Frame

MILLISECONDS = Fraction(1, 1000)
# A URL source that sends nothing for this long (the connection open, no data) has dropped; it is
# then reopened by `Reconnecting`. The same limit applies to opening it.
URL_TIMEOUT_S = 5.0


class RealtimeFileSource:
    """A recorded file delivered as if it were a camera: each frame when its pts comes due. Its end
    (without `loop`) is the end of the stream."""

    live = True

    def __init__(
        self,
        path: Path,
        loop: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        from streamer.capture.file import check_input_path

        check_input_path(Path(path))
        self.path, self.loop = Path(path), loop
        self.name = self.path.name
        self._clock, self._sleep = clock, sleep

    def __iter__(self) -> Iterator[Frame]:
        from streamer.capture.file import FileSource

        start_clock = None
        offset = 0.0  # seconds added to each pass's pts when looping
        index = 0
        while True:
            last = 0.0
            with FileSource(self.path) as source:
                first = None
                for item in source:
                    if not isinstance(item, Frame):
                        continue  # audio is not carried in live mode
                    t = float(item.pts * item.time_base)
                    first = t if first is None else first
                    due = offset + (t - first)
                    if start_clock is None:
                        start_clock = self._clock()
                    delay = start_clock + due - self._clock()
                    if delay > 0:
                        self._sleep(delay)
                    item.t_capture = self._clock()
                    item.pts, item.time_base, item.index = round(due * 1000), MILLISECONDS, index
                    index += 1
                    last = due
                    yield item
            if not self.loop or first is None:
                return
            offset = last + 1.0 / float(source.rate or 30)

    def close(self) -> None:
        """Nothing held between passes."""


class WebcamSource:
    """A camera through OpenCV (V4L2 on Linux): `webcam:N` or `/dev/videoN`, with a requested size
    and rate (the camera may pick the nearest it supports). A camera that stops delivering raises
    `DeviceUnavailableError`."""

    live = True

    def __init__(
        self,
        device: int | str,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        import cv2

        self.name = f"camera {device}"
        self._clock = clock
        self._capture = cv2.VideoCapture(device)
        if not self._capture.isOpened():
            raise DeviceUnavailableError(f"{self.name} is missing or busy")
        for prop, value in (
            (cv2.CAP_PROP_FRAME_WIDTH, width),
            (cv2.CAP_PROP_FRAME_HEIGHT, height),
            (cv2.CAP_PROP_FPS, fps),
        ):
            if value:
                self._capture.set(prop, value)
        self._t0 = clock()

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        while True:
            ok, image = self._capture.read()
            now = self._clock()
            if not ok or image is None:
                raise DeviceUnavailableError(f"{self.name} stopped delivering frames (unplugged?)")
            yield Frame(image, round((now - self._t0) * 1000), MILLISECONDS, index, now)
            index += 1

    def close(self) -> None:
        self._capture.release()


class UrlSource:
    """rtsp/rtmp/srt/http/udp through PyAV, with open and read timeouts so a silent peer is noticed.
    A network stream that ends or goes silent has dropped: it raises `DeviceUnavailableError`, for
    silence ("URL sent nothing for 5 s") once no data came for `timeout_s` (`URL_TIMEOUT_S`)."""

    live = True

    def __init__(self, url: str, timeout_s: float = URL_TIMEOUT_S, clock: Callable[[], float] = time.monotonic) -> None:
        import av

        self.name = url
        self.timeout_s = timeout_s
        self._clock = clock
        try:
            self._container = av.open(
                url, timeout=(timeout_s, timeout_s), options={"rtsp_transport": "tcp"} if url.startswith("rtsp") else {}
            )
        except av.error.ProtocolNotFoundError as exc:
            raise InvalidInputError(unsupported_protocol(url)) from exc
        except av.error.ExitError as exc:  # the timeout
            raise DeviceUnavailableError(f"{url} sent nothing for {timeout_s:g} s") from exc
        except (av.FFmpegError, OSError) as exc:
            raise DeviceUnavailableError(f"{url} does not answer ({exc})") from exc
        if not self._container.streams.video:
            self._container.close()
            raise InvalidInputError(f"{url} has no video stream")
        self._t0 = clock()

    def __iter__(self) -> Iterator[Frame]:
        import av

        index = 0
        last = self._clock()
        try:
            for vf in self._container.decode(video=0):
                last = now = self._clock()
                yield Frame(vf.to_ndarray(format="bgr24"), round((now - self._t0) * 1000), MILLISECONDS, index, now)
                index += 1
        except (av.FFmpegError, OSError) as exc:
            if isinstance(exc, av.error.ExitError) or self._clock() - last >= self.timeout_s:
                raise DeviceUnavailableError(f"{self.name} sent nothing for {self.timeout_s:g} s") from exc
            raise DeviceUnavailableError(f"{self.name} dropped ({exc})") from exc
        raise DeviceUnavailableError(f"{self.name} ended")

    def close(self) -> None:
        self._container.close()


class Reconnecting:
    """Frames from `open_source()`, opened again whenever it is not there or drops
    (`DeviceUnavailableError`), after waiting `retry_s` with `wait` (default: until `stop` is set,
    at most `retry_s`). `status(text)` hears each change; pts continue from where they were.

    Iteration ends when the source's iteration ends (the stream ended) or `stop` is set. Any other
    error of the source (a `StreamerError` that is not about a device, or a bug) is raised.
    """

    def __init__(
        self,
        open_source: OpenSource,
        status: Callable[[str], None],
        stop: threading.Event,
        retry_s: float = 1.0,
        wait: Callable[[float], object] | None = None,
    ) -> None:
        self._open, self._status, self._stop, self.retry_s = open_source, status, stop, retry_s
        self._wait = wait or stop.wait
        self.reconnects = 0

    def __iter__(self) -> Iterator[Frame]:
        offset_ms = 0
        index = 0
        while not self._stop.is_set():
            try:
                source = self._open()
            except DeviceUnavailableError as exc:
                self._status(f"source unavailable: {exc}; retrying in {self.retry_s:g} s")
                self._wait(self.retry_s)
                continue
            if self.reconnects:
                self._status(f"source back: {source.name}")
            last_ms = offset_ms
            try:
                for frame in source:
                    if self._stop.is_set():
                        return
                    frame.pts = offset_ms + round(float(frame.pts * frame.time_base) * 1000)
                    frame.time_base = MILLISECONDS
                    frame.index = index
                    index += 1
                    last_ms = frame.pts
                    yield frame
                return  # the stream ended
            except DeviceUnavailableError as exc:
                self._status(f"source lost: {exc}; retrying in {self.retry_s:g} s")
            finally:
                source.close()
            offset_ms = last_ms + 1
            self.reconnects += 1
            self._wait(self.retry_s)


def parse_source(
    spec: str, realtime: bool, width: int | None, height: int | None, fps: float | None, loop: bool = False
) -> OpenSource:
    """`--source` text -> a function that opens it: webcam:N, /dev/videoN, a URL, or a file."""
    if m := re.fullmatch(r"webcam:(\d+)", spec):
        return lambda: WebcamSource(int(m.group(1)), width, height, fps)
    if spec.startswith("/dev/video"):
        return lambda: WebcamSource(spec, width, height, fps)
    if re.match(r"^(rtsp|rtsps|rtmp|rtmps|srt|http|https|udp|tcp)://", spec):
        return lambda: UrlSource(spec)
    path = Path(spec)
    if not path.exists():
        raise InvalidInputError(f"source not found: {spec} (use webcam:N, /dev/videoN, a URL, or a file)")
    if not realtime:
        raise InvalidInputError(
            f"{spec} is a file: add --realtime to play it as a live source (or use `streamer stylize` to convert it)"
        )
    return lambda: RealtimeFileSource(path, loop=loop)
