"""`run_batch`: many videos and images stylized at once, on this machine or on Ray, resumable.

1. Each item's settings hash is checked against the manifest; complete outputs are skipped.
2. The rest become tasks (`batch.work`): a whole file, or with `segment_seconds` the parts of a
   long video and then their join. Parts already written by an interrupted run are kept.
3. An executor runs them: `LocalExecutor` (worker processes sized to the cores) or `RayExecutor`.
   A task whose worker died is tried again a bounded number of times; one that failed for its
   input is reported, never retried.
4. Ctrl-C stops the running tasks (their items are redone next time) and keeps every finished one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from streamer.batch.inputs import BatchItem
from streamer.batch.local import LocalExecutor, WorkerLost
from streamer.batch.manifest import DONE, FAILED, INTERRUPTED, RUNNING, Manifest, output_frames, settings_hash
from streamer.batch.segments import plan_spans
from streamer.batch.work import JOIN, PART, WHOLE, Task, TaskResult
from streamer.capture.file import FileSource
from streamer.errors import StreamerError
from streamer.pipeline.file_job import FRAMES_IN_FLIGHT, Span, StylizeOptions

PARTS_DIR = ".streamer-parts"
MAX_ATTEMPTS = 3  # tries of a task whose worker died, on this machine (Ray counts its own)
STOP_GRACE_S = 30.0
POLL_S = 0.5

SKIPPED, PENDING = "skipped", "pending"


@dataclass
class BatchOptions:
    """`workers`: processes on this machine (None: sized to the cores); `ray`: None for this
    machine, "" for a local Ray instance, or a cluster address; `segment_seconds`: cut long videos
    into parts of about this length, stylized side by side."""

    workers: int | None = None
    ray: str | None = None
    segment_seconds: float | None = None


@dataclass
class ItemOutcome:
    item: BatchItem
    status: str = PENDING  # done, skipped, failed, interrupted
    frames: int = 0
    seconds: float = 0.0  # task time (the sum over its parts)
    error: str = ""
    notes: list[str] = field(default_factory=list)
    settings: str = ""
    spans: list[Span] = field(default_factory=list)
    parts_left: int = 0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Progress:
    frames: int
    total_frames: int
    done: int
    failed: int
    items: int


@dataclass
class BatchReport:
    outcomes: list[ItemOutcome]
    seconds: float = 0.0
    where: str = ""
    interrupted: bool = False

    @property
    def failed(self) -> list[ItemOutcome]:
        return [o for o in self.outcomes if o.status == FAILED]


class Executor(Protocol):
    retries_itself: bool
    capacity: int
    where: str

    def submit(self, task: Task) -> Any: ...
    def wait(self, handles: list[Any], timeout: float) -> list[Any]: ...
    def result(self, handle: Any) -> TaskResult: ...
    def restart(self) -> None: ...
    def frames_done(self) -> int: ...
    def stop(self, handles: list[Any]) -> None: ...
    def close(self) -> None: ...


def cores_per_job(options: StylizeOptions) -> int:
    """Cores one file job keeps busy: its networks' threads times the frames it stylizes at once."""
    return options.threads * FRAMES_IN_FLIGHT


