"""`SinkWorker`: one live `Sink` on its own thread, behind a link that never blocks the pipeline.

The link keeps the latest frame for a screen, camera or stream, a short queue for a recording
(`Sink.queue_frames`), and counts what it drops. The worker opens the sink with the first frame's
size, reports each frame written (for glass-to-glass latency, on the pipeline's clock), and turns a
sink that raises, whatever it raises, into one status line while the other sinks go on (a full
disk: the line says what the recording kept). A failed sink is closed quietly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from streamer.errors import StreamerError
from streamer.frame import Frame
from streamer.pipeline.links import DropLink
from streamer.sinks.base import Sink
from streamer.sinks.file import DiskFullError
from streamer.sinks.live import RecordingSink

log = logging.getLogger("streamer")


def _reason(exc: BaseException) -> str:
    """One line for a status: the whole sentence of an error we expect (a device, a disk), else its
    type and the first line of its message."""
    lines = str(exc).strip().splitlines()
    if isinstance(exc, (StreamerError, OSError)) and lines:
        return lines[0]
    text = lines[0][:160] if lines else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class SinkWorker:
    """Runs one sink. `offer(frame)` never blocks; `on_written(frame, t)` hears each frame written,
    `t` read from `clock` right after the write.

    A sink that raises anything while opening or writing is failed: `failed` holds the reason, one
    status line says so, the traceback is logged once (logger "streamer"; at DEBUG for the device
    and disk errors a user can act on, at ERROR for anything else), and nothing more is offered to
    it. With `thread` False the worker starts no thread and `offer` writes at once on the caller's
    thread (a pipeline stepped frame by frame on a fake clock).
    """

    def __init__(
        self,
        sink: Sink,
        fps: float,
        status: Callable[[str], None],
        on_written: Callable[[Frame, float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        thread: bool = True,
    ) -> None:
        self.sink, self.fps, self._status, self._on_written, self._clock = sink, fps, status, on_written, clock
        self.link = DropLink(sink.queue_frames)
        self.failed: str | None = None
        self.written = 0
        self._opened = False
        self._partial = False
        self._thread: threading.Thread | None = None
        if thread:
            self._thread = threading.Thread(target=self._run, name=f"sink {sink.name}", daemon=True)
            self._thread.start()

    def offer(self, frame: Frame) -> None:
        if self.failed is not None:
            return
        if self._thread is None:
            self._write(frame)
        else:
            self.link.put(frame)

    def _run(self) -> None:
        for frame in self.link:
            if not self._write(frame):
                break
        self._close_sink()

    def _write(self, frame: Frame) -> bool:
        try:
            if not self._opened:
                self.sink.open(frame.width, frame.height, self.fps)
                self._opened = True
            self.sink.write(frame)
        except Exception as exc:
            self.failed = _reason(exc)
            self.link.close()
            # A device or disk error is expected and its sentence says it all; anything else is a bug.
            expected = isinstance(exc, (StreamerError, OSError))
            log.log(logging.DEBUG if expected else logging.ERROR, "output %s failed", self.sink.name, exc_info=exc)
            if isinstance(exc, DiskFullError):  # the recording was kept: the line says what of it
                self._status(f"output {self.sink.name}: {self.failed}; the other outputs go on")
            else:
                self._status(f"output {self.sink.name} failed: {self.failed}; the other outputs go on")
            return False
        self.written += 1
        if self._on_written:
            self._on_written(frame, self._clock())
        return True

    def _close_sink(self) -> None:
        if not self._opened:
            return
        self._opened = False
        try:
            if self._partial and isinstance(self.sink, RecordingSink):
                self.sink.close(partial=True)
            else:
                self.sink.close()
        except Exception as exc:
            if self.failed is not None:  # its status line was said; a peer gone fails its close too
                log.debug("output %s did not close cleanly", self.sink.name, exc_info=exc)
                return
            log.error("output %s did not close cleanly", self.sink.name, exc_info=exc)
            self._status(f"output {self.sink.name} did not close cleanly: {_reason(exc)}")

    def close(self, timeout: float = 30.0, partial: bool = False) -> None:
        """Write what is still queued (a recording's last frames), then close the sink; with
        `partial` (a run cut short) a recording is kept as NAME.partial.EXT. Waits at most `timeout`
        for the sink's thread."""
        self._partial = partial
        self.link.close()
        if self._thread is not None:
            self._thread.join(timeout)
        else:
            self._close_sink()
