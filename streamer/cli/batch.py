"""`streamer batch`: many videos and images at once, resumable, on this machine or on Ray."""

from __future__ import annotations

import argparse
import sys

from streamer.cli import EXIT_INTERRUPTED, EXIT_PARTIAL_INPUT
from streamer.cli.common import positive_float, positive_int
from streamer.cli.stylize import add_file_arguments, file_options


def add_parser(commands) -> None:
    batch = commands.add_parser(
        "batch",
        help="stylize many videos and images (files, folders, globs) into a folder",
        description="Stylize many videos and images at once. Each output keeps its input's relative path under "
        "--out; a manifest there lets a second run skip what is complete and redo only what changed settings "
        "affect. Runs on this machine, or on a Ray cluster with --ray.",
    )
    batch.add_argument("inputs", nargs="+", metavar="INPUT", help="video or image files, folders (walked), globs")
    batch.add_argument("--out", required=True, type=_out_dir, metavar="DIR", help="the output folder")
    batch.add_argument(
        "--workers",
        type=positive_int,
        help="jobs at once on this machine (default: the cores divided by the cores one job uses)",
    )
    batch.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="run the work as Ray tasks: a local Ray instance, or the cluster at ADDRESS (as ray.init(address=...)); "
        "inputs and outputs must be on storage every node reaches",
    )
    batch.add_argument(
        "--segment-seconds",
        type=positive_float,
        metavar="S",
        help="cut long videos at keyframes into parts of about S seconds, stylized side by side and joined "
        "without re-encoding",
    )
    add_file_arguments(batch)
    batch.add_argument("--no-progress", action="store_true", help="no progress bar")
    batch.set_defaults(run=run)


def _out_dir(text: str):
    from pathlib import Path

    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder")
    return path


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from streamer.batch.inputs import collect_inputs
    from streamer.batch.run import BatchOptions, Progress, run_batch

    options = file_options(args)
    items = collect_inputs(args.inputs, args.out)
    batch = BatchOptions(workers=args.workers, ray=args.ray, segment_seconds=args.segment_seconds)
    bar: tqdm | None = None

    def on_progress(progress: Progress) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(
                total=progress.total_frames or None,
                unit="frame",
                desc="batch",
                dynamic_ncols=True,
                mininterval=0.5,
                disable=args.no_progress,
            )
        bar.n = min(progress.frames, bar.total) if bar.total else progress.frames
        failed = f", {progress.failed} failed" if progress.failed else ""
        bar.set_postfix_str(f"{progress.done}/{progress.items} items done{failed}", refresh=False)
        bar.refresh()

    try:
        report = run_batch(items, args.out, options, batch, on_progress)
    finally:
        if bar is not None:
            bar.close()

    rows = [["item", "status", "frames", "fps", "note"]]
    for outcome in report.outcomes:
        fps = f"{outcome.fps:.1f}" if outcome.fps and outcome.status == "done" else "-"
        note = outcome.error or "; ".join(outcome.notes)
        rows.append([outcome.item.key, outcome.status, str(outcome.frames or "-"), fps, note])
    print(_table(rows))
    counts = {s: sum(o.status == s for o in report.outcomes) for s in ("done", "skipped", "failed", "interrupted")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    where = f" on {report.where}" if report.where else ""
    print(f"{len(report.outcomes)} items: {summary}, in {report.seconds:.1f} s{where}; outputs in {args.out}")
    if report.interrupted:
        print(
            "interrupted: finished items are kept; run the same command again to do the rest",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    if report.failed or any(o.notes for o in report.outcomes if o.status == "done"):
        return EXIT_PARTIAL_INPUT
    return 0
