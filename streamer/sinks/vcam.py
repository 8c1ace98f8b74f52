"""`vcam`: a virtual camera that Zoom, Meet and OBS can pick, through pyvirtualcam.

pyvirtualcam drives v4l2loopback on Linux and OBS Virtual Camera (or Unity Capture) on Windows and
macOS. The sink sends at the camera's rate, repeating the newest frame when the pipeline is slower,
since receivers expect a steady camera. The pacing reads `clock` and waits with `wait` (tests pass
a fake clock).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from streamer.errors import DeviceUnavailableError
from streamer.frame import Frame

SETUP_HINT = (
    "no virtual camera found: on Linux run `sudo modprobe v4l2loopback devices=1 exclusive_caps=1 "
    "card_label=streamer`; on Windows or macOS install OBS Studio and start its Virtual Camera once"
)


class VirtualCameraSink:
    """`vcam`: frames to a virtual camera, sent on a pacer thread at the camera's rate.

    `clock` (seconds) times the sends; `wait(seconds)` waits between them and returns True when the
    pacer should stop (by default it waits on the sink's own stop event, set by `close`).
    """

    queue_frames = 1

    def __init__(
        self,
        device: str | None = None,
        backend: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        self.device, self.backend = device, backend
        self.name = "vcam"
        self._camera: Any = None  # a pyvirtualcam.Camera once open
        self._latest: Frame | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._clock = clock
        self._wait = wait or self._stop.wait
        self._pacer: threading.Thread | None = None
        self.error: Exception | None = None

    def open(self, width: int, height: int, fps: float) -> None:
        try:
            import pyvirtualcam
        except ImportError as exc:
            raise DeviceUnavailableError("the vcam output needs pyvirtualcam: pip install 'streamer[live]'") from exc
        try:
            self._camera = pyvirtualcam.Camera(
                width, height, fps, fmt=pyvirtualcam.PixelFormat.BGR, device=self.device, backend=self.backend
            )
        except (RuntimeError, ValueError) as exc:
            raise DeviceUnavailableError(f"{SETUP_HINT} ({str(exc).splitlines()[0]})") from exc
        self.name = f"vcam ({self._camera.device})"
        self._pacer = threading.Thread(target=self._pace, name="vcam pacer", daemon=True)
        self._pacer.start()

    def write(self, frame: Frame) -> None:
        with self._lock:
            self._latest = frame
        if self._pacer is not None and not self._pacer.is_alive():
            raise DeviceUnavailableError(f"the virtual camera stopped ({self.error})")

    def _pace(self) -> None:
        """Send the newest frame once per camera period (nothing before the first); after a stall of
        more than a period, start again from now rather than sending a burst to catch up."""
        period = 1.0 / self._camera.fps
        due = self._clock()
        while not self._stop.is_set():
            with self._lock:
                frame = self._latest
            if frame is not None:
                try:
                    self._camera.send(frame.image)
                except Exception as exc:
                    self.error = exc
                    return
            due += period
            now = self._clock()
            if due < now - period:
                due = now
            if self._wait(max(0.0, due - now)):
                return

    def close(self) -> None:
        self._stop.set()
        if self._pacer is not None:
            self._pacer.join(5)
        if self._camera is not None:
            self._camera.close()
