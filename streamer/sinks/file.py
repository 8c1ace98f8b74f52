"""Write stylized frames to a video file with PyAV, keeping each frame's pts and the input's audio.

Contract:
- The file is written under a temporary name in the output's folder and renamed over the final
  path only by `close()`: the final path never holds a half-written file. `abort()` deletes it.
  `close(partial=True)` (after Ctrl-C) renames the valid, shorter file to NAME.partial.EXT instead.
- A full disk does not lose the file: room for its end (the index, the trailer, +faststart's
  rewrite) is held in a reserve file beside it, grown with the index and freed when a write finds
  the disk full (ENOSPC, or a quota). The write is retried into that room and nothing more goes in
  but the frames still in the encoder that show before the last one written (B-frames: the file
  has no hole at its end). The file is closed valid up to its last complete frame as
  NAME.partial.EXT, and `DiskFullError` says what was kept.
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
import errno
import os
import shutil
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

# Room held beside a file for its end, should the disk fill: a fixed part (the muxer's write buffer,
# the index's headers, packets waiting to be interleaved, a Matroska cluster being built) and a
# part per packet (its index entries: size, offset, time, keyframe; 32 bytes is above what MP4,
# Matroska or AVI take). +faststart moves the data up by the index's size, which the per-packet
# part covers. The reserve grows in steps as packets are written.
RESERVE_BASE_BYTES = 1 << 20
MKV_CLUSTER_BYTES = 256 << 10  # Matroska's default (5 MiB) would not fit the reserve
RESERVE_PER_PACKET_BYTES = 32
RESERVE_STEP_BYTES = 256 << 10
NO_ROOM = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


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


class DiskFullError(OutputError):
    """The disk filled while writing `path`. The file was closed valid up to its last complete frame
    and kept at `kept` (NAME.partial.EXT), or nothing could be kept (`kept` is None)."""

    def __init__(self, path: Path, kept: Path | None, frames: int = 0, seconds: float = 0.0) -> None:
        self.path, self.kept, self.frames, self.seconds = path, kept, frames, seconds
        if kept is None:
            super().__init__(f"the disk is full; {path.name} was not written")
        else:
            frames_text = f"{frames} frame{'s' * (frames != 1)}"
            super().__init__(f"the disk is full; kept the first {seconds:.1f} s ({frames_text}) as {kept.name}")


class _Reserve:
    """Disk space held in a file of its own, to be given back when the disk is full."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o600)

    def grow(self, size: int) -> bool:
        """Hold at least `size` bytes; False when the disk has no room for them (what is held stays)."""
        if self._fd < 0:
            return False
        if size <= self.size:
            return True
        try:
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(self._fd, self.size, size - self.size)
            else:  # no fallocate: write the bytes
                os.lseek(self._fd, self.size, os.SEEK_SET)
                zeros = bytes(64 << 10)
                for start in range(self.size, size, len(zeros)):
                    os.write(self._fd, zeros[: size - start])
                os.fsync(self._fd)
        except OSError as exc:
            if exc.errno in NO_ROOM:
                return False
            raise
        self.size = size
        return True

    def release(self) -> bool:
        """Give the room back; False when none was held."""
        if self._fd < 0:
            return False
        os.close(self._fd)
        self._fd = -1
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        held, self.size = self.size > 0, 0
        return held


