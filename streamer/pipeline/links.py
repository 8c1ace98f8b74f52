"""Links between pipeline stages. Every link is bounded and states what it does when full.

`LosslessLink` (files): a bounded FIFO; a full link makes the producer wait, nothing is dropped.
Waits poll a `threading.Event` so a stopping pipeline never hangs on a full or empty link; the
producer puts `END` after the last item.

`DropLink` (live): `put` never waits; a full link drops its oldest item and counts it. Closing it
ends the stream: once drained, `get` raises `LinkClosed` and iteration ends.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Iterator
from typing import Any

END = object()  # marks the end of a stream
_POLL_S = 0.05


class LinkClosed(Exception):
    """The pipeline is stopping, or the stream has ended: the stage should return."""


class LosslessLink:
    """Bounded FIFO between two threads. `put` blocks while full; `get` returns END at the end."""

    def __init__(self, capacity: int, stop: threading.Event) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=capacity)
        self._stop = stop
        self.capacity = capacity

    def put(self, item: Any) -> None:
        while True:
            if self._stop.is_set():
                raise LinkClosed
            try:
                self._queue.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def get(self) -> Any:
        while True:
            try:
                return self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                if self._stop.is_set():
                    raise LinkClosed from None

    def close(self) -> None:
        """Signal the end of the stream to the consumer (waits for room, like `put`)."""
        self.put(END)

    def __len__(self) -> int:
        return self._queue.qsize()


class DropLink:
    """Bounded link for live streams: `put` never blocks; when full, the oldest item is dropped
    and counted. With capacity 1 it keeps only the latest frame.

    `get(timeout)` returns None when nothing arrived in time, and raises `LinkClosed` once the link
    is closed and empty; iterating yields every item that comes through until then.
    """

    def __init__(self, capacity: int = 1) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._items: deque[Any] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0
        self.passed = 0

    def put(self, item: Any) -> None:
        with self._cond:
            if self._closed:
                return
            if len(self._items) >= self.capacity:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._cond.notify()

    def get(self, timeout: float | None = None) -> Any:
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if self._items:
                self.passed += 1
                return self._items.popleft()
            if self._closed:
                raise LinkClosed
            return None

    def __iter__(self) -> Iterator[Any]:
        while True:
            try:
                item = self.get(None)
            except LinkClosed:
                return
            if item is not None:
                yield item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
