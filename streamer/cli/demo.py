"""`streamer demo`: the Gradio page (webcam, video and image tabs); see `streamer.server.gradio_app`."""

from __future__ import annotations

import argparse


def add_parser(commands) -> None:
    demo = commands.add_parser("demo", help="the Gradio demo page (webcam, video and image tabs)")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=7860)
    demo.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from streamer.server.gradio_app import launch

    launch(args.host, args.port)
    return 0