def default_workers(options: StylizeOptions) -> int:
    """As many jobs as the cores hold without oversubscribing them (two cores: one job)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // cores_per_job(options))


def _parts_dir(out_dir: Path, outcome: ItemOutcome) -> Path:
    """Where the parts of a long video go: one folder per item and settings hash."""
    name = hashlib.sha256(outcome.item.key.encode()).hexdigest()[:12]
    return out_dir / PARTS_DIR / f"{name}-{outcome.settings}"


def _drop_stale_parts(out_dir: Path, outcome: ItemOutcome) -> None:
    """Parts of the item made with other settings will never be joined: delete them."""
    current = _parts_dir(out_dir, outcome)
    for folder in current.parent.glob(f"{current.name.split('-')[0]}-*"):
        if folder != current:
            shutil.rmtree(folder, ignore_errors=True)


def _expected_frames(item: BatchItem) -> int:
    if item.image:
        return 1
    try:
        with FileSource(item.source) as reader:
            return reader.expected_frames
    except StreamerError:
        return 0


def _plan(
    items: list[BatchItem], out_dir: Path, options: StylizeOptions, batch: BatchOptions, manifest: Manifest
) -> tuple[list[ItemOutcome], list[Task], int]:
    """Outcomes for every item (skipped and failed ones settled), the tasks to run, and the frames
    already written by parts kept from an earlier run."""
    outcomes, tasks, kept_frames = [], [], 0
    for item in items:
        outcome = ItemOutcome(item)
        outcomes.append(outcome)
        try:
            seconds = None if item.image else batch.segment_seconds
            spans = plan_spans(item.source, item.output, seconds) if seconds else []
            outcome.spans = spans if len(spans) > 1 else []
            outcome.settings = settings_hash(item, options, outcome.spans)
        except StreamerError as exc:
            outcome.status, outcome.error = FAILED, str(exc)
            manifest.update(item, state=FAILED, error=outcome.error, settings="")
            continue
        if manifest.is_complete(item, outcome.settings):
            entry = manifest.items[item.key]
            outcome.status, outcome.frames, outcome.seconds = SKIPPED, entry["frames"], entry.get("seconds", 0.0)
            outcome.notes = [entry["note"]] if entry.get("note") else []
            continue
        item.output.parent.mkdir(parents=True, exist_ok=True)
        for stale in item.output.parent.glob(f".{item.output.name}.*.tmp"):
            stale.unlink(missing_ok=True)  # left by a worker that was killed while writing
        if not outcome.spans:
            tasks.append(Task(item.key, WHOLE, item.source, item.output, options))
            continue
        _drop_stale_parts(out_dir, outcome)
        parts = _parts_dir(out_dir, outcome)
        parts.mkdir(parents=True, exist_ok=True)
        for index, span in enumerate(outcome.spans):
            part = parts / f"part-{index:04d}.mp4"
            if part.exists():  # written whole by an earlier run (parts are renamed into place)
                kept_frames += output_frames(part, image=False) or 0
                continue
            outcome.parts_left += 1
            tasks.append(Task(item.key, PART, item.source, part, options, span=span, index=index))
        if not outcome.parts_left:
            tasks.append(_join_task(out_dir, outcome, options))
    return outcomes, tasks, kept_frames


def _join_task(out_dir: Path, outcome: ItemOutcome, options: StylizeOptions) -> Task:
    parts = _parts_dir(out_dir, outcome)
    spans = tuple((parts / f"part-{i:04d}.mp4", span) for i, span in enumerate(outcome.spans))
    item = outcome.item
    return Task(item.key, JOIN, item.source, item.output, options, parts=spans)


def open_executor(options: StylizeOptions, batch: BatchOptions, tasks: int) -> Executor:
    if batch.ray is not None:
        from streamer.batch.ray_cluster import RayExecutor

        return RayExecutor(batch.ray or None, cores_per_job(options), options.device)
    workers = batch.workers or default_workers(options)
    return LocalExecutor(max(1, min(workers, tasks)))


def run_batch(
    items: list[BatchItem],
    out_dir: Path,
    options: StylizeOptions,
    batch: BatchOptions | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    executor: Executor | None = None,
) -> BatchReport:
    """Stylize `items` into `out_dir` (see the module docstring). Never raises for an item's input:
    each item's outcome says what happened to it."""
    batch = batch or BatchOptions()
    t0 = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(out_dir)
    outcomes, tasks, kept_frames = _plan(items, out_dir, options, batch, manifest)
    manifest.save()
    report = BatchReport(outcomes)
    by_key = {o.item.key: o for o in outcomes}
    total = sum(_expected_frames(o.item) for o in outcomes if o.status == PENDING)
    if not tasks:
        report.seconds = time.perf_counter() - t0
        return report
    executor = executor or open_executor(options, batch, len(tasks))
    report.where = executor.where
    pending: deque[Task] = deque(tasks)
    running: dict[Any, Task] = {}
    attempts: dict[tuple[str, str, int], int] = {}

    def progress() -> None:
        if on_progress:
            settled = [o.status for o in outcomes if o.status != PENDING]
            failed = settled.count(FAILED)
            on_progress(
                Progress(kept_frames + executor.frames_done(), total, len(settled) - failed, failed, len(items))
            )

    def settle(outcome: ItemOutcome, status: str, error: str = "") -> None:
        if outcome.status in (FAILED, INTERRUPTED):
            return  # a part already failed it
        outcome.status, outcome.error = status, error
        note = "; ".join(outcome.notes) or None
        state = {DONE: DONE, FAILED: FAILED}.get(status, INTERRUPTED)
        manifest.update(
            outcome.item, state=state, settings=outcome.settings, frames=outcome.frames,
            seconds=round(outcome.seconds, 3), error=error or None, note=note,
        )  # fmt: skip
        manifest.save()

    def take(task: Task, result: TaskResult) -> None:
        outcome = by_key[task.key]
        outcome.notes.extend(n for n in result.notes if n not in outcome.notes)
        if result.interrupted:
            settle(outcome, INTERRUPTED)
        elif not result.ok:
            settle(outcome, FAILED, result.error)
        elif task.kind == PART:
            outcome.seconds += result.seconds
            outcome.parts_left -= 1
            if not outcome.parts_left and outcome.status == PENDING:
                pending.append(_join_task(out_dir, outcome, options))
        else:
            outcome.frames = result.frames
            outcome.seconds += result.seconds
            if task.kind == JOIN:
                shutil.rmtree(_parts_dir(out_dir, outcome), ignore_errors=True)
            settle(outcome, DONE)

    def collect(handles: list[Any]) -> bool:
        """Take the results of finished `handles`; True if a worker was lost."""
        lost = False
        for handle in handles:
            task = running.pop(handle)
            try:
                take(task, executor.result(handle))
            except WorkerLost as exc:
                key = (task.key, task.kind, task.index)
                attempts[key] = attempts.get(key, 1) + 1
                lost = True
                if executor.retries_itself or attempts[key] > MAX_ATTEMPTS:
                    take(task, TaskResult(task.key, task.kind, task.index, error=f"its worker died ({exc})"))
                else:
                    pending.appendleft(task)
            except KeyboardInterrupt:
                take(task, TaskResult(task.key, task.kind, task.index, interrupted=True))
        return lost

    try:
        try:
            while pending or running:
                submitted = False
                while pending and len(running) < executor.capacity:
                    task = pending.popleft()
                    outcome = by_key[task.key]
                    if outcome.status != PENDING:
                        continue  # a part of its item already failed
                    running[executor.submit(task)] = task
                    manifest.update(outcome.item, state=RUNNING, settings=outcome.settings)
                    submitted = True
                if submitted:
                    manifest.save()
                if running and collect(executor.wait(list(running), POLL_S)) and not executor.retries_itself:
                    # a lost worker broke the pool: its other tasks come back lost too
                    deadline = time.monotonic() + STOP_GRACE_S
                    while running and time.monotonic() < deadline:
                        collect(executor.wait(list(running), POLL_S))
                    executor.restart()
                progress()
        except KeyboardInterrupt:
            report.interrupted = True
            executor.stop(list(running))
            deadline = time.monotonic() + STOP_GRACE_S
            while running and time.monotonic() < deadline:
                collect(executor.wait(list(running), POLL_S))
            for task in running.values():
                take(task, TaskResult(task.key, task.kind, task.index, interrupted=True))
            for outcome in outcomes:
                if outcome.status == PENDING:
                    settle(outcome, INTERRUPTED)
    finally:
        try:
            progress()
        finally:
            executor.close()
    report.seconds = time.perf_counter() - t0
    return report
