"""Live outputs: each sink runs on its own thread behind a link that never blocks the pipeline.

A `Sink` opens with the frame size and rate, writes frames, and closes. `SinkWorker` feeds it from
a `DropLink` (latest frame for a screen, camera or stream; a short queue for a recording), records
glass-to-glass latency when each frame is written, and turns a failing sink into one status line
while the other sinks go on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from streamer.errors import InvalidInputError, StreamerError
from streamer.frame import Frame
from streamer.pipeline.links import END, DropLink


class Sink(Protocol):
    name: str
    queue_frames: int  # how many frames may wait for it (1: only the latest)

    def open(self, width: int, height: int, fps: float) -> None: ...

    def write(self, frame: Frame) -> None: ...

    def close(self) -> None: ...


class SinkWorker:
    """Runs one sink. `offer(frame)` never blocks; `latencies` collects (t_written, ms) pairs."""

    def __init__(
        self,
        sink: Sink,
        fps: float,
        status: Callable[[str], None],
        on_written: Callable[[Frame, float], None] | None = None,
    ) -> None:
        self.sink, self.fps, self._status, self._on_written = sink, fps, status, on_written
        self.link = DropLink(sink.queue_frames)
        self.failed: str | None = None
        self.written = 0
        self._opened = False
        self._thread = threading.Thread(target=self._run, name=f"sink {sink.name}", daemon=True)
        self._thread.start()

    def offer(self, frame: Frame) -> None:
        if self.failed is None:
            self.link.put(frame)

    def _run(self) -> None:
        try:
            while (frame := self.link.get(0.1)) is not END:
                if frame is None:
                    continue
                if not self._opened:
                    self.sink.open(frame.width, frame.height, self.fps)
                    self._opened = True
                self.sink.write(frame)
                self.written += 1
                if self._on_written:
                    self._on_written(frame, time.monotonic())
        except (StreamerError, OSError) as exc:
            self.failed = str(exc)
            self._status(f"output {self.sink.name} failed: {exc}; the other outputs go on")
        finally:
            if self._opened:
                try:
                    self.sink.close()
                except (StreamerError, OSError) as exc:
                    self._status(f"output {self.sink.name} did not close cleanly: {exc}")

    def close(self, timeout: float = 30.0) -> None:
        self.link.close()
        self._thread.join(timeout)


class RecordingSink:
    """`file:PATH`: records what goes out, H.264 in a file written whole or not at all. A run that
    ends early (Ctrl-C, the source gone) still closes it into a valid file."""

    queue_frames = 30

    def __init__(self, path: Path) -> None:
        from streamer.sinks.file import CONTAINERS, check_output_path

        check_output_path(path, tuple(CONTAINERS))
        self.path = path
        self.name = f"file:{path}"
        self._sink = None

    def open(self, width: int, height: int, fps: float) -> None:
        from fractions import Fraction

        from streamer.sinks.file import FileSink

        self._sink = FileSink(
            self.path, width, height, Fraction(1, 1000), Fraction(fps).limit_denominator(1000), preset="veryfast"
        )

    def write(self, frame: Frame) -> None:
        ms = round(float(frame.pts * frame.time_base) * 1000)
        self._sink.write(Frame(frame.image, ms, self._sink.time_base, frame.index, frame.t_capture))

    def close(self) -> None:
        if self._sink is not None and self._sink.frames_written:
            self._sink.close()
        elif self._sink is not None:
            self._sink.abort()


def parse_sink(spec: str) -> Sink:
    """`--sink` text -> a sink: vcam, preview, file:PATH, rtmp://..., srt://..."""
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
    raise InvalidInputError(f"unknown sink {spec!r}; use vcam, preview, file:PATH, rtmp://... or srt://...")
