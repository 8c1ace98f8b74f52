"""Recorded files through PyAV: video frames with their own pts, audio packets kept for the sink.

Iterating a `FileSource` yields, in file order, `Frame`s (decoded, rotated upright) and audio
`av.Packet`s (untouched, for the sink to copy). Frames keep the stream's pts and time base, so
variable frame rate stays variable. Damaged data is skipped and counted, never fatal: what decodes
is delivered; `lost_frames` counts frames that did not decode, `damaged_frames` those that decoded
with errors (they are delivered as decoded).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import numpy as np

from streamer.errors import InvalidInputError
from streamer.frame import Frame

# Consecutive unreadable stretches after which the rest of a file is taken as lost.
MAX_DEMUX_ERRORS = 100


def check_input_path(path: Path) -> None:
    """Raise `InvalidInputError` unless `path` is an existing, readable, non-empty file."""
    if not path.exists():
        raise InvalidInputError(f"input not found: {path}")
    if not path.is_file():
        raise InvalidInputError(f"input is not a file: {path}")
    if path.stat().st_size == 0:
        raise InvalidInputError(f"input is empty (0 bytes): {path}")


def _upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a display-matrix rotation (degrees counterclockwise, as PyAV reports it)."""
    quarter_turns = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(image, quarter_turns)) if quarter_turns else image


class FileSource:
    """A video file opened for decoding. Use as a context manager; iterate once.

    Frames come out upright (display-matrix rotation applied), so their size can differ from the
    stream's coded size; take the output size from the first frame.

    `start_pts` (in the video stream's time base) starts reading at the last keyframe at or before
    it, for reading part of a file (`streamer batch --segment-seconds`); frames before it may come out
    too, and the caller skips what it does not need.
    """

    def __init__(self, path: str | Path, start_pts: int | None = None) -> None:
        import av

        self.path = Path(path)
        check_input_path(self.path)
        try:
            self._container = av.open(str(self.path), metadata_errors="ignore")
        except av.FFmpegError as exc:
            raise InvalidInputError(
                f"cannot read {self.path.name}: not a media file, or damaged ({exc.strerror})"
            ) from exc
        if not self._container.streams.video:
            audio_only = bool(self._container.streams.audio)
            self._container.close()  # (PyAV's stream objects must not be touched after this)
            if audio_only:
                raise InvalidInputError(f"{self.path.name} has no video stream (audio only)")
            raise InvalidInputError(f"cannot read {self.path.name}: not a video file")
        self.video = self._container.streams.video[0]
        self.video.thread_type = "AUTO"
        self.audio_streams = list(self._container.streams.audio)
        ctx = self.video.codec_context
        if ctx is None:  # PyAV has no decoder for the codec the header names
            self._container.close()
            raise InvalidInputError(f"{self.path.name}: its video codec is unknown (unsupported, or a damaged header)")
        if not ctx.width or not ctx.height:
            self._container.close()
            raise InvalidInputError(f"{self.path.name}: its video stream has no picture size (damaged header)")
        self.time_base: Fraction = self.video.time_base or Fraction(1, 90000)
        self.rate: Fraction | None = self.video.average_rate or self.video.guessed_rate
        self.lost_frames = 0
        self.damaged_frames = 0
        self.decoded_frames = 0
        self.start_pts = start_pts

    @property
    def expected_frames(self) -> int:
        """Frame count the header promises, else an estimate from its duration; 0 if unknown."""
        if self.video.frames:
            return int(self.video.frames)
        if self.video.duration and self.rate:
            return round(float(self.video.duration * self.time_base * self.rate))
        if self._container.duration and self.rate:
            return round(self._container.duration / 1_000_000 * float(self.rate))
        return 0

    def _count_missing(self, end_time: float) -> None:
        """Count frames lost to truncation: the decoded frames end before the stream says it does.

        Only a short ending counts (a header's frame count alone is not trusted: AVI, for one,
        counts the empty entries it writes for skipped frames).
        """
        tb = self.time_base
        duration = float(self.video.duration * tb) if self.video.duration else (self._container.duration or 0) / 1e6
        frame_s = 1 / float(self.rate) if self.rate else 0.04
        if not duration or end_time >= duration - 2 * frame_s:
            return
        if self.start_pts is None:
            self.lost_frames += max(0, self.expected_frames - self.decoded_frames - self.lost_frames)
        else:  # read from the middle: only the time missing at the end tells
            self.lost_frames += round((duration - end_time) / frame_s)

    def __iter__(self) -> Iterator[Frame | object]:
        import av

        last_pts: int | None = None
        step = round(1 / (self.rate * self.time_base)) if self.rate else 1
        streams = [self.video, *self.audio_streams]
        if self.start_pts is not None:
            try:
                self._container.seek(self.start_pts, stream=self.video, backward=True)
            except av.FFmpegError as exc:
                raise InvalidInputError(f"cannot seek in {self.path.name} ({exc.strerror})") from exc
        packets = self._container.demux(streams)
        demux_errors = 0
        while True:
            t0 = time.perf_counter()
            try:
                packet = next(packets)
            except StopIteration:
                break
            except (av.FFmpegError, OSError):
                # Damaged container data: resume reading after it; give up if nothing follows.
                demux_errors += 1
                if demux_errors > MAX_DEMUX_ERRORS:
                    break
                packets = self._container.demux(streams)
                continue
            demux_errors = 0
            if packet.stream.type == "audio":
                if packet.dts is not None and packet.size:
                    yield packet
                continue
            try:
                frames = cast("list[av.VideoFrame]", packet.decode())
            except (av.FFmpegError, ValueError):
                self.lost_frames += 1
                continue
            for vf in frames:
                if vf.is_corrupt:
                    self.damaged_frames += 1
                pts = vf.pts if vf.pts is not None else (0 if last_pts is None else last_pts + step)
                image = _upright(vf.to_ndarray(format="bgr24"), int(vf.rotation or 0))
                last_pts = pts
                frame = Frame(image, pts, self.time_base, self.decoded_frames)
                frame.stage_ms["decode"] = (time.perf_counter() - t0) * 1000.0
                self.decoded_frames += 1
                yield frame
                t0 = time.perf_counter()
        start = float(self.video.start_time * self.time_base) if self.video.start_time else 0.0
        end = float((last_pts + step) * self.time_base) - start if last_pts is not None else 0.0
        self._count_missing(end)

    def audio_packets(self) -> Iterator[Any]:
        """Only the audio packets, in file order, as iterating yields them (for joining parts)."""
        if self.audio_streams:
            for packet in self._container.demux(self.audio_streams):
                if packet.dts is not None and packet.size:
                    yield packet

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> FileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
