"""aiortc tracks and the bridge between them and a `LivePipeline` thread.

- `IncomingVideo`: reads a peer's video track promptly (aiortc's receive queue has no bound) and
  keeps only the newest frame for the pipeline, counting what it drops; `last_frame_at` says when
  the last one came (the server's watchdog closes a peer that went silent). A `Source`: its
  iteration ends when the peer's track ends (or the session stops it), which ends the session's
  stream.
- `ForwardVideoTrack`: what a peer receives; stamps its own monotonic pts (90 kHz), so the stream
  stays consistent when its producer changes (a participant leaves and rejoins).
- `ForwardAudioTrack`: relays another peer's audio untouched except for timing: each frame is held
  back by the measured video latency, so lips and voice stay in sync; pts are its own sample count.

Each takes the clock it stamps with (and the audio track the sleep it waits with), so tests can
run them on a fake clock.
"""

from __future__ import annotations

import asyncio
import collections
import fractions
import time
from collections.abc import Awaitable, Callable, Iterator

import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from streamer.frame import Frame
from streamer.pipeline.links import DropLink

VIDEO_CLOCK = 90_000
MAX_AUDIO_BACKLOG_S = 2.0


class IncomingVideo:
    """A live `Source` (for `LivePipeline`) fed by an aiortc track. `start()`, on the event loop,
    begins reading; frames are stamped with `clock` as they arrive."""

    live = True
    name = "browser camera"

    def __init__(self, track: MediaStreamTrack, clock: Callable[[], float] = time.monotonic) -> None:
        self.track = track
        self.link = DropLink(1)
        self._clock = clock
        self._task: asyncio.Task | None = None
        self.last_frame_at: float | None = None  # `clock` when the newest frame came; None before the first

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            while True:
                frame = await self.track.recv()
                self.last_frame_at = received = self._clock()
                self.link.put((frame, received))
        except MediaStreamError:
            pass  # the peer's track ended
        finally:
            self.link.close()

    def __iter__(self) -> Iterator[Frame]:
        for index, (av_frame, received) in enumerate(self.link):
            image = av_frame.to_ndarray(format="bgr24")
            pts = av_frame.pts if av_frame.pts is not None else index
            time_base = av_frame.time_base or fractions.Fraction(1, VIDEO_CLOCK)
            yield Frame(image, pts, time_base, index, received)

    def close(self) -> None:
        """The reader stops with the peer's track."""

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self.link.close()


class ForwardVideoTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self._latest: np.ndarray | None = None
        self._fresh = asyncio.Event()
        self._start: float | None = None
        self._last_pts = -1

    def put(self, image: np.ndarray) -> None:
        """Called on the event loop: the newest image to send (older unsent ones are replaced)."""
        self._latest = image
        self._fresh.set()

    async def recv(self):
        import av

        await self._fresh.wait()
        self._fresh.clear()
        image = self._latest
        now = self._clock()
        if self._start is None:
            self._start = now
        frame = av.VideoFrame.from_ndarray(image, format="bgr24")
        frame.pts = max(self._last_pts + 1, int((now - self._start) * VIDEO_CLOCK))
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self._last_pts = frame.pts
        return frame


class ForwardAudioTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        super().__init__()
        self._clock, self._sleep = clock, sleep
        self._queue: collections.deque = collections.deque()
        self._ready = asyncio.Event()
        self._samples = 0

    def put(self, frame, delay_s: float) -> None:
        """Called on the event loop: relay `frame` no earlier than `delay_s` from now."""
        self._queue.append((self._clock() + delay_s, frame))
        while self._queue and self._queue[-1][0] - self._queue[0][0] > MAX_AUDIO_BACKLOG_S:
            self._queue.popleft()  # never hold more than a bounded backlog
        self._ready.set()

    async def recv(self):
        while not self._queue:
            self._ready.clear()
            await self._ready.wait()
        release, frame = self._queue.popleft()
        wait = release - self._clock()
        if wait > 0:
            await self._sleep(wait)
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, frame.sample_rate)
        self._samples += frame.samples
        return frame
