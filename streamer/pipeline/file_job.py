"""`stylize_file`: a recorded video (or a still image) in, its cartoon version out.

Threads joined by bounded, lossless links (nothing is dropped, memory stays flat):

    reader (decode, track) --8--> main --2 frames in flight--> stylize workers --> main --8--> writer (encode, mux)

The main thread hands each tracked frame to a pool of FRAMES_IN_FLIGHT workers (heads, background,
compose) and passes results on in file order. With temporal reuse (`temporal`; auto: learned
styles) heads are carried from keyframe to keyframe, which needs the frames in order: one frame is
in flight, its background beside its heads, and keyframes are stylized on the frame that needs
one, so a run gives the same output every time. Tracking sits with decoding, since it must see frames
in order; together they take about as long as stylizing one frame.

Audio packets travel the same links in file order, so the writer interleaves them with video.
On Ctrl-C the reader stops, everything already stylized is written, and the valid shorter file is
saved as NAME.partial.EXT (the output path itself is never left holding an incomplete video).
On any error the temporary file is deleted and nothing is written.

A `Span` stylizes one part of a video (`streamer batch --segment-seconds`): its frames are written
to an MP4 part with their pts shifted to start at 0 and no audio, after its faces were tracked on
a short stretch before it, so smoothing carries across the cut. `batch.segments` joins the parts.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from streamer.capture.file import FileSource, check_input_path
from streamer.capture.image import IMAGE_EXTENSIONS, is_image_path, read_image
from streamer.engines.base import StyleEngine
from streamer.engines.options import EngineOptions
from streamer.engines.registry import open_engine, uses_reuse
from streamer.errors import InvalidInputError, OutputError
from streamer.frame import Frame, StageClock
from streamer.pipeline.links import END, LinkClosed, LosslessLink
from streamer.pipeline.reuse import ReuseOptions
from streamer.pipeline.stats import StageStats
from streamer.pipeline.stylizer import FrameStylizer, open_frame_stylizer
from streamer.sinks.file import CONTAINERS, AudioPlan, FileSink, check_output_path, codec_for
from streamer.sinks.image import write_image
from streamer.tracking.tracker import FaceTracker, TrackedFace, TrackerOptions

LINK_CAPACITY = 8
# Frames stylized at once: on two cores, two frames in flight keep both busy (throughput, not latency).
FRAMES_IN_FLIGHT = 2


@dataclass
class StylizeOptions(EngineOptions):
    """The engine's options (`EngineOptions`: style, backend, device, precision, background style,
    threads), then the file job's own."""

    max_faces: int = 4
    detect_every: int = 10
    background_scale: float | None = None
    background_short_side: int | None = 360
    crf: int = 18
    preset: str = "veryfast"
    keyframe_every: int = 4  # with temporal reuse: a keyframe at most this often (see `ReuseOptions`)


BEFORE, WARM_UP, INSIDE, AFTER = "before", "warm-up", "inside", "after"


@dataclass(frozen=True)
class Span:
    """A part of a video, in its video stream's pts: frames in [start, end) are written (end None:
    to the end of the file), and faces are tracked from `warm_from` on (before `start`), so the part
    begins with the face smoothing a whole-file run has there. The part is written with pts shifted
    by -start, without audio, in an MP4 holding the video codec of the final container
    (`final_format`, e.g. "mp4" or "webm")."""

    start: int
    end: int | None
    warm_from: int
    final_format: str = "mp4"

    def place(self, pts: int) -> str:
        """BEFORE the warm-up, WARM_UP (tracked only), INSIDE (written), or AFTER the span."""
        if self.end is not None and pts >= self.end:
            return AFTER
        if pts >= self.start:
            return INSIDE
        return WARM_UP if pts >= self.warm_from else BEFORE

    def expected_frames(self, reader: FileSource) -> int:
        """About how many frames the part has (for progress), from the stream's rate."""
        rate = reader.rate
        if not rate:
            return 0

        def frames_at(pts: int) -> int:
            return round(float(pts * reader.time_base * rate))

        end = frames_at(self.end) if self.end is not None else reader.expected_frames
        return max(0, end - frames_at(self.start))


