"""`preview`: an OpenCV window with the live stats overlaid, and keys to steer the run.

Keys: s next style, b background on/off, o overlay on/off, + / - strength, q or Esc quit.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import cv2
import numpy as np

from streamer.errors import DeviceUnavailableError
from streamer.frame import Frame

WINDOW = "streamer"
KEYS = {
    "s": "next style",
    "b": "toggle background",
    "o": "toggle overlay",
    "+": "stronger",
    "=": "stronger",
    "-": "weaker",
    "q": "quit",
    "\x1b": "quit",
}


def apply_key(key: int, controls) -> str | None:
    """Carry out the action bound to `key` (a cv2.waitKey code) on `controls`; returns its name."""
    if key < 0:
        return None
    action = KEYS.get(chr(key & 0xFF))
    if action == "next style":
        controls.next_style()
    elif action == "toggle background":
        controls.toggle_background()
    elif action == "toggle overlay":
        controls.overlay = not controls.overlay
    elif action in ("stronger", "weaker"):
        controls.set_strength(controls.strength + (0.1 if action == "stronger" else -0.1))
    elif action == "quit":
        controls.quit.set()
    return action


def overlay_lines(stats: dict | None, controls) -> list[str]:
    """The overlay's text: the same figures as the stats lines."""
    lines = [
        f"style {controls.style}  strength {controls.strength:.1f}  background {'on' if controls.background else 'off'}"
    ]
    if stats:
        lines.append(
            f"in {stats['fps_in']} fps  out {stats['fps_out']} fps  faces {stats['faces']}  level {stats['level']}"
        )
        lines.append(
            f"latency p50 {stats['latency_ms_p50']} ms  p99 {stats['latency_ms_p99']} ms  dropped {stats['dropped']}"
        )
    return lines


def draw_overlay(image: np.ndarray, lines: list[str]) -> np.ndarray:
    out = image.copy()
    for i, line in enumerate(lines):
        y = 22 + 20 * i
        cv2.putText(out, line, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(out, line, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


class PreviewSink:
    name = "preview"
    queue_frames = 1

    def __init__(self) -> None:
        self._controls = None
        self._stats: Callable[[], dict | None] = lambda: None

    def attach(self, controls, stats: Callable[[], dict | None]) -> None:
        self._controls, self._stats = controls, stats

    def open(self, width: int, height: int, fps: float) -> None:
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise DeviceUnavailableError("the preview window needs a display (DISPLAY is not set)")
        try:
            cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
        except cv2.error as exc:
            raise DeviceUnavailableError(f"cannot open the preview window: {exc}") from exc

    def write(self, frame: Frame) -> None:
        image = frame.image
        if self._controls is not None and self._controls.overlay:
            image = draw_overlay(image, overlay_lines(self._stats(), self._controls))
        cv2.imshow(WINDOW, image)
        key = cv2.waitKey(1)
        if self._controls is not None:
            apply_key(key, self._controls)

    def close(self) -> None:
        cv2.destroyWindow(WINDOW)
