"""Argument types and the options shared by the commands that stylize (`stylize`, `live`, `serve`)."""

from __future__ import annotations

import argparse

from streamer.engines.registry import BACKENDS, BACKGROUND_STYLES, DEFAULT_STYLE, DEVICES, PRECISIONS


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
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
        "--style", default=DEFAULT_STYLE, help=f"style name (default: {DEFAULT_STYLE}); see `streamer models list`"
    )
    parser.add_argument(
        "--backend", default="auto", choices=BACKENDS, help="inference backend (default: auto, the best one present)"
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
        default="same",
        choices=BACKGROUND_STYLES,
        help="the background's style: the same as the heads, the cheap built-in one, or none",
    )
    parser.add_argument("--max-faces", type=positive_int, default=4, help="most faces stylized per frame (default: 4)")
    parser.add_argument(
        "--detect-every",
        type=positive_int,
        default=10,
        help="run full face detection every N frames; landmarks track in between (default: 10)",
    )


def engine_options(args: argparse.Namespace) -> dict:
    """The values of `add_engine_arguments`, as keyword arguments of the options classes."""
    return {
        "style": args.style,
        "backend": args.backend,
        "device": args.device,
        "precision": args.precision,
        "background_style": args.background_style,
        "max_faces": args.max_faces,
        "detect_every": args.detect_every,
    }
