"""One unit of batch work, as a worker process (local or a Ray worker) runs it.

A `Task` is a whole video or image, one part of a long video, or the join of its parts. `run_task`
never raises for the input's sake: a user error (damaged file, no video stream) comes back as a
failed `TaskResult` with its one-line message and is not retried. Only a worker that dies (killed,
out of memory) makes a task run again, and that is the executor's business.

Each worker process keeps the engine it opened for the next task with the same engine options,
so a batch pays model start-up once per worker, not once per clip.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from streamer.engines.base import StyleEngine
from streamer.errors import StreamerError
from streamer.pipeline.file_job import Span, Stop, StylizeOptions, stylize_file

log = logging.getLogger("streamer.batch")

WHOLE, PART, JOIN = "whole", "part", "join"
# Test-only fault switch: a path; the first task to find it absent creates it and kills its own
# worker, as the kernel's OOM killer would. Unset in normal runs.
KILL_ONCE_ENV = "STREAMER_FAULT_KILL_WORKER_ONCE"


@dataclass(frozen=True)
class Task:
    """`kind` WHOLE: `source` to `output`. PART: `span` of `source` to the part file `output`.
    JOIN: `parts` (part file, span) joined into `output` with the source's audio."""

    key: str
    kind: str
    source: Path
    output: Path
    options: StylizeOptions
    span: Span | None = None
    parts: tuple[tuple[Path, Span], ...] = ()
    index: int = 0  # the part's number


@dataclass
class TaskResult:
    key: str
    kind: str
    index: int = 0
    ok: bool = False
    frames: int = 0
    seconds: float = 0.0
    error: str = ""
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)


_engines: dict[str, StyleEngine] = {}


def _engine_for(options: StylizeOptions) -> StyleEngine:
    """The engine for these options, opened once per worker process."""
    from streamer.engines.registry import open_engine

    key = repr(sorted(options.engine_fields().items()))
    if key not in _engines:
        for engine in _engines.values():
            engine.close()
        _engines.clear()
        _engines[key] = open_engine(options)
    return _engines[key]


def _fault_switch() -> None:
    marker = os.environ.get(KILL_ONCE_ENV)
    if marker and not os.path.exists(marker):
        Path(marker).touch()
        os._exit(70)


def run_task(task: Task, on_frames: Callable[[int], None], stop: Stop) -> TaskResult:
    """Run `task`; `on_frames(n)` is told of each n frames written; `stop.is_set()` ends it early
    (nothing is kept at its output then)."""
    from streamer.batch.segments import join_parts

    _fault_switch()
    result = TaskResult(task.key, task.kind, task.index)
    t0 = time.perf_counter()
    try:
        if task.kind == JOIN:
            result.frames = join_parts(
                task.source, list(task.parts), task.output, task.options.crf, task.options.preset
            )
        else:
            counted = 0

            def on_frame(done: int, expected: int) -> None:
                nonlocal counted
                counted += 1
                on_frames(1)

            report = stylize_file(
                task.source,
                task.output,
                task.options,
                on_frame,
                engine=_engine_for(task.options),
                span=task.span,
                stop=stop,
            )
            result.frames = report.frames
            on_frames(report.frames - counted)  # an image reports its one frame only here
            if report.interrupted:
                with contextlib.suppress(FileNotFoundError):
                    report.output.unlink()  # a batch resumes an item from its start
                result.interrupted = True
                return result
            if report.lost_frames or report.damaged_frames:
                result.notes.append(
                    f"{report.lost_frames} frames could not be decoded and {report.damaged_frames} "
                    "decoded with errors (damaged input); the output has those that decoded"
                )
        result.ok = True
    except StreamerError as exc:
        result.error = str(exc)
    except KeyboardInterrupt:
        result.interrupted = True
    except Exception as exc:  # a bug, not the input: said in one line, with the traceback in the log
        log.exception("%s failed", task.key)
        result.error = f"internal error: {type(exc).__name__}: {exc}"
    finally:
        result.seconds = time.perf_counter() - t0
    return result
