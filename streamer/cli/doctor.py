"""`streamer doctor`: one line per check of what this machine offers streamer (see `streamer.doctor`).

Prints `ok`, `PROBLEM` (with its fix) or `info` per check, then a summary line; with `--json`, the
same as one JSON object for a bug report. Exit status 0 when no check found a problem, 1 otherwise.
Changes nothing: no device is opened for writing, no model is loaded, no file is written.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from types import ModuleType

EXIT_PROBLEM = 1
LABELS = {"ok": "ok", "problem": "PROBLEM", "info": "info"}


def add_parser(commands) -> None:
    doctor = commands.add_parser(
        "doctor",
        help="check cameras, virtual camera, GPU, backends, stored styles, codecs and ports",
        description="Check what this machine offers streamer, one line per check, each ok or a problem "
        "with its fix. Changes nothing. Exit status 1 when some check found a problem.",
    )
    doctor.add_argument("--json", action="store_true", help="print the report as JSON (for bug reports)")
    doctor.set_defaults(run=run)


def _default_port(command: ModuleType) -> tuple[str, int]:
    """(name, default --port) of a command module, read from the parser it adds."""
    commands = argparse.ArgumentParser().add_subparsers()
    command.add_parser(commands)
    ((name, parser),) = commands.choices.items()
    return name, int(parser.get_default("port"))


def default_ports() -> dict[str, int]:
    """The ports `streamer serve` and `streamer demo` listen on unless told otherwise."""
    from streamer.cli import demo, serve

    return dict(_default_port(command) for command in (serve, demo))


def run(args: argparse.Namespace) -> int:
    from streamer.doctor import PROBLEM, run_checks, system_summary

    summary = system_summary()
    checks = run_checks(default_ports())
    problems = [check.name for check in checks if check.status == PROBLEM]
    if args.json:
        report = {**summary, "checks": [asdict(check) for check in checks], "problems": len(problems)}
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        print(f"streamer {summary['streamer']}, Python {summary['python']}, {summary['platform']}")
        width = max(len(check.name) for check in checks)
        for check in checks:
            fix = f"; fix: {check.fix}" if check.fix else ""
            print(f"{LABELS[check.status]:<8} {check.name:<{width}}  {check.detail}{fix}")
        if problems:
            count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
            print(f"{count} ({', '.join(problems)}); the fixes are above")
        else:
            print("no problems found")
    return EXIT_PROBLEM if problems else 0
