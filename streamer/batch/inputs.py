"""What `streamer batch` works on: files, folders (walked) and globs, each with its output path.

Each output keeps its input's path relative to what was named: a file named directly lands at the
top of the output folder, a folder's files keep their sub-folders, and a glob's matches keep their
path below the glob's first wildcard. Videos keep their container where the file sink writes it
(else .mp4); images keep theirs where OpenCV writes it (else .png).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

from streamer.capture.image import IMAGE_EXTENSIONS
from streamer.errors import InvalidInputError
from streamer.sinks.file import CONTAINERS

# Files a folder walk picks up; a file named directly is taken whatever its extension.
VIDEO_EXTENSIONS = (*CONTAINERS, ".ts", ".mts", ".m2ts", ".flv", ".wmv", ".mpg", ".mpeg", ".3gp", ".ogv")
WRITABLE_IMAGES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclass(frozen=True)
class BatchItem:
    """One input and where its result goes. `key` (the relative path, with forward slashes) names
    it in the manifest and the summary."""

    source: Path
    output: Path
    key: str
    image: bool


def _is_media(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS + IMAGE_EXTENSIONS


def _output_name(relative: Path) -> tuple[Path, bool]:
    suffix = relative.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return (relative if suffix in WRITABLE_IMAGES else relative.with_suffix(".png")), True
    return (relative if suffix in CONTAINERS else relative.with_suffix(".mp4")), False


def _glob_base(pattern: str) -> Path:
    """The folder part of `pattern` before its first wildcard."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder)
    except ValueError:
        return False
    return True


def collect_inputs(names: list[str], out_dir: Path) -> list[BatchItem]:
    """The items `names` stand for, in a stable order. `InvalidInputError` for a name that matches
    nothing, for no media at all, and for two inputs that would write the same output."""
    out_resolved = out_dir.resolve()
    found: list[tuple[Path, Path]] = []  # (source, relative)
    for name in names:
        path = Path(name)
        if path.is_file():
            found.append((path, Path(path.name)))
        elif path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not _inside(Path(root, d), out_resolved))
                for file in sorted(files):
                    source = Path(root, file)
                    if _is_media(source) and not file.startswith("."):
                        found.append((source, source.relative_to(path)))
        elif glob.has_magic(name):
            base = _glob_base(name)
            matches = sorted(Path(m) for m in glob.glob(name, recursive=True))
            media = [m for m in matches if m.is_file() and _is_media(m) and not _inside(m, out_resolved)]
            if not media:
                raise InvalidInputError(f"no video or image matches {name}")
            found.extend((m, m.relative_to(base)) for m in media)
        else:
            raise InvalidInputError(f"input not found: {name}")
    if not found:
        raise InvalidInputError(f"no video or image found in {', '.join(names)}")
    items: list[BatchItem] = []
    by_output: dict[Path, Path] = {}
    seen: set[Path] = set()
    for source, relative in found:
        if source.resolve() in seen:
            continue
        seen.add(source.resolve())
        out_relative, image = _output_name(relative)
        output = out_dir / out_relative
        if output in by_output:
            raise InvalidInputError(
                f"{by_output[output]} and {source} would both be written to {output}; name them apart"
            )
        if _inside(source, out_resolved) and output.resolve() == source.resolve():
            raise InvalidInputError(f"{source} is inside the output folder and would be overwritten")
        by_output[output] = source
        items.append(BatchItem(source, output, out_relative.as_posix(), image))
    return items
