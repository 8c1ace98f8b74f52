"""Inference backends, registered by name (the model is pyvirtualcam's per-platform backends).

Each backend module describes itself with a `Backend` and calls `register()` when imported: the
devices it serves, the precisions it runs on each (its default first), why it cannot run on this
machine (None when it can), why it cannot open a given stored network, and how it opens one. The
registry (`streamer.engines.registry`) chooses among them from this data only; it has no code per
backend.

Every module of this package is imported the first time the registry is consulted; `--backend auto`
tries the backends by their `rank` (lowest first). Importing one never imports its library
(TensorRT, torch, ONNX Runtime): that happens when a runner is opened or availability is asked, so
`import streamer` works with no GPU library installed.

Adding a backend: write its module here (a `Runner` subclass and one `register(Backend(...))` call
with its rank). Nothing else changes. A backend registered from elsewhere (a plug-in, a test) is
tried by its rank too.
"""

from __future__ import annotations

import hashlib
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streamer.engines.runner import Runner
    from streamer.engines.store import Manifest


@dataclass(frozen=True)
class Network:
    """One network of a style (its head or its background), in every form it is stored in.

    `onnx` is the ONNX graph (a file, or bytes for a built-in style made in memory); `int8` its
    quantized version for CPUs, when stored; `manifest` the installed style it belongs to (None for
    a built-in style), from which a backend finds any other form it needs (PyTorch weights).
    """

    style: str
    role: str
    onnx: Path | bytes
    int8: Path | None = None
    manifest: Manifest | None = None
    sha256: str = ""

    @property
    def onnx_sha256(self) -> str:
        """The SHA-256 of the ONNX graph: what compiled forms (TensorRT engines) are keyed on."""
        if self.sha256:
            return self.sha256
        data = self.onnx if isinstance(self.onnx, bytes) else self.onnx.read_bytes()
        return hashlib.sha256(data).hexdigest()

    @property
    def name(self) -> str:
        """ "anime head": how notes and errors name it."""
        return f"{self.style} {self.role}"


def _usable(network: Network, device: str, precision: str) -> str | None:
    return None


@dataclass(frozen=True)
class Backend:
    """What the registry knows about one backend.

    - `precisions`: device -> the precisions the backend runs there, its default first; the keys
      are the devices it serves, in the order it prefers them when the device is `auto`.
    - `unavailable(device)`: why it cannot run on `device` on this machine (a library or the device
      is missing), or None.
    - `unusable(network, device, precision)`: why it cannot open that stored network (a form it needs
      is not there, e.g. no engine built), or None. Asked only when `unavailable` is None.
    - `open(network, device, precision, threads)`: the runner. The runner's own `precision` says
      what it really runs (ONNX Runtime runs fp32 where a network has no int8 version).
    - `rank`: `--backend auto` tries backends from the lowest rank up (the fastest first).
    - `auto_devices`: the devices `--backend auto` may choose it for, in order (none: only when asked).
    - `falls_back`: asked for explicitly but unusable, the run goes on with the `auto` choice and a
      note (`hint` is added to the note when the backend itself is missing); otherwise that is an error.
    """

    name: str
    title: str
    precisions: dict[str, tuple[str, ...]]
    open: Callable[[Network, str, str, int], Runner]
    unavailable: Callable[[str], str | None]
    unusable: Callable[[Network, str, str], str | None] = _usable
    rank: int = 100
    auto_devices: tuple[str, ...] = ()
    falls_back: bool = False
    hint: str = ""  # may name {style}

    @property
    def devices(self) -> tuple[str, ...]:
        return tuple(self.precisions)

    def precision_for(self, device: str, asked: str) -> str:
        """The precision to open with: `asked` where this backend runs it on `device`, else its default."""
        offered = self.precisions[device]
        return asked if asked in offered else offered[0]


_REGISTRY: dict[str, Backend] = {}
_loaded = False


def register(backend: Backend) -> Backend:
    """Add (or replace) a backend. Backends registered later come after the others for `auto`."""
    _REGISTRY[backend.name] = backend
    return backend


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def _load() -> None:
    """Import every backend module of this package once (each registers itself)."""
    global _loaded
    if not _loaded:
        _loaded = True
        for module in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{module.name}")


def registered() -> tuple[Backend, ...]:
    """Every backend, in the order `auto` tries them: by rank, then by name."""
    _load()
    return tuple(sorted(_REGISTRY.values(), key=lambda backend: (backend.rank, backend.name)))


def names() -> tuple[str, ...]:
    return tuple(backend.name for backend in registered())


def get(name: str) -> Backend | None:
    _load()
    return _REGISTRY.get(name)


def devices() -> tuple[str, ...]:
    """Every device some backend serves."""
    return tuple(sorted({device for backend in registered() for device in backend.devices}))


def precisions() -> tuple[str, ...]:
    """Every precision some backend runs, widest first (fp32, fp16, int8)."""
    found = {p for backend in registered() for offered in backend.precisions.values() for p in offered}
    return tuple(sorted(found, key=lambda p: (-int("".join(c for c in p if c.isdigit()) or 0), p)))
