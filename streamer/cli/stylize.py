"""`streamer stylize`: a recorded video (audio and timing kept) or a still image."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from streamer.cli import EXIT_INTERRUPTED, EXIT_PARTIAL_INPUT
from streamer.cli.common import add_engine_arguments, options_from_args, positive_int, scale

if TYPE_CHECKING:
    from streamer.pipeline.file_job import StylizeOptions


def add_file_arguments(parser: argparse.ArgumentParser) -> None:
    """The engine's options and the file job's own (background size, encoder), for `stylize` and
    `batch`."""
    from streamer.sinks.file import X264_PRESETS

    add_engine_arguments(parser)
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--background-scale", type=scale, help="stylize the background at this fraction of the frame size"
    )
    size.add_argument(
        "--background-short-side",
        type=positive_int,
        default=360,
        help="stylize the background with this short side in pixels (default: 360; never upscales)",
    )
    parser.add_argument("--crf", type=int, default=18, help="encoder quality, 0-51, lower is better (default: 18)")
    parser.add_argument(
        "--preset", default="veryfast", choices=X264_PRESETS, help="x264 speed preset (default: veryfast)"
    )


def file_options(args: argparse.Namespace) -> StylizeOptions:
    """`StylizeOptions` from the arguments `add_file_arguments` added."""
    from streamer.pipeline.file_job import StylizeOptions

    return options_from_args(
        StylizeOptions,
        args,
        background_scale=args.background_scale,
        background_short_side=None if args.background_scale else args.background_short_side,
        crf=args.crf,
        preset=args.preset,
    )


def add_parser(commands) -> None:
    stylize = commands.add_parser(
        "stylize",
        help="stylize a video or an image file",
        description="Stylize a recorded video (audio and timing kept) or a still image.",
    )
    stylize.add_argument("input", type=Path, help="a video PyAV can read, or a .jpg/.png image")
    stylize.add_argument("output", type=Path, help=".mp4/.mov/.mkv/.webm/.avi for videos, an image file for images")
    add_file_arguments(stylize)
    stylize.add_argument("--no-progress", action="store_true", help="no progress bar")
    stylize.set_defaults(run=run)


def _frames(n: int) -> str:
    return f"{n} frame{'s' * (n != 1)}"


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from streamer.pipeline.file_job import stylize_file

    options = file_options(args)
    bar = None

    def on_frame(done: int, expected: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(
                total=expected or None,
                unit="frame",
                desc="stylizing",
                dynamic_ncols=True,
                mininterval=0.5,
                disable=args.no_progress,
            )
        bar.update(1)

    try:
        report = stylize_file(args.input, args.output, options, on_frame)
    finally:
        if bar is not None:
            bar.close()

    faces = f"{report.faces_seen} face{'s' * (report.faces_seen != 1)} seen, in {_frames(report.frames_with_faces)}"
    print(f"stylized {_frames(report.frames)} ({faces}) in {report.seconds:.1f} s: {report.fps:.1f} fps")
    print(f"style {report.style}, backend {report.backend}")
    if report.keyframes is not None:
        print(
            f"temporal reuse: {report.keyframes} keyframes stylized, carried by optical flow to the "
            f"frames between (--temporal off stylizes every head on every frame)"
        )
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    if report.stage_summary:
        print(f"stage medians (ms): {report.stage_summary}")
    if report.video_codec:
        audio = ", ".join(f"{a.codec} {'copied' if a.copied else 'transcoded'}" for a in report.audio) or "none"
        print(f"video: {report.width}x{report.height} {report.video_codec} {report.pix_fmt}; audio: {audio}")
    if report.interrupted:
        print(
            f"interrupted: the {report.frames} frames stylized so far are in {report.output} (a valid, shorter "
            f"video); {args.output} was not written",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    print(f"wrote {report.output}")
    if report.lost_frames or report.damaged_frames:
        print(
            f"warning: {args.input.name}: {_frames(report.lost_frames)} could not be decoded and "
            f"{_frames(report.damaged_frames)} decoded with errors (damaged or truncated input); "
            f"the output has the {report.frames} that decoded",
            file=sys.stderr,
        )
        return EXIT_PARTIAL_INPUT
    return 0
