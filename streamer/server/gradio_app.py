"""`streamer demo`: try streamer in a browser (Gradio), on 127.0.0.1:7860 by default.

Tabs: Webcam (streaming, style and strength; API name `stylize_frame`), Video (upload a clip, get it
back stylized with its audio; `stylize_video`), Image (`stylize_image`).

The webcam stream follows `--temporal` as `streamer live` does (auto: temporal reuse for learned
styles, every frame for the built-in one). With reuse, heads are stylized at keyframes on a thread
of their own and carried to the frames between by optical flow, and the background shown is the
newest one stylized while a newer one is made on the side: a frame waits for a learned network
only when a face appears in it or it is the stream's first, and every frame comes back as a
cartoon, head and background, never as captured (see `FrameProcessor`). Each page streams on a
processor of its own, closed with the page. A photo is one frame: its heads and background are
stylized on it.

Uploads are capped (`max_upload_mb`: Gradio refuses a larger file while it arrives, HTTP 413; and
`max_video_seconds`). A bad upload (empty, not a video, a still image, damaged, too long, too
large) is one sentence in the page (a Gradio error, no traceback in the log); a video that decoded
only in part comes back with a warning that says so. Anything unexpected is one sentence too, its
traceback logged. No public link is made (share off), Gradio's usage analytics and its monitoring
page are off. Uploads and results are deleted after `OUTPUT_KEEP_S` (an hour).
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from streamer.errors import DeviceUnavailableError, InvalidInputError, StreamerError

if TYPE_CHECKING:  # imported when used: it brings PyAV and MediaPipe
    from streamer.engines.base import StyleEngine
    from streamer.engines.options import EngineOptions
    from streamer.pipeline.file_job import StylizeOptions
    from streamer.pipeline.reuse import HeadReuse
    from streamer.pipeline.stylizer import FrameStylizer
    from streamer.tracking.tracker import FaceTracker

log = logging.getLogger("streamer")

MAX_UPLOAD_MB = 200
MAX_VIDEO_SECONDS = 300
# How long a video job's result is kept here; Gradio's cache keeps its copies as long (`build`).
OUTPUT_KEEP_S = 3600
# Webcam streams kept open at once (one per page); past that, the least recently used is closed.
MAX_STREAMS = 8
WEBCAM_FRAME_S = 0.1  # how often the page sends a webcam frame
WEBCAM_BACKGROUND_SHORT_SIDE = 360  # the webcam's background is stylized this size, as `streamer live`'s
# A container's image formats (FFmpeg's demuxers for single pictures): a still image, not a video.
_IMAGE_FORMATS = ("image2", "_pipe")


def refusal(message: str):
    """The Gradio error for a user's mistake: its one sentence in the page, no traceback in the log."""
    import gradio as gr

    return gr.Error(message, print_exception=False)


class StreamClosed(Exception):
    """A frame came to a `FrameProcessor` that was closed meanwhile."""


def _engine_options(options: StylizeOptions) -> EngineOptions:
    # One frame at a time: each network may use two cores.
    return options.engine_options().replace(threads=max(2, options.threads))


