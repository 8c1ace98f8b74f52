"""Write stylized frames to a video file with PyAV, keeping each frame's pts and the input's audio.

Contract:
- The file is written under a temporary name in the output's folder and renamed over the final
  path only by `close()`: the final path never holds a half-written file. `abort()` deletes it.
  `close(partial=True)` (after Ctrl-C) renames the valid, shorter file to NAME.partial.EXT instead.
- Video is H.264 (VP9 for .webm) at the exact frame size. H.264 in 4:2:0 cannot code an odd width
  or height, so odd sizes are written as 4:4:4 (High 4:4:4 profile) at their exact size rather than
  padded or cropped; even sizes use 4:2:0, which every player reads.
- Each frame keeps its input pts in the input's time base (variable frame rate stays variable).
  A pts that does not increase is nudged to last+1 and counted in `fixed_pts`.
- Audio streams are copied packet for packet where the container can hold their codec, and
  transcoded (AAC, or Opus in WebM) where it cannot.
- Joining parts (`streamer batch --segment-seconds`): each part is written as an MP4 holding the
  final container's codec (`video_codec`), its pts shifted to start at 0 (an MP4's edit list keeps
  only a millisecond of a later start). A sink opened with `video_template` (a part's video stream)
  then copies the parts' packets back into place with `write_packet`, with no re-encoding.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import cast

from streamer.errors import InvalidInputError, OutputError
from streamer.frame import Frame

CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}

# Audio codecs each container takes as they are (no re-encoding).
AUDIO_COPYABLE = {
    "mp4": {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"},
    "mov": {"aac", "mp3", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s24le", "pcm_f32le"},
    "matroska": {
        "aac",
        "mp3",
        "opus",
        "vorbis",
        "flac",
        "ac3",
        "eac3",
        "dts",
        "alac",
        "pcm_s16le",
        "pcm_s24le",
        "pcm_f32le",
    },
    "webm": {"opus", "vorbis"},
    "avi": {"mp3", "ac3", "aac", "pcm_s16le"},
}
# The video codec written into each container.
VIDEO_CODECS = {"webm": "libvpx-vp9"}
DEFAULT_VIDEO_CODEC = "libx264"
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


def codec_for(container_format: str) -> str:
    """The video encoder `FileSink` uses for a container format ("mp4", "webm", ...)."""
    return VIDEO_CODECS.get(container_format, DEFAULT_VIDEO_CODEC)


def check_output_path(path: Path, extensions: tuple[str, ...]) -> None:
    """Raise `OutputError` unless `path` has a known extension and its folder is writable."""
    if path.suffix.lower() not in extensions:
        raise OutputError(
            f"unknown output extension {path.suffix or '(none)'!r} for {path.name}; use one of {', '.join(extensions)}"
        )
    folder = path.parent
    if not folder.is_dir():
        raise OutputError(f"output folder does not exist: {folder}")
    if path.is_dir():
        raise OutputError(f"output path is a folder: {path}")
    probe = folder / f".{path.name}.{os.getpid()}.probe"
    try:  # permissions alone do not tell (root, read-only mounts): try it
        probe.touch(exist_ok=False)
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"output folder is not writable: {folder} ({exc.strerror or exc})") from exc


class _Resampler:
    """Converts decoded audio to the encoder's format and rate, with pts counted in samples.

    The first frame's time sets the start (so audio stays in sync with video); after that pts
    advance by the samples produced, which keeps them exact across frame-size changes.
    """

    def __init__(self, resampler, rate: int) -> None:
        self._resampler = resampler
        self._rate = rate
        self._next_pts: int | None = None

    def resample(self, frame):
        if frame is not None and self._next_pts is None and frame.pts is not None:
            self._next_pts = round(frame.pts * frame.time_base * self._rate)
        out = self._resampler.resample(frame)
        for f in out:
            f.pts = self._next_pts or 0
            f.time_base = Fraction(1, self._rate)
            self._next_pts = f.pts + f.samples
        return out


@dataclass
class AudioPlan:
    """What happens to one input audio stream: copied as is, or transcoded to `codec`."""

    codec: str
    copied: bool


class FileSink:
    """See the module docstring. Open with the first frame's size; call `close()` or `abort()`."""

    def __init__(
        self,
        path: str | Path,
        width: int,
        height: int,
        time_base: Fraction,
        rate: Fraction | None = None,
        audio_streams: list | None = None,
        crf: int = 18,
        preset: str = "veryfast",
        video_codec: str | None = None,
        video_template=None,
    ) -> None:
        import av

        self.path = Path(path)
        check_output_path(self.path, tuple(CONTAINERS))
        if not 0 <= crf <= 51:
            raise InvalidInputError(f"--crf must be between 0 and 51, got {crf}")
        if preset not in X264_PRESETS:
            raise InvalidInputError(f"unknown --preset {preset!r}; use one of {', '.join(X264_PRESETS)}")
        self.format = CONTAINERS[self.path.suffix.lower()]
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self.width, self.height = width, height
        self.time_base = time_base
        self.fixed_pts = 0
        self.frames_written = 0
        self._last_pts: int | None = None
        options = {"movflags": "+faststart"} if self.format in ("mp4", "mov") else {}
        try:
            self._container = av.open(str(self._tmp), "w", format=self.format, options=options)
        except OSError as exc:
            raise OutputError(f"cannot create {self.path}: {exc.strerror or exc}") from exc
        self._copying = video_template is not None
        try:
            if video_template is not None:
                self._video = self._container.add_stream_from_template(video_template)
                self._video.time_base = self.time_base
                self.pix_fmt = video_template.codec_context.pix_fmt
                self.video_codec = video_template.codec_context.name
            else:
                self._video = self._add_video(rate, crf, preset, video_codec or codec_for(self.format))
            self.audio_plans: list[AudioPlan] = []
            self._audio: dict[int, tuple] = {}
            for stream in audio_streams or []:
                self._add_audio(stream)
        except Exception:
            self.abort()
            raise

    def _add_video(self, rate: Fraction | None, crf: int, preset: str, codec: str):
        odd = self.width % 2 or self.height % 2
        if codec == "libvpx-vp9":
            stream = self._container.add_stream("libvpx-vp9", rate=rate)
            stream.pix_fmt = "yuv420p"
            speed = str(max(1, 8 - X264_PRESETS.index(preset)))  # x264 preset -> libvpx cpu-used
            stream.options = {"crf": str(crf + 13), "b": "0", "deadline": "realtime", "cpu-used": speed, "row-mt": "1"}
        else:
            stream = self._container.add_stream("libx264", rate=rate)
            stream.pix_fmt = "yuv444p" if odd else "yuv420p"
            stream.options = {"crf": str(crf), "preset": preset}
        stream.width, stream.height = self.width, self.height
        stream.time_base = self.time_base
        stream.codec_context.time_base = self.time_base
        self.pix_fmt = stream.pix_fmt
        self.video_codec = stream.codec_context.name
        return stream

    def _add_audio(self, source_stream) -> None:
        import av

        name = source_stream.codec_context.codec.canonical_name  # "mp3", not the decoder's "mp3float"
        if name in AUDIO_COPYABLE[self.format]:
            out = self._container.add_stream_from_template(source_stream)
            self._audio[source_stream.index] = (out, None, None)
            self.audio_plans.append(AudioPlan(name, copied=True))
            return
        codec = "libopus" if self.format == "webm" else "aac"
        rate = 48000 if codec == "libopus" else (source_stream.codec_context.sample_rate or 48000)
        out = cast("av.AudioStream", self._container.add_stream(codec, rate=rate))
        out.layout = source_stream.codec_context.layout.name if source_stream.codec_context.layout else "stereo"
        resampler = _Resampler(av.AudioResampler(format=out.codec_context.format, layout=out.layout, rate=rate), rate)
        self._audio[source_stream.index] = (out, source_stream.codec_context, resampler)
        self.audio_plans.append(AudioPlan("opus" if codec == "libopus" else codec, copied=False))

    def write(self, frame: Frame) -> None:
        """Encode one frame (HxWx3 BGR, the size given at open) at its own pts."""
        import av

        t0 = time.perf_counter()
        if frame.image.shape[:2] != (self.height, self.width):
            raise InvalidInputError(
                f"frame {frame.index} is {frame.width}x{frame.height}, the output is {self.width}x{self.height}"
            )
        pts = frame.pts
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1
            self.fixed_pts += 1
        self._last_pts = pts
        vf = av.VideoFrame.from_ndarray(frame.image, format="bgr24")
        vf.pts = pts
        vf.time_base = self.time_base
        self._mux(self._video.encode(vf))
        self.frames_written += 1
        frame.stage_ms["encode"] = (time.perf_counter() - t0) * 1000.0

    def write_packet(self, packet, pts_offset: Fraction = Fraction(0)) -> None:
        """Copy one encoded video packet of a part (opened with `video_template`), its pts and dts
        moved later by `pts_offset` seconds."""
        if packet.pts is not None:
            shift = round(pts_offset / packet.time_base)
            packet.pts += shift
            if packet.dts is not None:
                packet.dts += shift
        packet.stream = self._video
        self._mux([packet])
        self.frames_written += 1

    def write_audio(self, packet) -> None:
        """Copy or transcode one input audio packet (from one of the streams given at open)."""
        entry = self._audio.get(packet.stream.index)
        if entry is None:
            return
        out, decoder, resampler = entry
        if decoder is None:
            packet.stream = out
            self._mux([packet])
            return
        for frame in decoder.decode(packet):
            for resampled in resampler.resample(frame):
                self._mux(out.encode(resampled))

    def _mux(self, packets) -> None:
        try:
            self._container.mux(packets)
        except OSError as exc:
            raise OutputError(f"cannot write {self.path.name}: {exc.strerror or exc}") from exc

    def _flush(self) -> None:
        if not self._copying:
            self._mux(self._video.encode(None))
        for out, decoder, resampler in self._audio.values():
            if decoder is not None:
                for resampled in resampler.resample(None):
                    self._mux(out.encode(resampled))
                self._mux(out.encode(None))

    def close(self, partial: bool = False) -> Path:
        """Finish the file and move it into place; returns where it went.

        With `partial=True` the file goes to NAME.partial.EXT, so a shorter recording is never
        mistaken for the complete one. A file with no frame is deleted, and `OutputError` raised.
        """
        if self.frames_written == 0:
            self.abort()
            raise OutputError(f"no frame was written; {self.path.name} was not created")
        try:
            self._flush()
            self._container.close()
        except Exception:
            self.abort()
            raise
        target = self.path.with_name(f"{self.path.stem}.partial{self.path.suffix}") if partial else self.path
        os.replace(self._tmp, target)
        return target

    def abort(self) -> None:
        """Stop and delete the temporary file; nothing is left at the output path."""
        with contextlib.suppress(Exception):
            self._container.close()
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()