@dataclass
class StylizeReport:
    """What a run did. `output` is where the result went (NAME.partial.EXT when interrupted)."""

    output: Path
    frames: int = 0
    lost_frames: int = 0
    damaged_frames: int = 0
    faces_seen: int = 0
    frames_with_faces: int = 0
    seconds: float = 0.0
    stage_ms: dict[str, float] = field(default_factory=dict)
    stage_summary: str = ""
    interrupted: bool = False
    width: int = 0
    height: int = 0
    video_codec: str = ""
    pix_fmt: str = ""
    audio: list[AudioPlan] = field(default_factory=list)
    style: str = ""
    backend: str = ""
    notes: list[str] = field(default_factory=list)
    keyframes: int | None = None  # with temporal reuse: heads stylized as keyframes (else None)

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def _check_paths(source: Path, output: Path) -> bool:
    """Validate both paths before any work; returns True for a still image."""
    check_input_path(source)
    if output.resolve() == source.resolve() or (output.exists() and output.samefile(source)):
        raise OutputError(f"output {output} is the input; choose another path")
    image = is_image_path(source)
    allowed = IMAGE_EXTENSIONS if image else tuple(CONTAINERS)
    if image and output.suffix.lower() in CONTAINERS:
        raise OutputError(f"{source.name} is an image; write it to an image file ({', '.join(IMAGE_EXTENSIONS)})")
    if not image and output.suffix.lower() in IMAGE_EXTENSIONS:
        raise OutputError(f"{source.name} is a video; write it to a video file ({', '.join(CONTAINERS)})")
    check_output_path(output, allowed)
    return image


def _open_stages(options: StylizeOptions, engine: StyleEngine | None = None) -> tuple[FaceTracker, FrameStylizer]:
    engine = engine or open_engine(options)
    tracker = FaceTracker(TrackerOptions(max_faces=options.max_faces, detect_every=options.detect_every))
    if uses_reuse(options):
        # Frames in order, one at a time: its heads and background side by side.
        reuse = ReuseOptions(keyframe_every=options.keyframe_every)
        scale, short_side = options.background_scale, options.background_short_side
        return tracker, open_frame_stylizer(engine, scale, short_side, parallel=True, reuse=reuse)
    # Files run whole frames side by side (see FRAMES_IN_FLIGHT), so heads and background of one
    # frame need not also run in parallel on the CPU.
    stylizer = open_frame_stylizer(engine, options.background_scale, options.background_short_side, parallel=False)
    return tracker, stylizer


def _close_stages(tracker: FaceTracker, stylizer: FrameStylizer, close_engine: bool) -> None:
    tracker.close()
    stylizer.close()
    if close_engine:
        stylizer.engine.close()


def stylize_image(
    source: Path, output: Path, options: StylizeOptions, engine: StyleEngine | None = None
) -> StylizeReport:
    t0 = time.perf_counter()
    frame = read_image(source)
    tracker, stylizer = _open_stages(options, engine)
    try:
        with StageClock(frame, "track"):
            faces = tracker.update(frame.image, 0.0)
        write_image(output, stylizer(frame, faces))
    finally:
        _close_stages(tracker, stylizer, close_engine=engine is None)
    return StylizeReport(
        output,
        frames=1,
        faces_seen=len(faces),
        frames_with_faces=int(bool(faces)),
        seconds=time.perf_counter() - t0,
        stage_ms=dict(frame.stage_ms),
        width=frame.width,
        height=frame.height,
        **_engine_facts(stylizer),
    )


def _engine_facts(stylizer: FrameStylizer) -> dict:
    engine = stylizer.engine
    return {"style": engine.style, "backend": engine.backend, "notes": list(engine.notes)}


class Stop(Protocol):
    """Anything with `is_set()`: a `threading.Event`, a `multiprocessing.Event`."""

    def is_set(self) -> bool: ...


def stylize_file(
    source: str | Path,
    output: str | Path,
    options: StylizeOptions | None = None,
    on_frame: Callable[[int, int], None] | None = None,
    *,
    engine: StyleEngine | None = None,
    span: Span | None = None,
    stop: Stop | None = None,
    on_track: Callable[[Frame, list[TrackedFace]], None] | None = None,
) -> StylizeReport:
    """Stylize `source` into `output`. `on_frame(done, expected)` is called after each written frame.

    `engine`: an open engine to use (and leave open), else one is opened and closed. `span`: only
    that part of a video (see `Span`). `stop.is_set()` ends the run as Ctrl-C does (the frames so far
    go to NAME.partial.EXT). `on_track(frame, faces)` sees each written frame's tracked faces.

    Raises `StreamerError` subclasses for bad input; the output is then not created.
    """
    source, output, options = Path(source), Path(output), options or StylizeOptions()
    if _check_paths(source, output):
        return stylize_image(source, output, options, engine)
    with FileSource(source, span.warm_from if span else None) as reader:
        tracker, stylizer = _open_stages(options, engine)
        try:
            return _run(reader, tracker, stylizer, output, options, on_frame, span, stop or threading.Event(), on_track)
        finally:
            _close_stages(tracker, stylizer, close_engine=engine is None)