class FrameProcessor:
    """Tracker + stylizer for one style, on `engine` (shared, the caller's to close; None: one of
    its own, closed with the processor).

    A photo (`static`) is a single frame, unrelated to the last one: a fresh tracker, and every head
    and the background stylized on it.

    The webcam stream keeps its tracker from frame to frame and follows the options' `temporal` as
    `streamer live` does (`uses_reuse`; auto: reuse for learned styles, every frame for the built-in
    one):
    - with temporal reuse, heads are stylized at keyframes on a thread of their own and carried to
      every frame by optical flow (`pipeline.reuse`); no frame waits for a keyframe, except that a
      face that appears (first seen, or found again after it was lost) is stylized on its frame,
      having nothing to be carried from. The background is the newest one stylized
      (`BackgroundMode.ASYNC`): the stream's first frame makes its own, after that a newer one is
      made on the side whenever none is being made and the picture outside the heads changed, and
      shows from the frame after it is done. So a frame waits for a learned network only when a face
      appears in it or it is the stream's first, and every frame comes back cartoon, head and
      background (never as captured);
    - without (the built-in style on auto, or `temporal` off), every head and the background are
      stylized on each frame.

    `close()` waits for the work on the side threads and ends them (and the tracker); a frame that
    comes after raises `StreamClosed`.
    """

    def __init__(
        self,
        style: str,
        static: bool = False,
        options: StylizeOptions | None = None,
        engine: StyleEngine | None = None,
        tracker_factory: Callable[[], FaceTracker] | None = None,
    ) -> None:
        from streamer.engines import open_engine
        from streamer.engines.registry import uses_reuse
        from streamer.pipeline.file_job import StylizeOptions
        from streamer.pipeline.reuse import ReuseOptions
        from streamer.pipeline.stylizer import open_frame_stylizer

        self.lock = threading.Lock()
        self.index = 0
        self.closed = False
        self.style = style
        self.options = (options or StylizeOptions()).replace(style=style)
        self.static = static
        self._own_engine = engine is None
        self.engine = engine or open_engine(_engine_options(self.options))
        self._tracker_factory = tracker_factory or self._face_tracker
        self.tracker: FaceTracker | None = None
        self.stylizer: FrameStylizer | None = None
        try:
            # A photo's background at its full size; a stream's at live's size.
            short_side = None if static else WEBCAM_BACKGROUND_SHORT_SIDE
            if not static and uses_reuse(self.options):
                # As `streamer live`: keyframes and mouth patches on threads of their own.
                self.stylizer = open_frame_stylizer(
                    self.engine, background_short_side=short_side, reuse=ReuseOptions(), keyframes_aside=True
                )
            else:  # the GPU path where there is one
                self.stylizer = open_frame_stylizer(self.engine, background_short_side=short_side)
            self.tracker = None if static else self._tracker_factory()
        except BaseException:
            self.close()
            raise

    def _face_tracker(self) -> FaceTracker:
        from streamer.tracking.tracker import FaceTracker, TrackerOptions

        return FaceTracker(TrackerOptions(max_faces=self.options.max_faces, detect_every=self.options.detect_every))

    @property
    def reuse(self) -> HeadReuse | None:
        """The stream's temporal reuse of heads (`keyframes` counts those stylized); None: every
        head is stylized on every frame."""
        return self.stylizer.reuse if self.stylizer is not None else None

    def __call__(self, rgb: np.ndarray, strength: float = 1.0) -> np.ndarray:
        from fractions import Fraction

        import cv2

        from streamer.frame import Frame
        from streamer.pipeline.quality import BackgroundMode

        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        with self.lock:
            if self.closed:
                raise StreamClosed(f"the {self.style} stream was closed")
            stylizer = self.stylizer
            assert stylizer is not None, "an open processor has its stylizer"
            frame = Frame(bgr, self.index, Fraction(1, 30), self.index)
            if self.static:
                tracker = self._tracker_factory()
                try:
                    faces = tracker.update(bgr, 0.0)
                finally:
                    tracker.close()
                out = stylizer(frame, faces)
            else:
                assert self.tracker is not None, "a streaming processor keeps its tracker"
                faces = self.tracker.update(bgr, self.index / 30)
                if stylizer.reuse is None:
                    out = stylizer(frame, faces)
                else:
                    # The first frame makes its own background (there is none to show yet); later
                    # ones show the newest and start a newer one on the side when the picture changed.
                    out = stylizer(frame, faces, BackgroundMode.ASYNC, refresh=self.index > 0)
            self.index += 1
        if strength < 1.0:
            out = cv2.addWeighted(out, float(strength), bgr, 1.0 - float(strength), 0.0)
        return np.ascontiguousarray(out[:, :, ::-1])

    def close(self) -> None:
        """Waits for the keyframes and background still being made on the side, then ends their
        threads, the tracker and an engine of its own. Idempotent."""
        with self.lock:
            self.closed = True
            stylizer, tracker, self.stylizer, self.tracker = self.stylizer, self.tracker, None, None
            engine, self._own_engine = (self.engine if self._own_engine else None), False
        try:
            if stylizer is not None:
                stylizer.close()
            if tracker is not None:
                tracker.close()
        finally:
            if engine is not None:
                engine.close()


