"""Long videos in parts: cut at the source's keyframes, stylized side by side, joined without
re-encoding.

- `plan_spans` reads the packet index (no decoding) and cuts at the keyframe nearest each multiple
  of the segment length, never leaving a part shorter than half of it. Each part's faces are
  tracked from `WARM_UP_SECONDS` before its cut (`file_job.Span`), so smoothing carries across.
- Each part is stylized by `stylize_file(..., span=...)` into an MP4 holding the final container's
  codec, with the same encoder settings, its pts starting at 0.
- `join_parts` copies the parts' packets into the output, moved back to their source times, and
  the source's audio once over the whole: the result has the input's frame count, pts and audio,
  as a whole-file run has. It is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

from streamer.capture.file import FileSource
from streamer.errors import InvalidInputError, OutputError
from streamer.pipeline.file_job import Span
from streamer.sinks.file import CONTAINERS, FileSink

WARM_UP_SECONDS = 1.0
# Containers a join writes exactly (an AVI's H.264 carries its headers in-band: it is run whole).
JOINABLE_FORMATS = ("mp4", "mov", "matroska", "webm")


def keyframe_times(path: Path) -> tuple[list[int], int, Fraction]:
    """(keyframe pts, last packet pts, time base) of the video stream, from the packet index."""
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.video:
                raise InvalidInputError(f"{path.name} has no video stream")
            video = container.streams.video[0]
            keyframes, last = [], 0
            for packet in container.demux(video):
                if packet.pts is None or not packet.size:
                    continue
                last = max(last, packet.pts)
                if packet.is_keyframe:
                    keyframes.append(packet.pts)
            return sorted(keyframes), last, video.time_base or Fraction(1, 90000)
    except av.FFmpegError as exc:
        raise InvalidInputError(f"cannot read {path.name}: not a media file, or damaged ({exc.strerror})") from exc


def plan_spans(path: Path, output: Path, seconds: float) -> list[Span]:
    """The parts of `path` for `seconds`-long segments; a single span means "run it whole" (short
    input, too few keyframes, or an output container that is not joined exactly)."""
    final_format = CONTAINERS.get(output.suffix.lower(), "")
    keyframes, last, time_base = keyframe_times(path)
    if final_format not in JOINABLE_FORMATS or not keyframes:
        return [Span(keyframes[0] if keyframes else 0, None, 0, final_format)]
    first = keyframes[0]
    step = round(seconds / time_base)
    cuts = [first]
    target = first + step
    while target < last:
        later = [k for k in keyframes if k - cuts[-1] >= step // 2 and last - k >= step // 2]
        if not later:
            break
        cut = min(later, key=lambda k: abs(k - target))
        if cut <= cuts[-1]:
            break
        cuts.append(cut)
        target = cut + step
    warm_up = round(WARM_UP_SECONDS / time_base)
    ends: list[int | None] = [*cuts[1:], None]
    return [
        Span(start, end, max(first, start - warm_up) if index else start, final_format)
        for index, (start, end) in enumerate(zip(cuts, ends, strict=True))
    ]


def _video_packets(parts: list[tuple[Path, Span]], time_base: Fraction, template) -> Iterator[tuple[float, int, Any]]:
    """The parts' video packets in order, with their time in seconds (for interleaving)."""
    import av

    extradata = template.codec_context.extradata
    for path, span in parts:
        with av.open(str(path)) as container:
            video = container.streams.video[0]
            if video.codec_context.extradata != extradata or video.codec_context.name != template.codec_context.name:
                raise OutputError(f"the parts of {path.parent.name} were encoded differently; delete it and run again")
            offset = span.start * time_base
            for packet in container.demux(video):
                if packet.pts is None or not packet.size:
                    continue
                when = packet.dts if packet.dts is not None else packet.pts
                yield float(when * packet.time_base + offset), 0, (packet, offset)


def _audio_packets(source: FileSource) -> Iterator[tuple[float, int, Any]]:
    for packet in source.audio_packets():
        yield float(packet.dts * packet.time_base), 1, packet


def join_parts(source: Path, parts: list[tuple[Path, Span]], output: Path, crf: int, preset: str) -> int:
    """Join the stylized `parts` of `source` (in order) into `output`, with the source's audio;
    returns the frame count. Nothing is left at `output` unless the join completes."""
    import av

    with FileSource(source) as reader, av.open(str(parts[0][0])) as first:
        template = first.streams.video[0]
        width, height = template.codec_context.width, template.codec_context.height
        sink = FileSink(
            output, width, height, reader.time_base, reader.rate, reader.audio_streams, crf, preset,
            video_template=template,
        )  # fmt: skip
        try:
            video = _video_packets(parts, reader.time_base, template)
            for _, kind, item in heapq.merge(video, _audio_packets(reader), key=lambda entry: entry[:2]):
                if kind == 0:
                    packet, offset = item
                    sink.write_packet(packet, offset)
                else:
                    sink.write_audio(item)
            sink.close()
        except BaseException:
            sink.abort()
            raise
        return sink.frames_written
