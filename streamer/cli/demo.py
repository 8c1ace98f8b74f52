"""`streamer demo`: the Gradio page (webcam, video and image tabs); see `streamer.server.gradio_app`."""

from __future__ import annotations

import argparse

from streamer.cli.common import add_engine_arguments, options_from_args


def add_parser(commands) -> None:
    demo = commands.add_parser("demo", help="the Gradio demo page (webcam, video and image tabs)")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=7860)
    add_engine_arguments(demo)  # --style is the page's default; the others apply to every tab
    demo.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from streamer.engines.registry import check_available
    from streamer.pipeline.file_job import StylizeOptions
    from streamer.server.gradio_app import launch

    check_available(args.style)  # the page's default: one clear line now, not an error in the page later
    launch(args.host, args.port, options=options_from_args(StylizeOptions, args))
    return 0
