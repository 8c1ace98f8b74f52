"""Live outputs by name (`--sink`): vcam, preview, file:PATH, rtmp://..., srt://..., null

Each is a `Sink` (see `streamer.sinks.base`); the live pipeline runs each on its own thread behind
a link that never blocks it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from streamer.errors import InvalidInputError
from streamer.frame import Frame
from streamer.sinks.base import Sink

if TYPE_CHECKING:
    from streamer.sinks.file import FileSink


class RecordingSink:
    """`file:PATH`: records what goes out, H.264 in a file written whole or not at all. A run that
    ends early (Ctrl-C, the source gone) still closes it into a valid file; `close(partial=True)`
    names it NAME.partial.EXT (a run cut short before its end). A disk that fills ends the recording
    valid as NAME.partial.EXT (`DiskFullError` from `write` says what was kept). `saved` is where
    the file went, once closed (None: no file)."""

    queue_frames = 30

    def __init__(self, path: Path) -> None:
        from streamer.sinks.file import CONTAINERS, check_output_path

        check_output_path(path, tuple(CONTAINERS))
        self.path = path
        self.name = f"file:{path}"
        self._sink: FileSink | None = None
        self.saved: Path | None = None

    def open(self, width: int, height: int, fps: float) -> None:
        from fractions import Fraction

        from streamer.sinks.file import FileSink

        self._sink = FileSink(
            self.path, width, height, Fraction(1, 1000), Fraction(fps).limit_denominator(1000), preset="veryfast"
        )

    def write(self, frame: Frame) -> None:
        sink = self._sink
        assert sink is not None, "write after open"
        ms = round(float(frame.pts * frame.time_base) * 1000)
        sink.write(Frame(frame.image, ms, sink.time_base, frame.index, frame.t_capture))

    def close(self, partial: bool = False) -> None:
        sink, self._sink = self._sink, None
        if sink is not None and sink.frames_written:
            self.saved = sink.close(partial=partial)
        elif sink is not None:
            sink.abort()


def parse_sink(spec: str) -> Sink:
    """`--sink` text -> a sink: vcam, preview, file:PATH, rtmp://..., srt://..., null (discards frames)."""
    if spec == "vcam" or spec.startswith("vcam:"):
        from streamer.sinks.vcam import VirtualCameraSink

        return VirtualCameraSink(device=spec[5:] or None)
    if spec == "preview":
        from streamer.sinks.preview import PreviewSink

        return PreviewSink()
    if spec.startswith("file:"):
        return RecordingSink(Path(spec[5:]))
    if spec.startswith(("rtmp://", "rtmps://", "srt://")):
        from streamer.sinks.stream import StreamSink

        return StreamSink(spec)
    if spec == "null":
        from streamer.sinks.null import NullSink

        return NullSink()
    raise InvalidInputError(f"unknown sink {spec!r}; use vcam, preview, file:PATH, rtmp://..., srt://... or null")