class Demo:
    """The page's work. `options` are the engine's and the tracker's for every tab (`style` is the
    dropdowns' default; each request names its own). A video upload may be `max_upload_mb` large
    and `max_video_seconds` long.

    Each style's engine is opened once and shared. Photos of a style share one processor (nothing
    is kept from one photo to the next). Each page (`session`) streaming its webcam has a processor
    of its own, since a stream keeps what it saw (tracks, keyframes, the newest background), which
    must never show on another page: it is closed and replaced when the page switches style,
    closed when the page is closed (`end_stream`), and the least recently used is closed when more
    than `MAX_STREAMS` pages stream. `close()` closes everything. `open_engine` (options -> engine)
    and `tracker_factory` replace the real ones."""

    def __init__(
        self,
        options: StylizeOptions | None = None,
        max_upload_mb: float = MAX_UPLOAD_MB,
        max_video_seconds: float = MAX_VIDEO_SECONDS,
        open_engine: Callable[[EngineOptions], StyleEngine] | None = None,
        tracker_factory: Callable[[], FaceTracker] | None = None,
    ) -> None:
        from streamer.pipeline.file_job import StylizeOptions

        self.options = options or StylizeOptions()
        self.max_upload_mb = max_upload_mb
        self.max_video_seconds = max_video_seconds
        self._open_engine = open_engine
        self._tracker_factory = tracker_factory
        self._outputs = Path(tempfile.mkdtemp(prefix="streamer-demo-"))  # one folder per video job
        self._engines: dict[str, StyleEngine] = {}
        self._photos: dict[str, FrameProcessor] = {}
        self._streams: OrderedDict[str, FrameProcessor] = OrderedDict()  # by page, least recently used first
        self._lock = threading.Lock()

    def styles(self) -> list[str]:
        """The styles that can be opened here, as `streamer live` and `streamer serve` offer them."""
        from streamer.engines.registry import available_styles

        return available_styles()

    def _open(self, style: str, static: bool) -> FrameProcessor:
        """A processor for `style` on its shared engine (opened now if it is the first); under `_lock`."""
        try:
            engine = self._engines.get(style)
            if engine is None:
                if self._open_engine is None:
                    from streamer.engines import open_engine

                    self._open_engine = open_engine
                engine = self._engines[style] = self._open_engine(_engine_options(self.options.replace(style=style)))
            return FrameProcessor(style, static, self.options, engine, self._tracker_factory)
        except StreamerError as exc:
            raise refusal(str(exc)) from None

    def _photo(self, style: str) -> FrameProcessor:
        if style not in self.styles():
            raise refusal(f"unknown or uninstalled style {style!r}")
        with self._lock:
            if style not in self._photos:
                self._photos[style] = self._open(style, static=True)
            return self._photos[style]

    def stream(self, session: str, style: str) -> FrameProcessor:
        """The webcam processor of the page `session` in `style` (opened now, replacing the page's
        processor in another style, which is closed)."""
        if style not in self.styles():
            raise refusal(f"unknown or uninstalled style {style!r}")
        retired: list[FrameProcessor] = []
        try:
            with self._lock:
                current = self._streams.get(session)
                if current is not None and current.style == style and not current.closed:
                    self._streams.move_to_end(session)
                    return current
                if current is not None:
                    retired.append(self._streams.pop(session))
                processor = self._streams[session] = self._open(style, static=False)
                while len(self._streams) > MAX_STREAMS:
                    retired.append(self._streams.popitem(last=False)[1])
                return processor
        finally:  # outside the lock: closing waits for the work on a stream's side threads
            for old in retired:
                old.close()

    def end_stream(self, session: str) -> None:
        """The page `session` was closed: close its webcam processor."""
        with self._lock:
            processor = self._streams.pop(session, None)
        if processor is not None:
            processor.close()

    def close(self) -> None:
        """Close every processor and engine."""
        with self._lock:
            processors = [*self._streams.values(), *self._photos.values()]
            engines = list(self._engines.values())
            self._streams.clear()
            self._photos.clear()
            self._engines.clear()
        for processor in processors:
            processor.close()
        for engine in engines:
            engine.close()

    def stylize_frame(self, frame, style: str, strength: float, session: str = ""):
        """One webcam frame of the page `session` (see `FrameProcessor` for what comes back)."""
        if frame is None:
            return None
        try:
            return self.stream(session, style)(frame, strength)
        except StreamClosed:  # closed between the two (its page closed, or too many pages): opened again
            return self.stream(session, style)(frame, strength)

    def stylize_image(self, image, style: str):
        if image is None:
            raise refusal("upload an image first")
        return self._photo(style)(image)

    def stylize_video(self, video, style: str, progress=None):
        """(video path, style) -> path of the stylized video, with the original audio.

        Every refusal is one sentence (`refusal`) that names the upload by its file name only (never
        a path on this machine); an unexpected error is one sentence too, its traceback logged."""
        import gradio as gr

        if not video:
            raise refusal("upload a video first")
        path = Path(video)
        try:
            return self._stylize_video(path, style, progress)
        except StreamerError as exc:
            raise refusal(_without_folders(str(exc), path)) from None
        except gr.Error:
            raise
        except Exception as exc:
            log.error("stylizing the uploaded video %s failed", path.name, exc_info=exc)
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:120]
            raise refusal(f"{path.name} could not be stylized ({_without_folders(first, path)})") from None

    def _stylize_video(self, path: Path, style: str, progress) -> str:
        import gradio as gr

        from streamer.capture.image import is_image_path
        from streamer.pipeline.file_job import stylize_file

        size = path.stat().st_size
        if size == 0:
            raise InvalidInputError(f"{path.name} is empty (0 bytes)")
        if size > self.max_upload_mb * 2**20:
            raise InvalidInputError(f"{path.name} is larger than {self.max_upload_mb:g} MB")
        seconds, rate = _probe(path)
        if seconds > self.max_video_seconds:
            raise InvalidInputError(f"{path.name} is longer than {self.max_video_seconds:g} s ({seconds:.1f} s)")
        if style not in self.styles():
            raise InvalidInputError(f"unknown or uninstalled style {style!r}")
        self._sweep()
        out = Path(tempfile.mkdtemp(dir=self._outputs)) / f"{path.stem}_{style}.mp4"
        # A header may understate the length: stop once the frames pass the cap at the stream's rate.
        most = math.ceil(self.max_video_seconds * rate) + 1
        stop = threading.Event()

        def on_frame(done: int, expected: int) -> None:
            if done > most:
                stop.set()
            if progress is not None and expected:
                progress(min(1.0, done / expected), desc=f"{done}/{expected} frames")

        source = path
        if is_image_path(path):  # a video (its content says so) under an image's name: read as the video it is
            source = out.parent / f"{path.stem}.video"
            source.symlink_to(path.resolve())
        try:
            report = stylize_file(source, out, self.options.replace(style=style), on_frame, stop=stop)
        except BaseException:
            shutil.rmtree(out.parent, ignore_errors=True)
            raise
        if report.interrupted:
            shutil.rmtree(out.parent, ignore_errors=True)
            raise InvalidInputError(f"{path.name} is longer than {self.max_video_seconds:g} s")
        if report.lost_frames or report.damaged_frames:
            gr.Warning(
                f"{path.name} is damaged or truncated: {report.lost_frames + report.damaged_frames} frames did not "
                f"decode, so the stylized video has the {report.frames} that did"
            )
        return str(report.output)

    def _sweep(self, age_s: float = OUTPUT_KEEP_S) -> None:
        """Delete the folders of video jobs older than `age_s` (Gradio has copied each result into
        its own cache as it answered), so that uploads do not fill the disk."""
        import time

        for folder in self._outputs.iterdir():
            try:
                if time.time() - folder.stat().st_mtime > age_s:
                    shutil.rmtree(folder, ignore_errors=True)
            except OSError:
                pass