def _run(
    reader: FileSource,
    tracker: FaceTracker,
    stylizer: FrameStylizer,
    output: Path,
    options: StylizeOptions,
    on_frame: Callable[[int, int], None] | None,
    span: Span | None,
    stop: Stop,
    on_track: Callable[[Frame, list[TrackedFace]], None] | None,
) -> StylizeReport:
    read_stop, write_stop = threading.Event(), threading.Event()
    decoded = LosslessLink(LINK_CAPACITY, read_stop)
    stylized = LosslessLink(LINK_CAPACITY, write_stop)
    failures: list[BaseException] = []
    stats = StageStats()
    report = StylizeReport(output, **_engine_facts(stylizer))
    expected = reader.expected_frames if span is None else span.expected_frames(reader)
    t0 = time.perf_counter()

    def fail(exc: BaseException) -> None:
        failures.append(exc)
        read_stop.set()
        write_stop.set()

    def read_and_track() -> None:
        try:
            for item in reader:
                if isinstance(item, Frame):
                    place = span.place(item.pts) if span is not None else INSIDE
                    if place == AFTER:
                        break
                    if place == BEFORE:
                        continue
                    with StageClock(item, "track"):
                        faces = tracker.update(item.image, item.time)
                    if place == WARM_UP:
                        continue  # tracked before the part starts: smoothing only
                    if on_track:
                        on_track(item, faces)
                    item = (item, faces)
                elif span is not None:
                    continue  # a part has no audio: the join copies it from the source once
                decoded.put(item)
            decoded.close()
        except LinkClosed:
            pass
        except BaseException as exc:
            fail(exc)

    def write() -> None:
        sink: FileSink | None = None
        early_audio: list = []
        try:
            while (item := stylized.get()) is not END:
                if not isinstance(item, Frame):
                    if sink is None:
                        early_audio.append(item)
                    else:
                        sink.write_audio(item)
                    continue
                if span is not None:  # a part starts at 0 (see `Span`)
                    item = Frame(item.image, item.pts - span.start, item.time_base, item.index, stage_ms=item.stage_ms)
                if sink is None:
                    sink = FileSink(
                        output,
                        item.width,
                        item.height,
                        reader.time_base,
                        reader.rate,
                        reader.audio_streams if span is None else [],
                        options.crf,
                        options.preset,
                        video_codec=codec_for(span.final_format) if span is not None else None,
                    )
                    for packet in early_audio:
                        sink.write_audio(packet)
                    early_audio.clear()
                sink.write(item)
                stats.add(item.stage_ms)
                report.frames += 1
                if on_frame:
                    on_frame(report.frames, expected)
            if sink is None:
                raise InvalidInputError(f"no frame of {reader.path.name} could be decoded")
            report.output = sink.close(partial=report.interrupted)
            report.width, report.height = sink.width, sink.height
            report.video_codec, report.pix_fmt, report.audio = sink.video_codec, sink.pix_fmt, sink.audio_plans
        except BaseException as exc:
            if sink is not None:
                sink.abort()
            if not isinstance(exc, LinkClosed):
                fail(exc)

    threads = [
        threading.Thread(target=read_and_track, name="decode+track", daemon=True),
        threading.Thread(target=write, name="encode", daemon=True),
    ]
    for thread in threads:
        thread.start()
    face_ids: set[int] = set()
    in_flight_most = 1 if stylizer.reuse is not None else FRAMES_IN_FLIGHT
    workers = ThreadPoolExecutor(in_flight_most, thread_name_prefix="stylize")
    in_flight: deque[Future | object] = deque()  # stylizing frames and audio packets, in file order

    def emit(max_pending: int) -> None:
        """Pass on, in order, what is done; wait while more than `max_pending` frames are in flight."""
        while in_flight:
            head = in_flight[0]
            pending = sum(isinstance(item, Future) for item in in_flight)
            if isinstance(head, Future) and not head.done() and pending <= max_pending:
                return
            in_flight.popleft()
            stylized.put(head.result() if isinstance(head, Future) else head)

    def render(frame: Frame, faces: list) -> Frame:
        return frame.with_image(stylizer(frame, faces))

    try:
        try:
            while (item := decoded.get()) is not END:
                if stop.is_set():
                    raise KeyboardInterrupt
                if isinstance(item, tuple):
                    frame, faces = item
                    face_ids.update(face.id for face in faces)
                    report.frames_with_faces += bool(faces)
                    item = workers.submit(render, frame, faces)
                in_flight.append(item)
                emit(in_flight_most)
            emit(0)
        except KeyboardInterrupt:
            report.interrupted = True
            read_stop.set()
        stylized.close()
    except LinkClosed:
        pass
    except BaseException:
        read_stop.set()
        write_stop.set()
        raise
    finally:
        workers.shutdown(wait=True, cancel_futures=True)
        for thread in threads:
            thread.join()
    if failures:
        raise failures[0]
    report.seconds = time.perf_counter() - t0
    report.lost_frames = reader.lost_frames
    report.damaged_frames = reader.damaged_frames
    report.faces_seen = len(face_ids)
    report.keyframes = stylizer.reuse.keyframes if stylizer.reuse is not None else None
    report.stage_ms = stats.medians()
    report.stage_summary = stats.format()
    return report
