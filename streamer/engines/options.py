"""`EngineOptions`: which style to open, and on what (backend, device, precision, background).

One dataclass for every way in: the file job (`StylizeOptions`), the live loop (`LiveOptions`), the
server (`ServerOptions`) and the commands extend it, so the same names are checked the same way
everywhere, and `open_engine` takes any of them. They extend it rather than hold it so that an
option keeps one flat name (`options.style`) wherever it is read.

The choices come from the backend registry (`streamer.engines.backends`) and from
`BACKGROUNDS` below; a value outside them is an `InvalidInputError` that names them.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Any, TypeVar

from streamer.engines import backends
from streamer.errors import InvalidInputError

DEFAULT_STYLE = "toon"
BUILTIN_STYLE = "toon"  # the style made in memory, with no weights: always available


@dataclass(frozen=True)
class BackgroundStyle:
    """How the background is stylized, as data for `open_engine`.

    `network_of`: the style whose background network replaces the style's own (None: the style's
    own is kept); `stylized`: False leaves the background as captured; `fallback_of`: the style
    whose background network is kept beside the style's own, for a live stream to use where the
    style's own does not fit its latency budget.
    """

    name: str
    description: str
    network_of: str | None = None
    stylized: bool = True
    fallback_of: str | None = None


# How heads are stylized from frame to frame. Reuse carries a keyframe's stylized head to the next
# frames by optical flow (`pipeline.reuse`): faster, and steadier where per-frame stylization
# flickers, at a bounded difference from stylizing every frame.
TEMPORAL = {
    "auto": "reuse for learned styles, every frame for the built-in one",
    "reuse": "keyframes carried to the frames between by optical flow",
    "off": "every head stylized on every frame",
}

BACKGROUNDS: dict[str, BackgroundStyle] = {
    b.name: b
    for b in (
        BackgroundStyle(
            "auto",
            "the style's own; live, the built-in style's where the style's own does not fit the latency budget",
            fallback_of=BUILTIN_STYLE,
        ),
        BackgroundStyle("same", "the style's own background network"),
        BackgroundStyle("toon", "the cheap built-in style (for CPUs)", network_of=BUILTIN_STYLE),
        BackgroundStyle("none", "left as captured", stylized=False),
    )
}

_Options = TypeVar("_Options", bound="EngineOptions")


def backend_choices() -> tuple[str, ...]:
    return ("auto", *backends.names())


def device_choices() -> tuple[str, ...]:
    return ("auto", *backends.devices())


def precision_choices() -> tuple[str, ...]:
    return ("auto", *backends.precisions())


@dataclass
class EngineOptions:
    """`style` by name; `backend`, `device` and `precision` are `auto` (the best present) or one of
    the registry's; `background_style` a key of `BACKGROUNDS`; `threads` per network on a CPU;
    `temporal` one of `TEMPORAL` (how heads are stylized from frame to frame, see there).

    Checked when made (and again by `open_engine`): `InvalidInputError` names the choices.
    """

    style: str = DEFAULT_STYLE
    backend: str = "auto"
    device: str = "auto"
    precision: str = "auto"
    background_style: str = "auto"
    threads: int = 1
    temporal: str = "auto"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if not isinstance(self.style, str) or not self.style:
            raise InvalidInputError("a style name is needed; see `streamer models list`")
        for name, value, choices in (
            ("backend", self.backend, backend_choices()),
            ("device", self.device, device_choices()),
            ("precision", self.precision, precision_choices()),
            ("background style", self.background_style, tuple(BACKGROUNDS)),
            ("temporal mode", self.temporal, tuple(TEMPORAL)),
        ):
            if value not in choices:
                raise InvalidInputError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")
        if not isinstance(self.threads, int) or self.threads < 1:
            raise InvalidInputError(f"threads must be a whole number of at least 1, got {self.threads!r}")

    def engine_options(self) -> EngineOptions:
        """Only the engine's fields (of an options class that extends these)."""
        return EngineOptions(**self.engine_fields())

    def engine_fields(self) -> dict[str, Any]:
        """The engine's fields by name, to pass on to another options class."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(EngineOptions)}

    def replace(self: _Options, **changes: Any) -> _Options:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_args(cls: type[_Options], args: argparse.Namespace, **more: Any) -> _Options:
        """From parsed command-line arguments (`--style`, `--backend`, `--device`, `--precision`,
        `--background-style`, `--threads`: those the command has), plus `more` of the class's fields."""
        names = {f.name for f in dataclasses.fields(EngineOptions)}
        found = {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
        return cls(**{**found, **more})
