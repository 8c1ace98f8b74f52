"""`streamer` command line.

    streamer stylize INPUT OUTPUT [--style toon] [--max-faces 4] [--background-scale 0.5 |
                                   --background-short-side 360] [--crf 18] [--preset veryfast]
    streamer models list | import PATH --style NAME | import PATH --family dctnet --name NAME | verify | remove

User errors print one line (`streamer: error: ...`) and exit with status 2; nothing half-written is
left behind. Exit status 3 means the output was written but some input frames could not be decoded.
Ctrl-C keeps what was already stylized as NAME.partial.EXT and exits with status 130.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from streamer.errors import StreamerError

EXIT_USER_ERROR = 2
EXIT_PARTIAL_INPUT = 3
EXIT_INTERRUPTED = 130


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _scale(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from streamer import __version__
    from streamer.engines.registry import DEFAULT_STYLE
    from streamer.sinks.file import X264_PRESETS

    parser = argparse.ArgumentParser(prog="streamer", description="Turn people on camera into cartoons.")
    parser.add_argument("--version", action="version", version=f"streamer {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    stylize = commands.add_parser(
        "stylize",
        help="stylize a video or an image file",
        description="Stylize a recorded video (audio and timing kept) or a still image.",
    )
    stylize.add_argument("input", type=Path, help="a video PyAV can read, or a .jpg/.png image")
    stylize.add_argument("output", type=Path, help=".mp4/.mov/.mkv/.webm/.avi for videos, an image file for images")
    stylize.add_argument(
        "--style", default=DEFAULT_STYLE, help=f"style name (default: {DEFAULT_STYLE}); see `streamer styles`"
    )
    stylize.add_argument(
        "--backend",
        default="auto",
        choices=["auto", "tensorrt", "torch", "onnxruntime"],
        help="inference backend (default: auto, the best one present)",
    )
    stylize.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="default: auto")
    stylize.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "fp16", "int8"],
        help="auto: fp16 on a GPU, int8 on a CPU where the style has it (default: auto)",
    )
    stylize.add_argument(
        "--background-style",
        default="same",
        choices=["same", "toon", "none"],
        help="the background's style: the same as the heads, the cheap built-in one, or none",
    )
    stylize.add_argument(
        "--max-faces", type=_positive_int, default=4, help="most faces stylized per frame (default: 4)"
    )
    stylize.add_argument(
        "--detect-every",
        type=_positive_int,
        default=10,
        help="run full face detection every N frames; landmarks track in between (default: 10)",
    )
    size = stylize.add_mutually_exclusive_group()
    size.add_argument(
        "--background-scale", type=_scale, help="stylize the background at this fraction of the frame size"
    )
    size.add_argument(
        "--background-short-side",
        type=_positive_int,
        default=360,
        help="stylize the background with this short side in pixels (default: 360; never upscales)",
    )
    stylize.add_argument("--crf", type=int, default=18, help="encoder quality, 0-51, lower is better (default: 18)")
    stylize.add_argument(
        "--preset", default="veryfast", choices=X264_PRESETS, help="x264 speed preset (default: veryfast)"
    )
    stylize.add_argument("--no-progress", action="store_true", help="no progress bar")

    from streamer import cli_live, cli_models, cli_web

    cli_live.add_parser(commands)
    cli_models.add_parser(commands)
    cli_web.add_parsers(commands)
    return parser


def _frames(n: int) -> str:
    return f"{n} frame{'s' * (n != 1)}"


def _stylize(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from streamer.pipeline.file_job import StylizeOptions, stylize_file

    options = StylizeOptions(
        style=args.style,
        backend=args.backend,
        device=args.device,
        precision=args.precision,
        background_style=args.background_style,
        max_faces=args.max_faces,
        detect_every=args.detect_every,
        background_scale=args.background_scale,
        background_short_side=None if args.background_scale else args.background_short_side,
        crf=args.crf,
        preset=args.preset,
    )
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "stylize":
            return _stylize(args)
        if args.command == "live":
            from streamer import cli_live

            return cli_live.run(args)
        if args.command in ("serve", "demo"):
            from streamer import cli_web

            return cli_web.run(args)
        from streamer import cli_models

        return cli_models.run(args)
    except StreamerError as exc:
        print(f"streamer: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("streamer: interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