def _probe(path: Path) -> tuple[float, float]:
    """(seconds of video in `path`, 0 when the file does not say; frames per second, 60 when it does
    not say). `InvalidInputError` (one sentence) when it is not a video: not media, a still image."""
    from streamer.capture.file import FileSource

    with FileSource(path) as source:
        container = source._container
        if any(part in container.format.name for part in _IMAGE_FORMATS):
            raise InvalidInputError(f"{path.name} is a still image, not a video; use the Image tab")
        video = source.video
        rate = float(source.rate) if source.rate else 60.0
        if video.duration and video.time_base:
            return float(video.duration * video.time_base), rate
        return (container.duration or 0) / 1e6, rate


def _without_folders(message: str, upload: Path) -> str:
    """`message` with the upload's folder and the temporary folder left out: the page names files
    by their names only."""
    for folder in sorted({str(upload.parent), tempfile.gettempdir()}, key=len, reverse=True):
        message = message.replace(folder + "/", "")
    return message


def build(demo: Demo | None = None):
    import gradio as gr

    demo = demo or Demo()
    styles = demo.styles()
    default = demo.options.style if demo.options.style in styles else styles[0]
    with gr.Blocks(title="streamer", analytics_enabled=False, delete_cache=(OUTPUT_KEEP_S, OUTPUT_KEEP_S)) as app:
        gr.Markdown("# streamer\nPeople on camera, turned into cartoons.")
        with gr.Tab("Webcam"):
            with gr.Row():
                style = gr.Dropdown(styles, value=default, label="style")
                strength = gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="strength")
            with gr.Row():
                camera = gr.Image(
                    sources=["webcam"],
                    streaming=True,
                    type="numpy",
                    webcam_options=gr.WebcamOptions(mirror=False),
                    label="camera",
                )
                stylized = gr.Image(type="numpy", label="stylized")

            def webcam_frame(frame, style, strength, request):
                return demo.stylize_frame(frame, style, strength, _session(request))

            # Ten frames a second (Gradio's default is two): with temporal reuse a learned style's frame
            # costs tens of ms. A stream is one event whose input each new frame replaces, so a slow
            # frame makes the next ones wait, never a queue.
            camera.stream(
                _with_request(webcam_frame),
                [camera, style, strength],
                stylized,
                concurrency_limit=1,
                api_name="stylize_frame",
                stream_every=WEBCAM_FRAME_S,
                show_progress="hidden",
            )
        with gr.Tab("Video"):
            gr.Markdown(f"Up to {demo.max_upload_mb:g} MB and {demo.max_video_seconds:g} s; the audio is kept.")
            with gr.Row():
                video_in = gr.Video(sources=["upload"], label="video")
                video_out = gr.Video(label="stylized")
            video_style = gr.Dropdown(styles, value=default, label="style")
            run_video = gr.Button("Stylize")

            def video_job(video, style, progress=gr.Progress()):  # noqa: B008 - Gradio's injection idiom
                return demo.stylize_video(video, style, progress)

            run_video.click(video_job, [video_in, video_style], video_out, api_name="stylize_video")
        with gr.Tab("Image"):
            with gr.Row():
                image_in = gr.Image(type="numpy", label="photo")
                image_out = gr.Image(type="numpy", label="stylized")
            image_style = gr.Dropdown(styles, value=default, label="style")
            gr.Button("Stylize").click(demo.stylize_image, [image_in, image_style], image_out, api_name="stylize_image")

        def page_closed(request):
            demo.end_stream(_session(request))

        app.unload(_with_request(page_closed))
    return app


