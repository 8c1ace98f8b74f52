"""`streamer demo`: the Gradio page (webcam, video and image tabs); see `streamer.server.gradio_app`."""

from __future__ import annotations

import argparse

from streamer.cli.common import add_engine_arguments, options_from_args, positive_float
from streamer.server.gradio_app import MAX_UPLOAD_MB, MAX_VIDEO_SECONDS  # (Gradio itself is imported when used)


def add_parser(commands) -> None:
    demo = commands.add_parser("demo", help="the Gradio demo page (webcam, video and image tabs)")
    demo.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default: 127.0.0.1, this machine only)"
    )
    demo.add_argument("--port", type=int, default=7860, help="default: 7860")
    demo.add_argument(
        "--max-upload-mb",
        type=positive_float,
        default=MAX_UPLOAD_MB,
        help=f"the largest upload accepted (default: {MAX_UPLOAD_MB})",
    )
    demo.add_argument(
        "--max-video-seconds",
        type=positive_float,
        default=MAX_VIDEO_SECONDS,
        help=f"the longest video accepted (default: {MAX_VIDEO_SECONDS})",
    )
    add_engine_arguments(demo)  # --style is the page's default; the others apply to every tab
    demo.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from streamer.engines.registry import check_available
    from streamer.pipeline.file_job import StylizeOptions
    from streamer.server.gradio_app import launch

    check_available(args.style)  # the page's default: one clear line now, not an error in the page later
    options = options_from_args(StylizeOptions, args)
    launch(
        args.host,
        args.port,
        options=options,
        max_upload_mb=args.max_upload_mb,
        max_video_seconds=args.max_video_seconds,
    )
    return 0
