"""Where imported models live: one folder per style under the user's data directory.

    $STREAMER_HOME/models/<style>/   (default: $XDG_DATA_HOME/streamer, else ~/.local/share/streamer)
        manifest.json   family, files, SHA-256 of every file, what it was converted from
        head.onnx       the head network (uint8 [N,S,S,3] BGR in and out)
        background.onnx the background network, when the family has one
        mask.png        the head blend mask in crop coordinates, when the style ships one

A style is installed by building it in a temporary folder beside its final place and renaming it
into place, so a failed import stores nothing and never damages an existing style.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from streamer.errors import ModelError

MANIFEST = "manifest.json"


def data_home() -> Path:
    if os.environ.get("STREAMER_HOME"):
        return Path(os.environ["STREAMER_HOME"])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "streamer"


def models_dir() -> Path:
    return data_home() / "models"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Manifest:
    """What an installed style is. `files` maps role (head, background, mask) to file name."""

    style: str
    family: str
    files: dict[str, str]
    sha256: dict[str, str]
    source: dict[str, str] = field(default_factory=dict)  # source file name -> its SHA-256
    custom: bool = False
    options: dict[str, float | bool | str] = field(default_factory=dict)

    def path(self, role: str) -> Path | None:
        name = self.files.get(role)
        return models_dir() / self.style / name if name else None


def read_manifest(style: str) -> Manifest | None:
    path = models_dir() / style / MANIFEST
    if not path.exists():
        return None
    try:
        return Manifest(**json.loads(path.read_text()))
    except (ValueError, TypeError) as exc:
        raise ModelError(f"the stored style {style!r} has a damaged manifest ({path}); import it again") from exc


def file_problems(manifest: Manifest) -> list[str]:
    """What is wrong with a stored style's files (empty when each exists and matches its recorded
    SHA-256): one sentence per missing, changed or damaged file. Reads the files, runs nothing."""
    problems = []
    for role, name in manifest.files.items():
        path = models_dir() / manifest.style / name
        if not path.exists():
            problems.append(f"{name} is missing")
        elif sha256(path) != manifest.sha256.get(role):
            problems.append(f"{name} does not match its checksum (changed or damaged)")
    return problems


def installed_styles() -> list[Manifest]:
    root = models_dir()
    if not root.is_dir():
        return []
    found = (read_manifest(p.name) for p in sorted(root.iterdir()) if (p / MANIFEST).exists())
    return [m for m in found if m is not None]


class Staging:
    """A temporary folder for one style; `commit(manifest)` moves it into place atomically."""

    def __init__(self, style: str) -> None:
        self.style = style
        root = models_dir()
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ModelError(f"cannot create the model folder {root}: {exc.strerror or exc}") from exc
        self.dir = Path(tempfile.mkdtemp(prefix=f".{style}.", dir=root))

    def commit(self, manifest: Manifest) -> Path:
        manifest.sha256 = {role: sha256(self.dir / name) for role, name in manifest.files.items()}
        (self.dir / MANIFEST).write_text(json.dumps(asdict(manifest), indent=2))
        final = models_dir() / self.style
        old = None
        if final.exists():
            old = final.with_name(f".{self.style}.old")
            shutil.rmtree(old, ignore_errors=True)
            final.rename(old)
        self.dir.rename(final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def discard(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, exc_type, *exc: object) -> None:
        if self.dir.exists():  # not committed: an error, or nothing to keep
            self.discard()
