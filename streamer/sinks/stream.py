"""`rtmp://...` / `srt://...`: push H.264 to a media server (or OBS) with PyAV, tuned for low latency."""

from __future__ import annotations

from fractions import Fraction

from streamer.errors import DeviceUnavailableError
from streamer.frame import Frame


class StreamSink:
    queue_frames = 1

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = url
        self._container = None
        self._stream = None
        self._last_pts = -1

    def open(self, width: int, height: int, fps: float) -> None:
        import av

        fmt = "flv" if self.url.startswith("rtmp") else "mpegts"
        try:
            self._container = av.open(self.url, "w", format=fmt, timeout=5.0)
        except (av.FFmpegError, OSError) as exc:
            raise DeviceUnavailableError(f"cannot reach {self.url} ({exc})") from exc
        self._stream = self._container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        self._stream.width, self._stream.height = width - width % 2, height - height % 2
        self._stream.pix_fmt = "yuv420p"
        self._stream.time_base = Fraction(1, 1000)
        self._stream.codec_context.time_base = Fraction(1, 1000)
        self._stream.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(max(1, round(2 * fps)))}

    def write(self, frame: Frame) -> None:
        import av

        image = frame.image[: self._stream.height, : self._stream.width]
        vf = av.VideoFrame.from_ndarray(image, format="bgr24")
        vf.pts = max(self._last_pts + 1, round(float(frame.pts * frame.time_base) * 1000))
        vf.time_base = Fraction(1, 1000)
        self._last_pts = vf.pts
        try:
            self._container.mux(self._stream.encode(vf))
        except (av.FFmpegError, OSError) as exc:
            raise DeviceUnavailableError(f"{self.url} went away ({exc})") from exc

    def close(self) -> None:
        import av

        try:
            self._container.mux(self._stream.encode(None))
        except (av.FFmpegError, OSError):
            pass
        finally:
            self._container.close()
