"""`rtmp://...` / `srt://...`: push H.264 to a media server (or OBS) with PyAV, tuned for low latency."""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

from streamer.errors import DeviceUnavailableError, InvalidInputError, unsupported_protocol
from streamer.frame import Frame

if TYPE_CHECKING:
    import av


class StreamSink:
    queue_frames = 1

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = url
        self._container: av.container.OutputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._last_pts = -1

    def open(self, width: int, height: int, fps: float) -> None:
        import av

        fmt = "flv" if self.url.startswith("rtmp") else "mpegts"
        try:
            container = av.open(self.url, "w", format=fmt, timeout=5.0)
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

    def write(self, frame: Frame) -> None:
        import av

        container, stream = self._container, self._stream
        assert container is not None and stream is not None, "write after open"
        image = frame.image[: stream.height, : stream.width]
        vf = av.VideoFrame.from_ndarray(image, format="bgr24")
        vf.pts = max(self._last_pts + 1, round(float(frame.pts * frame.time_base) * 1000))
        vf.time_base = Fraction(1, 1000)
        self._last_pts = vf.pts
        try:
            container.mux(stream.encode(vf))
        except av.error.ProtocolNotFoundError as exc:  # output containers open their URL with the first write
            raise InvalidInputError(unsupported_protocol(self.url)) from exc
        except (av.FFmpegError, OSError) as exc:
            raise DeviceUnavailableError(f"{self.url} went away ({exc})") from exc

    def close(self) -> None:
        import av

        container, stream = self._container, self._stream
        if container is None or stream is None:
            return
        try:
            container.mux(stream.encode(None))
        except (av.FFmpegError, OSError):
            pass
        finally:
            container.close()
