"""The batch manifest: `DIR/streamer-batch.json`, what each item's state is, so a second run of the
same command redoes only what is missing or what changed settings affect.

Per item (keyed by its relative path): `state` (done, failed, interrupted, running), `settings`
(a hash of every setting its output depends on, and of the input's size and time), `frames` (the
output's frame count), `seconds`, and `error` or `note`. An item is skipped when it is done with
the same settings hash and its output is still there with that frame count. The file is replaced
atomically after each change; a damaged manifest is set aside and the batch starts over.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from streamer.batch.inputs import BatchItem
from streamer.pipeline.file_job import Span, StylizeOptions

MANIFEST_NAME = "streamer-batch.json"
VERSION = 1
DONE, FAILED, INTERRUPTED, RUNNING = "done", "failed", "interrupted", "running"

log = logging.getLogger("streamer.batch")

# What a file's output depends on besides the engine's options.
_VIDEO_SETTINGS = (
    "max_faces",
    "detect_every",
    "background_scale",
    "background_short_side",
    "keyframe_every",
    "crf",
    "preset",
)
_IMAGE_SETTINGS = ("max_faces", "background_scale", "background_short_side")


def settings_hash(item: BatchItem, options: StylizeOptions, spans: list[Span]) -> str:
    """A hash of what `item`'s output depends on: the engine's options (threads aside), the
    file job's options that apply to its kind, the cuts of its parts, and the input's size and
    modification time (a replaced input is redone)."""
    from streamer import __version__

    engine = {k: v for k, v in options.engine_fields().items() if k != "threads"}
    own = {name: getattr(options, name) for name in (_IMAGE_SETTINGS if item.image else _VIDEO_SETTINGS)}
    stat = item.source.stat()
    cuts = [(s.start, s.end, s.warm_from) for s in spans] if len(spans) > 1 else []
    data = [__version__, engine, own, cuts, stat.st_size, stat.st_mtime_ns, item.output.suffix.lower()]
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def output_frames(path: Path, image: bool) -> int | None:
    """The frame count of a finished output (1 for a readable image), or None if it is missing or
    unreadable. Counts packets, without decoding."""
    if not path.is_file():
        return None
    if image:
        import cv2
        import numpy as np

        return 1 if cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR) is not None else None
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            return sum(1 for p in container.demux(container.streams.video[0]) if p.size)
    except (av.FFmpegError, OSError):
        return None


class Manifest:
    """The manifest of one output folder; `save()` after changes (atomic)."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / MANIFEST_NAME
        self.items: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text())
                if data.get("version") != VERSION or not isinstance(data.get("items"), dict):
                    raise ValueError("unknown version")
                self.items = data["items"]
            except (OSError, ValueError) as exc:
                aside = self.path.with_name(f"{MANIFEST_NAME}.damaged")
                with contextlib.suppress(OSError):
                    os.replace(self.path, aside)
                log.warning("the manifest %s could not be read (%s); set aside as %s", self.path, exc, aside.name)

    def is_complete(self, item: BatchItem, settings: str) -> bool:
        """Done with these settings, and the output is still there with its recorded frames."""
        entry = self.items.get(item.key)
        if not entry or entry.get("state") != DONE or entry.get("settings") != settings:
            return False
        return output_frames(item.output, item.image) == entry.get("frames")

    def update(self, item: BatchItem, **fields: Any) -> None:
        entry = self.items.setdefault(item.key, {})
        entry.update(input=str(item.source), output=str(item.output), updated=time.time(), **fields)

    def save(self) -> None:
        tmp = self.path.with_name(f".{MANIFEST_NAME}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"version": VERSION, "items": self.items}, indent=1, sort_keys=True))
        os.replace(tmp, self.path)
