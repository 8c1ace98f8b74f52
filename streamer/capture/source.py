"""`Source`: what a live pipeline reads frames from, and the one way a stream ends.

A source is an iterable of `Frame`s stamped with their capture time (`Frame.t_capture`, on the
pipeline's clock), with a `name` for status lines and a `close()`. As with aiortc's
`MediaStreamTrack`, whose `recv()` raises `MediaStreamError` when, and only when, the track has
ended, a source has one end-of-stream rule:

- iteration ends (the iterator returns): the stream has ended for good (a file played in real
  time, a browser's track that ended, a synthetic clip). Nothing is reopened.
- iteration raises `DeviceUnavailableError`: the source dropped (a camera unplugged, a network
  stream that went silent or stopped). `Reconnecting` reports it and opens the source again.
  Opening one that is not there (yet) raises the same error.

Any other error is not the end of a stream: a `StreamerError` ends the run with its sentence as a
status line, anything else is a bug (logged with its traceback).

`live` says how frames arrive, not how the stream ends: True when they come at the pace of the
world (a camera, a network stream, a file played in real time), so a consumer that falls behind
keeps only the newest; False when they come as fast as they are read (a synthetic clip).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol, runtime_checkable

from streamer.frame import Frame


@runtime_checkable
class Source(Protocol):
    name: str
    live: bool

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


OpenSource = Callable[[], Source]
"""Opens a source (again, after it dropped); raises `DeviceUnavailableError` when it is not there."""