def _with_request(fn):
    """`fn` with its `request` parameter typed as Gradio's request, so that Gradio passes it in (this
    module's annotations are strings, and Gradio is imported only where used)."""
    import gradio as gr

    fn.__annotations__["request"] = gr.Request
    return fn


def _session(request) -> str:
    """The page a request came from (Gradio's session hash)."""
    return getattr(request, "session_hash", None) or ""


def launch(
    host: str = "127.0.0.1",
    port: int = 7860,
    block: bool = True,
    options: StylizeOptions | None = None,
    max_upload_mb: float = MAX_UPLOAD_MB,
    max_video_seconds: float = MAX_VIDEO_SECONDS,
):
    """Serve the page on `host`:`port` (no public link, whatever GRADIO_SHARE says; no monitoring
    page). Any upload larger than `max_upload_mb` is refused by Gradio as it arrives (HTTP 413).
    The page's webcam streams and engines are closed when it stops (blocking) or with the returned
    page's `close()`."""
    demo = Demo(options, max_upload_mb, max_video_seconds)
    app = build(demo)
    app.queue(default_concurrency_limit=2)
    try:
        app.launch(
            server_name=host,
            server_port=port,
            prevent_thread_lock=not block,
            show_error=True,
            share=False,
            enable_monitoring=False,
            max_file_size=math.ceil(max_upload_mb * 2**20),
        )
    except OSError as exc:  # Gradio's word for a port that is taken
        raise DeviceUnavailableError(f"cannot serve on {host}:{port} (in use?); pick another --port") from exc
    except ValueError as exc:  # Gradio asks the page once started, through any proxy set, within 3 s
        if "localhost is not accessible" not in str(exc):
            raise
        app.close()
        raise DeviceUnavailableError(
            f"the page on {host}:{port} started but did not answer Gradio's check (a proxy in http_proxy "
            "without 127.0.0.1 in no_proxy, or a machine too busy to answer within 3 s); try again"
        ) from exc
    if block:  # the page was stopped (Ctrl-C)
        demo.close()
        return app
    close_page = app.close

    def close(*args, **kwargs):
        """The page's `close`, then its streams' and engines'."""
        close_page(*args, **kwargs)
        demo.close()

    app.close = close
    return app
