"""Argument types and the options shared by the commands that stylize (`stylize`, `live`, `serve`)."""

from __future__ import annotations

import argparse
from typing import Any, TypeVar

from streamer.engines.options import TEMPORAL, EngineOptions
from streamer.engines.registry import (
    BACKENDS,
    BACKGROUND_STYLES,
    DEFAULT_STYLE,
    DEVICES,
    PRECISIONS,
    available_styles,
)

Options = TypeVar("Options", bound=EngineOptions)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def scale(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {value}")
    return value


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """--style, --backend, --device, --precision, --background-style, --max-faces, --detect-every:
    the same names, choices and defaults wherever a command stylizes."""
    parser.add_argument(
        "--style",
        default=DEFAULT_STYLE,
        help=f"style name (default: {DEFAULT_STYLE}; available here: {', '.join(available_styles())}); "
        "see `streamer models list`",
    )
    parser.add_argument(
        "--backend",
        default="auto",
        choices=BACKENDS,
        help=f"inference backend (default: auto, the first that can run here of {', '.join(BACKENDS[1:])})",
    )
    parser.add_argument("--device", default="auto", choices=DEVICES, help="default: auto")
    parser.add_argument(
        "--precision",
        default="auto",
        choices=PRECISIONS,
        help="auto: fp16 on a GPU, int8 on a CPU where the style has it (default: auto)",
    )
    parser.add_argument(
        "--background-style",
        default="auto",
        choices=BACKGROUND_STYLES,
        help="the background's style: the same as the heads, the cheap built-in one, or none; auto (the "
        "default): the same as the heads, and live the built-in one while the heads' does not fit the latency budget",
    )
    parser.add_argument(
        "--temporal",
        default="auto",
        choices=tuple(TEMPORAL),
        help="reuse: stylize keyframes and carry them to the frames between by optical flow (faster, "
        "less flicker); off: stylize every head on every frame (default: auto, reuse for learned styles)",
    )
    parser.add_argument("--max-faces", type=positive_int, default=4, help="most faces stylized per frame (default: 4)")
    parser.add_argument(
        "--detect-every",
        type=positive_int,
        default=10,
        help="run full face detection every N frames; landmarks track in between (default: 10)",
    )


def options_from_args(options_class: type[Options], args: argparse.Namespace, **more: Any) -> Options:
    """The values of `add_engine_arguments` (and `more`) as a command's options class, which extends
    `EngineOptions`: checked there, the same way for every command."""
    return options_class.from_args(args, max_faces=args.max_faces, detect_every=args.detect_every, **more)
