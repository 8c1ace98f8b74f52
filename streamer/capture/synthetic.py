"""A synthetic camera: a still photo's head moved by known similarity transforms over time.

It is the ground truth for tracking tests and the material of the demo: for every frame it knows
exactly where each face's eyes, nose tip and mouth corners are. The photo and the background come
from scikit-image's bundled sample data, so nothing is downloaded.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import cast

import cv2
import numpy as np

from streamer.frame import Frame

# skimage.data.astronaut() (512x512): pupil centres, nose tip, mouth corners, in photo pixels,
# annotated on a 6x zoom of the photo.
ASTRONAUT_POINTS = np.array(
    [[203.5, 101.1], [246.6, 103.5], [223.4, 130.0], [201.8, 139.2], [245.0, 141.0]], np.float64
)
# The head and hair region of that photo, which becomes the moving sprite.
ASTRONAUT_HEAD_BOX = (118, 8, 330, 215)  # x0, y0, x1, y1


@dataclass(frozen=True)
class Motion:
    """Where a face is at time t: centre, scale and rotation, each a constant plus a sinusoid.

    `centre` is in canvas pixels; `scale` multiplies the photo's size; `angle` is in degrees. The
    sinusoids have amplitudes `sway` (px, x and y), `zoom` (fraction) and `tilt` (degrees) and one
    `period` (s). `enter`/`leave` (s) bound when the face is in view.
    """

    centre: tuple[float, float]
    scale: float = 1.0
    angle: float = 0.0
    sway: tuple[float, float] = (0.0, 0.0)
    zoom: float = 0.0
    tilt: float = 0.0
    period: float = 4.0
    enter: float = 0.0
    leave: float = math.inf

    def visible(self, t: float) -> bool:
        return self.enter <= t < self.leave

    def matrix(self, t: float) -> np.ndarray:
        """2x3 matrix taking photo pixels (around the face centre) to canvas pixels at time t."""
        phase = 2 * math.pi * t / self.period
        cx = self.centre[0] + self.sway[0] * math.sin(phase)
        cy = self.centre[1] + self.sway[1] * math.sin(2 * phase)
        s = self.scale * (1 + self.zoom * math.sin(phase))
        a = math.radians(self.angle + self.tilt * math.sin(phase))
        face_centre = ASTRONAUT_POINTS.mean(axis=0)
        linear = s * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        return np.hstack([linear, (np.array([cx, cy]) - linear @ face_centre)[:, None]])


def _astronaut_bgr() -> np.ndarray:
    from streamer import samples as data

    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


def _background_bgr(width: int, height: int) -> np.ndarray:
    from streamer import samples as data

    scene = np.ascontiguousarray(data.coffee()[:, :, ::-1])
    return cv2.resize(scene, (width, height), interpolation=cv2.INTER_AREA)


class SyntheticSource:
    """Frames of `faces` (one `Motion` each) over a background, at `fps` for `duration` seconds.

    `noise` adds Gaussian sensor noise (standard deviation in grey levels) so still frames are not
    bit-identical, as with a real camera. Iterating yields `Frame`s with pts in 1/fps units, as fast
    as they are read (not `live`), and ends after the last one: a `Source`.
    """

    name = "synthetic"
    live = False

    def __init__(
        self,
        faces: list[Motion],
        size: tuple[int, int] = (640, 480),
        fps: int = 30,
        duration: float = 3.0,
        noise: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.faces = faces
        self.width, self.height = size
        self.fps = fps
        self.frame_count = round(duration * fps)
        self.time_base = Fraction(1, fps)
        self.noise = noise
        self._seed = seed
        self._background = _background_bgr(self.width, self.height)
        photo = _astronaut_bgr()
        x0, y0, x1, y1 = ASTRONAUT_HEAD_BOX
        self._sprite = np.zeros_like(photo)
        self._sprite[y0:y1, x0:x1] = photo[y0:y1, x0:x1]
        alpha = np.zeros(photo.shape[:2], np.float32)
        cv2.ellipse(
            alpha, ((x0 + x1) // 2, (y0 + y1) // 2), ((x1 - x0) // 2 - 6, (y1 - y0) // 2 - 6), 0, 0, 360, (1.0,), -1
        )
        self._alpha = cv2.GaussianBlur(alpha, (0, 0), 4)

    def __len__(self) -> int:
        return self.frame_count

    def time(self, index: int) -> float:
        return index / self.fps

    def ground_truth(self, index: int) -> list[np.ndarray | None]:
        """The 5 true points (canvas pixels) of each face at frame `index`; None while out of view."""
        t = self.time(index)
        out: list[np.ndarray | None] = []
        for motion in self.faces:
            if motion.visible(t):
                m = motion.matrix(t)
                out.append(ASTRONAUT_POINTS @ m[:, :2].T + m[:, 2])
            else:
                out.append(None)
        return out

    def render(self, index: int) -> np.ndarray:
        t = self.time(index)
        canvas: np.ndarray = self._background.astype(np.float32)
        size = (self.width, self.height)
        for motion in self.faces:
            if not motion.visible(t):
                continue
            m = motion.matrix(t)
            sprite = cv2.warpAffine(self._sprite, m, size, flags=cv2.INTER_LINEAR).astype(np.float32)
            alpha = cv2.warpAffine(self._alpha, m, size, flags=cv2.INTER_LINEAR)[:, :, None]
            canvas = canvas * (1 - alpha) + sprite * alpha
        if self.noise > 0:
            rng = np.random.default_rng((self._seed, index))
            canvas += rng.normal(0.0, self.noise, canvas.shape).astype(np.float32)
        return np.clip(canvas + 0.5, 0, 255).astype(np.uint8)

    def __iter__(self) -> Iterator[Frame]:
        for index in range(self.frame_count):
            yield Frame(self.render(index), index, self.time_base, index)

    def close(self) -> None:
        """Nothing is held."""


def write_clip(
    path: str | Path,
    images: Iterable[np.ndarray],
    fps: int = 30,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    audio_codec: str | None = "aac",
    tone_hz: float = 440.0,
    pts: Sequence[int] | None = None,
    time_base: Fraction | None = None,
    rotation: int = 0,
    keyframe_every: int | None = None,
) -> None:
    """Encode BGR images into a clip, with a sine tone as its audio track (for demos and tests).

    `pts`/`time_base` give explicit (e.g. variable-rate) timestamps, else frame i is at i/fps.
    `rotation` writes a display matrix (degrees counterclockwise), as phones do. The audio lasts
    as long as the video. `keyframe_every` sets the GOP (the encoder's default otherwise).
    """
    import av

    time_base = time_base or Fraction(1, fps)
    with av.open(str(path), "w") as out:
        video = None
        last_time = 0.0
        for i, image in enumerate(images):
            if video is None:
                video = cast("av.VideoStream", out.add_stream(codec, rate=fps))
                video.height, video.width = image.shape[:2]
                video.pix_fmt = pix_fmt
                if keyframe_every:
                    video.codec_context.gop_size = keyframe_every
                video.time_base = time_base
                video.codec_context.time_base = time_base
                if rotation:
                    video.set_display_rotation(rotation)
                if audio_codec:
                    audio = cast("av.AudioStream", out.add_stream(audio_codec, rate=48000))
                    audio.layout = "stereo"
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = pts[i] if pts is not None else i
            frame.time_base = time_base
            last_time = float(frame.pts * time_base)
            out.mux(video.encode(frame))
        if video is None:
            raise ValueError("write_clip needs at least one image")
        out.mux(video.encode(None))
        if audio_codec:
            _write_tone(out, audio, last_time + 1.0 / fps, tone_hz)


def _write_tone(out, audio, seconds: float, tone_hz: float) -> None:
    import av

    rate = audio.codec_context.sample_rate
    chunk = audio.codec_context.frame_size or 1024
    total = int(seconds * rate)
    for start in range(0, total, chunk):
        n = min(chunk, total - start)
        t = (start + np.arange(n)) / rate
        samples = (0.2 * np.sin(2 * np.pi * tone_hz * t)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(np.stack([samples, samples]), format="fltp", layout="stereo")
        frame.sample_rate = rate
        frame.pts = start
        frame.time_base = Fraction(1, rate)
        out.mux(audio.encode(frame))
    out.mux(audio.encode(None))