class _GuardedFile:
    """The file PyAV writes into (as a Python file object). A write that finds the disk full frees
    the reserve, is retried into that room and sets `disk_full`, so the muxer never sees the error
    and can still write the file's end. A second full disk (no reserve left) raises."""

    def __init__(self, path: Path, reserve: _Reserve) -> None:
        self.name = str(path)  # FFmpeg opens it again by this name for +faststart's second pass
        self._reserve = reserve
        self.disk_full = False
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o666)

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self._fd, view) :]
            except OSError as exc:
                if exc.errno not in NO_ROOM or not self._reserve.release():
                    raise
                self.disk_full = True
        return len(data)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return os.lseek(self._fd, offset, whence)

    def tell(self) -> int:
        return os.lseek(self._fd, 0, os.SEEK_CUR)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


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
        self.frames_written = 0  # frames given to the encoder
        self.packets = 0  # packets muxed, all streams
        self.video_packets = 0  # video packets muxed: the frames the file holds
        self._video_span: tuple[Fraction, Fraction] | None = None  # first pts, latest end (seconds)
        self._last_pts: int | None = None
        self._max_video_pts: int | None = None  # of the packets muxed
        self._flushed = False  # the encoder was flushed
        self._closed_to: Path | None = None  # where `close` put the file
        self._full: DiskFullError | None = None  # the disk filled: the file is closed, this says how
        options = {"movflags": "+faststart"} if self.format in ("mp4", "mov") else {}
        if self.format in ("matroska", "webm"):  # a cluster is held in memory until it is written:
            options = {"cluster_size_limit": str(MKV_CLUSTER_BYTES), "cluster_time_limit": "2000"}  # small ones
        self._reserve: _Reserve | None = None
        self._file: _GuardedFile | None = None
        try:
            self._reserve = _Reserve(self._tmp.with_suffix(".reserve"))
            if not self._reserve.grow(RESERVE_BASE_BYTES + RESERVE_STEP_BYTES):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self._file = _GuardedFile(self._tmp, self._reserve)
            self._container = av.open(self._file, "w", format=self.format, options=options)
        except OSError as exc:
            self.abort()
            reason = "the disk is full" if exc.errno in NO_ROOM else (exc.strerror or str(exc))
            raise OutputError(f"cannot create {self.path}: {reason}") from exc
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
        """Mux `packets`; once the disk has filled, none more, and the file is closed as partial
        (`DiskFullError`)."""
        file, reserve = self._file, self._reserve
        assert file is not None and reserve is not None, "open"
        if self._full is not None:
            raise self._full
        packets = list(packets)
        for i, packet in enumerate(packets):
            if file.disk_full:
                self._full = self._close_full(packets[i:])
                raise self._full
            self._mux_one(packet)
            need = RESERVE_BASE_BYTES + RESERVE_PER_PACKET_BYTES * self.packets
            if need + RESERVE_STEP_BYTES // 2 > reserve.size and not reserve.grow(need + RESERVE_STEP_BYTES):
                file.disk_full = True  # no room to grow the reserve: the disk is as good as full
        if file.disk_full:
            self._full = self._close_full([])
            raise self._full

    def _mux_one(self, packet) -> None:
        video = packet.stream is self._video
        pts, duration, time_base = packet.pts, packet.duration or 0, packet.time_base
        try:
            self._container.mux(packet)
        except OSError as exc:
            if exc.errno in NO_ROOM:  # full again after the reserve was spent: nothing to keep
                self.abort()
                self._full = DiskFullError(self.path, None)
                raise self._full from exc
            raise OutputError(f"cannot write {self.path.name}: {exc.strerror or exc}") from exc
        self.packets += 1
        if video:
            self.video_packets += 1
            if pts is not None and time_base is not None:
                self._max_video_pts = pts if self._max_video_pts is None else max(self._max_video_pts, pts)
                start, end = pts * time_base, (pts + duration) * time_base
                first, last = self._video_span or (start, end)
                self._video_span = (min(first, start), max(last, end))

    def _fill_gaps(self, pending: list) -> None:
        """Mux the frames that come before the last frame written (B-frames still in the encoder,
        or not yet muxed), so the kept file has no hole at its end; where the disk has room."""
        fill = []
        if self._max_video_pts is not None:
            if not self._copying and not self._flushed:
                self._flushed = True
                with contextlib.suppress(Exception):
                    pending = pending + list(self._video.encode(None))
            for packet in pending:
                if packet.stream is not self._video:
                    continue  # audio of a frame to come
                if packet.pts is None or packet.pts > self._max_video_pts:
                    break  # decode order: what follows may need this frame
                fill.append(packet)
        index = RESERVE_PER_PACKET_BYTES * (self.packets + len(fill))
        if fill and sum(p.size for p in fill) + index + (64 << 10) < shutil.disk_usage(self._tmp.parent).free:
            for packet in fill:
                self._mux_one(packet)

    def _close_full(self, pending: list) -> DiskFullError:
        """The disk is full: write the file's end into the reserve's room and keep it as
        NAME.partial.EXT (nothing when no frame is in it); the error says what was kept.
        `pending`: packets that were not muxed."""
        target = self.path.with_name(f"{self.path.stem}.partial{self.path.suffix}")
        kept: Path | None = target
        try:
            if self._reserve is not None:
                self._reserve.release()
            if self.video_packets == 0:
                raise OutputError("no frame")
            self._fill_gaps(pending)
            self._container.close()
            if self._file is not None:
                self._file.close()
            os.replace(self._tmp, target)
        except Exception:
            self.abort()
            kept = None
        first, last = self._video_span or (Fraction(0), Fraction(0))
        return DiskFullError(self.path, kept, self.video_packets if kept else 0, float(last - first))

    def _flush(self) -> None:
        if not self._copying:
            self._flushed = True
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
        A disk that fills while the encoder is flushed raises `DiskFullError` (the file kept as
        partial). After a `DiskFullError` the file is already closed: this returns where it went.
        """
        if self._full is not None:
            if self._full.kept is None:
                raise self._full
            return self._full.kept
        if self._closed_to is not None:
            return self._closed_to
        if self.frames_written == 0:
            self.abort()
            raise OutputError(f"no frame was written; {self.path.name} was not created")
        try:
            self._flush()
            self._container.close()  # a disk that fills now: the reserve holds room for the end
            if self._file is not None:
                self._file.close()
        except DiskFullError:
            raise
        except Exception:
            self.abort()
            raise
        if self._reserve is not None:
            self._reserve.release()
        target = self.path.with_name(f"{self.path.stem}.partial{self.path.suffix}") if partial else self.path
        os.replace(self._tmp, target)
        self._closed_to = target
        return target

    def abort(self) -> None:
        """Stop and delete the temporary file; nothing is left at the output path. Nothing is
        deleted once the file was closed (a partial file kept when the disk filled stays)."""
        if self._full is not None or self._closed_to is not None:
            return
        if hasattr(self, "_container"):
            with contextlib.suppress(Exception):
                self._container.close()
        with contextlib.suppress(OSError):
            if self._file is not None:
                self._file.close()
        with contextlib.suppress(OSError):
            if self._reserve is not None:
                self._reserve.release()
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()
