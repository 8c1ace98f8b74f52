"""`streamer` command line: one module per command, each adding its parser and its `run`.

    streamer stylize INPUT OUTPUT [--style NAME] [--max-faces 4] [--background-scale 0.5 |
                                   --background-short-side 360] [--crf 18] [--preset veryfast]
    streamer batch INPUT... --out DIR [--workers N] [--ray [ADDRESS]] [--segment-seconds S] [stylize options]
    streamer live --source SOURCE --sink SINK [--sink SINK ...] [--style NAME] ...
    streamer models list | pull STYLE [--accept-license] | import PATH --style NAME
                    | import PATH --family dctnet --name NAME | verify | remove
    streamer serve [--host 127.0.0.1] [--port 8080] [--style NAME] ...
    streamer demo [--host 127.0.0.1] [--port 7860] [--style NAME] ...

User errors print one line (`streamer: error: ...`) and exit with status 2; nothing half-written is
left behind. Exit status 3 means the output was written but some input frames could not be decoded (for
`batch`: some items failed, and the others are complete).
Ctrl-C keeps what was already stylized as NAME.partial.EXT and exits with status 130; SIGTERM (a
service manager stopping it, `kill`) is taken the same way. For `live` that holds for a run stopped
before its `--duration` is up; without `--duration`, Ctrl-C is how a live run ends (status 0, the
recordings keep their names).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from streamer.errors import StreamerError

EXIT_USER_ERROR = 2
EXIT_PARTIAL_INPUT = 3
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    from streamer import __version__
    from streamer.cli import batch, bench, demo, doctor, live, models, serve, stylize

    parser = argparse.ArgumentParser(prog="streamer", description="Turn people on camera into cartoons.")
    parser.add_argument("--version", action="version", version=f"streamer {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (stylize, batch, live, models, serve, demo, bench, doctor):
        command.add_parser(commands)  # each sets `run`, the function that carries the command out
    return parser


class _StderrHandler(logging.StreamHandler):
    """Writes each record to whatever `sys.stderr` is when it comes."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _log_to_stderr() -> None:
    """Show the "streamer" logger's warnings and errors (an engine or a sink that failed mid-stream,
    with the traceback) on stderr; user errors never reach it."""
    log = logging.getLogger("streamer")
    if not any(isinstance(h, _StderrHandler) for h in log.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("streamer: %(levelname)s: %(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.WARNING)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _log_to_stderr()
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if on_main_thread else None
    try:
        return args.run(args)
    except StreamerError as exc:
        print(f"streamer: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("streamer: interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
