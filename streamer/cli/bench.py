"""`streamer bench`: is my frame rate normal? Measures the chosen style on a generated clip (the
bare network, file mode, live mode), compares with the reference table scaled to this machine's
speed, says whether the figures are normal, and names the settings that would help most."""

from __future__ import annotations

import argparse
import sys

from streamer.cli.common import add_engine_arguments, options_from_args, positive_float

DEFAULT_SECONDS = 10.0  # file mode on 300 frames: with the live phase, about a minute on 2 cores
DEFAULT_LIVE_SECONDS = 15.0


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "bench",
        help="is my frame rate normal? measure a style here and compare with the reference figures",
        description="Measure the chosen style on a generated 640x480 clip (the bare network, file mode, live "
        "mode in real time), compare with reference figures scaled to this machine's speed, and name the "
        "settings that would help most. Takes about a minute.",
    )
    add_engine_arguments(parser)
    parser.add_argument(
        "--seconds",
        type=positive_float,
        default=DEFAULT_SECONDS,
        help=f"length of the generated clip stylized in file mode (default: {DEFAULT_SECONDS:g})",
    )
    parser.add_argument(
        "--live-seconds",
        type=positive_float,
        default=DEFAULT_LIVE_SECONDS,
        help=f"how long live mode plays the clip in real time (default: {DEFAULT_LIVE_SECONDS:g})",
    )
    parser.add_argument("--json", action="store_true", help="print every figure as JSON (for bug reports)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from streamer.bench import run_bench
    from streamer.bench.judge import advise, judge
    from streamer.bench.report import as_json, as_text
    from streamer.engines.registry import check_available
    from streamer.pipeline.file_job import StylizeOptions

    options = options_from_args(StylizeOptions, args)
    check_available(options.style)

    def progress(text: str) -> None:
        print(f"bench: {text}", file=sys.stderr, flush=True)

    figures = run_bench(options, args.seconds, args.live_seconds, progress)
    verdict, advice = judge(figures), advise(figures)
    print(as_json(figures, verdict, advice) if args.json else as_text(figures, verdict, advice))
    return 0
