"""Reading back what the file sink wrote, with PyAV (and ffprobe where it is installed)."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


@dataclass
class Probe:
    width: int
    height: int
    pix_fmt: str
    video_codec: str
    frame_times: list[Fraction]  # pts * time_base of every decoded frame, in order
    audio_codecs: list[str]
    audio_packets: list[int]
    audio_seconds: list[float]


def probe(path: Path) -> Probe:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        times = [Fraction(f.pts) * f.time_base for f in c.decode(v)]
    with av.open(str(path)) as c:
        audio = list(c.streams.audio)
        counts = dict.fromkeys(range(len(audio)), 0)
        ends = dict.fromkeys(range(len(audio)), 0.0)
        starts: dict[int, float] = {}
        if audio:
            for packet in c.demux(*audio):
                if packet.dts is None or not packet.size:
                    continue
                k = audio.index(packet.stream)
                counts[k] += 1
                t = float(packet.pts * packet.time_base)
                starts.setdefault(k, t)
                ends[k] = max(ends[k], t + float((packet.duration or 0) * packet.time_base))
        return Probe(
            v.codec_context.width,
            v.codec_context.height,
            v.codec_context.pix_fmt,
            v.codec_context.codec.canonical_name,
            times,
            [a.codec_context.codec.canonical_name for a in audio],
            [counts[k] for k in range(len(audio))],
            [ends[k] - starts.get(k, 0.0) for k in range(len(audio))],
        )


def frames(path: Path) -> list[np.ndarray]:
    """Every frame, upright (display rotation applied), as BGR arrays."""
    out = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            img = f.to_ndarray(format="bgr24")
            k = round((f.rotation or 0) / 90) % 4
            out.append(np.ascontiguousarray(np.rot90(img, k)) if k else img)
    return out


def ffprobe_streams(path: Path) -> list[dict] | None:
    """ffprobe's view of the streams (an independent reader), or None when ffprobe is missing."""
    if shutil.which("ffprobe") is None:
        return None
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_streams", "-of", "json", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)["streams"]
