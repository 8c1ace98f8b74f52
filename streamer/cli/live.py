"""`streamer live`: a live source, stylized within a latency budget, to one or more sinks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from streamer.cli.common import add_engine_arguments, options_from_args


def add_parser(commands) -> None:
    live = commands.add_parser(
        "live",
        help="stylize a camera, a URL or a file (--realtime) live",
        description="Stylize a live source within a latency budget and send it to one or more sinks.",
    )
    live.add_argument(
        "--source", required=True, help="webcam:N, /dev/videoN, a URL (rtsp/rtmp/srt/http/udp), or a file"
    )
    live.add_argument(
        "--sink",
        action="append",
        required=True,
        help="vcam, preview, file:PATH, rtmp://..., srt://... (repeat for several)",
    )
    live.add_argument("--realtime", action="store_true", help="play a file source at its own pace, as a camera")
    live.add_argument("--loop", action="store_true", help="with --realtime: start the file again at its end")
    live.add_argument("--fps", type=float, default=30.0, help="target rate (default 30)")
    live.add_argument("--latency-budget-ms", type=float, help="default: one frame period")
    live.add_argument("--duration", type=float, help="stop after this many seconds")
    live.add_argument("--stats-json", type=Path, help="append one JSON line of stats per second")
    live.add_argument("--width", type=int, help="camera width to request")
    live.add_argument("--height", type=int, help="camera height to request")
    add_engine_arguments(live)
    live.add_argument("--quiet", action="store_true", help="no per-second status line")
    live.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from streamer.capture.live import parse_source
    from streamer.engines.registry import available_styles
    from streamer.pipeline.live import LiveControls, LiveOptions, LivePipeline
    from streamer.sinks.live import parse_sink

    open_source = parse_source(args.source, args.realtime, args.width, args.height, args.fps, args.loop)
    sinks = [parse_sink(spec) for spec in args.sink]
    options = options_from_args(
        LiveOptions,
        args,
        fps=args.fps,
        latency_budget_ms=args.latency_budget_ms,
        duration=args.duration,
        stats_json=args.stats_json,
    )
    # The `s` key steps through the styles that can be opened here, as the --style help lists them.
    controls = LiveControls(args.style, styles=available_styles())

    def status(text: str) -> None:
        print(f"streamer: {text}", file=sys.stderr, flush=True)

    pipeline = LivePipeline(
        open_source, sinks, options, controls, status=status, on_stats=None if args.quiet else _print_stats
    )
    summary = pipeline.run()
    latencies = sorted(summary.latencies_ms)
    p99 = f"{latencies[int(0.99 * (len(latencies) - 1))]:.0f} ms" if latencies else "- (no frame written)"
    print(
        f"live: {summary.frames_in} frames in, {summary.frames_out} out, {summary.dropped} dropped; latency p99 {p99}"
    )
    return 0


def _print_stats(record: dict) -> None:
    p50, p99 = ("-" if record[k] is None else record[k] for k in ("latency_ms_p50", "latency_ms_p99"))
    print(
        f"t {record['t']:6.1f} s  in {record['fps_in']:3d} fps  out {record['fps_out']:3d} fps  "
        f"p50 {p50} ms  p99 {p99} ms  level {record['level']}  "
        f"faces {record['faces']}  dropped {record['dropped']}",
        file=sys.stderr,
        flush=True,
    )
