"""`streamer live`: a live source, stylized within a latency budget, to one or more sinks.

Ending a run: without `--duration`, Ctrl-C (or SIGTERM) is how a live run ends: recordings keep
their names and the exit status is 0. A run interrupted before its `--duration` is up keeps its
recordings as NAME.partial.EXT and exits with status 130, as `stylize` does. Either way the camera
and the virtual camera are released and recordings are closed valid.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from streamer.cli import EXIT_INTERRUPTED, EXIT_USER_ERROR
from streamer.cli.common import add_engine_arguments, options_from_args, positive_float


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
        help="vcam, preview, file:PATH, rtmp://..., srt://..., null (discards; for measuring) (repeat for several)",
    )
    live.add_argument("--realtime", action="store_true", help="play a file source at its own pace, as a camera")
    live.add_argument("--loop", action="store_true", help="with --realtime: start the file again at its end")
    live.add_argument(
        "--fps",
        type=positive_float,
        default=30.0,
        help="the rate asked of a camera, and the frame period the default budget and the outputs use (default 30)",
    )
    live.add_argument(
        "--latency-budget-ms",
        type=positive_float,
        help="the most a frame's own work may take; the scheduler gives up quality to stay within it "
        "(default: one frame period; a rung that sends every other frame may take its period)",
    )
    live.add_argument(
        "--min-fps",
        type=positive_float,
        default=15.0,
        help="while stylizing, send at least this many frames per second; below it only passthrough "
        "is left (default: 15)",
    )
    live.add_argument(
        "--duration",
        type=positive_float,
        help="stop after this many seconds; Ctrl-C or SIGTERM before then keeps recordings as "
        "NAME.partial.EXT and exits with 130 (without --duration, Ctrl-C ends the run: recordings keep their names)",
    )
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
    from streamer.sinks.live import RecordingSink, parse_sink

    open_source = parse_source(args.source, args.realtime, args.width, args.height, args.fps, args.loop)
    sinks = [parse_sink(spec) for spec in args.sink]
    _check_paths(Path(args.source), sinks, args.stats_json)
    options = options_from_args(
        LiveOptions,
        args,
        fps=args.fps,
        latency_budget_ms=args.latency_budget_ms,
        min_fps=args.min_fps,
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
    failures = ""
    if summary.engine_failures:
        failures = (
            f"; the engine failed {summary.engine_failures} time{'s' * (summary.engine_failures != 1)} "
            f"({summary.passthrough_frames} frames went out as captured)"
        )
    recorded = "".join(
        f"; {summary.written.get(sink.name, 0)} frames recorded to {sink.path}"
        for sink in sinks
        if isinstance(sink, RecordingSink)
    )
    print(
        f"live: {summary.frames_in} frames in, {summary.frames_out} out, {summary.dropped} dropped, "
        f"{summary.skipped} left out by a reduced frame rate; latency p99 {p99}{failures}"
        f"{_backgrounds(summary.backgrounds)}{recorded}"
    )
    if summary.interrupted and args.duration is not None:
        for sink in sinks:
            if isinstance(sink, RecordingSink) and sink.saved is not None and sink.saved != sink.path:
                print(
                    f"interrupted before --duration: the recording so far is in {sink.saved} (a valid, "
                    f"shorter video); {sink.path} was not written",
                    file=sys.stderr,
                )
        return EXIT_INTERRUPTED
    # Every output failed, or the source cannot be used: the status lines said why.
    return EXIT_USER_ERROR if summary.failed or summary.source_failed else 0


def _check_paths(source: Path, sinks: list, stats_json: Path | None) -> None:
    """Before anything runs: a recording never overwrites the file it plays, and the stats file's
    folder exists (one line each, not a failure a second into the run)."""
    from streamer.errors import OutputError
    from streamer.sinks.live import RecordingSink

    for sink in sinks:
        if isinstance(sink, RecordingSink) and source.is_file() and sink.path.resolve() == source.resolve():
            raise OutputError(f"the recording {sink.path} is the source; choose another path")
    if stats_json is not None and not stats_json.resolve().parent.is_dir():
        raise OutputError(f"the folder of --stats-json {stats_json} does not exist")


def _print_stats(record: dict) -> None:
    """One line per stats record; the engine's failures (counted from the start) once there are any."""
    p50, p99 = ("-" if record[k] is None else record[k] for k in ("latency_ms_p50", "latency_ms_p99"))
    failed = record.get("engine_failures") or 0
    failures = f"  engine failed {failed}x, {record.get('passthrough_frames', 0)} passed through" if failed else ""
    print(
        f"t {record['t']:6.1f} s  in {record['fps_in']:3d} fps  out {record['fps_out']:3d} fps  "
        f"p50 {p50} ms  p99 {p99} ms  faces {record['faces']}  dropped {record['dropped']}  "
        f"level {record['level']}: {record['rung']}{failures}",
        file=sys.stderr,
        flush=True,
    )


def _backgrounds(counts: dict[str, int]) -> str:
    """ "; background: whitebox on 93% of stylized frames, toon (built-in) on 7%", most first."""
    total = sum(counts.values())
    if not total:
        return ""
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    parts = [f"{name} on {100 * n / total:.0f}%" for name, n in ranked]
    return f"; background: {parts[0]} of stylized frames" + "".join(f", {part}" for part in parts[1:])
