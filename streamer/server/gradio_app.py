"""`streamer demo`: try streamer in a browser (Gradio), on 127.0.0.1:7860 by default.

Tabs: Webcam (streaming, style and strength; API name `stylize_frame`), Video (upload a clip, get it
back stylized with its audio; `stylize_video`), Image (`stylize_image`).

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
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from streamer.errors import DeviceUnavailableError, InvalidInputError, StreamerError

if TYPE_CHECKING:  # imported when used: it brings PyAV and MediaPipe
    from streamer.pipeline.file_job import StylizeOptions

log = logging.getLogger("streamer")

MAX_UPLOAD_MB = 200
MAX_VIDEO_SECONDS = 300
# How long a video job's result is kept here; Gradio's cache keeps its copies as long (`build`).
OUTPUT_KEEP_S = 3600
# A container's image formats (FFmpeg's demuxers for single pictures): a still image, not a video.
_IMAGE_FORMATS = ("image2", "_pipe")


def refusal(message: str):
    """The Gradio error for a user's mistake: its one sentence in the page, no traceback in the log."""
    import gradio as gr

    return gr.Error(message, print_exception=False)


class FrameProcessor:
    """Tracker + engine + stylizer for one style. The webcam stream keeps its tracker from frame to
    frame; a photo (`static`) is unrelated to the last one, so it gets a fresh tracker."""

    def __init__(self, style: str, static: bool = False, options: StylizeOptions | None = None) -> None:
        from streamer.engines import open_engine
        from streamer.pipeline.file_job import StylizeOptions
        from streamer.pipeline.stylizer import open_frame_stylizer

        self.options = (options or StylizeOptions()).replace(style=style)
        # One frame at a time: each network may use two cores.
        self.engine = open_engine(self.options.engine_options().replace(threads=max(2, self.options.threads)))
        self.stylizer = open_frame_stylizer(self.engine)  # the GPU path where there is one
        self.static = static
        self.tracker = None if static else self._new_tracker()
        self.lock = threading.Lock()
        self.index = 0

    def _new_tracker(self):
        from streamer.tracking.tracker import FaceTracker, TrackerOptions

        return FaceTracker(TrackerOptions(max_faces=self.options.max_faces, detect_every=self.options.detect_every))

    def __call__(self, rgb: np.ndarray, strength: float = 1.0) -> np.ndarray:
        from fractions import Fraction

        import cv2

        from streamer.frame import Frame

        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        with self.lock:
            frame = Frame(bgr, self.index, Fraction(1, 30), self.index)
            if self.static:
                with self._new_tracker() as tracker:
                    faces = tracker.update(bgr, 0.0)
            else:
                assert self.tracker is not None, "a streaming processor keeps its tracker"
                faces = self.tracker.update(bgr, self.index / 30)
            out = self.stylizer(frame, faces)
            self.index += 1
        if strength < 1.0:
            out = cv2.addWeighted(out, float(strength), bgr, 1.0 - float(strength), 0.0)
        return np.ascontiguousarray(out[:, :, ::-1])


class Demo:
    """The page's work. `options` are the engine's and the tracker's for every tab (`style` is the
    dropdowns' default; each request names its own). A video upload may be `max_upload_mb` large
    and `max_video_seconds` long."""

    def __init__(
        self,
        options: StylizeOptions | None = None,
        max_upload_mb: float = MAX_UPLOAD_MB,
        max_video_seconds: float = MAX_VIDEO_SECONDS,
    ) -> None:
        from streamer.pipeline.file_job import StylizeOptions

        self.options = options or StylizeOptions()
        self.max_upload_mb = max_upload_mb
        self.max_video_seconds = max_video_seconds
        self._outputs = Path(tempfile.mkdtemp(prefix="streamer-demo-"))  # one folder per video job
        self._processors: dict[tuple[str, bool], FrameProcessor] = {}
        self._lock = threading.Lock()

    def styles(self) -> list[str]:
        """The styles that can be opened here, as `streamer live` and `streamer serve` offer them."""
        from streamer.engines.registry import available_styles

        return available_styles()

    def _processor(self, style: str, static: bool) -> FrameProcessor:
        if style not in self.styles():
            raise refusal(f"unknown or uninstalled style {style!r}")
        with self._lock:
            key = (style, static)
            if key not in self._processors:
                try:
                    self._processors[key] = FrameProcessor(style, static, self.options)
                except StreamerError as exc:
                    raise refusal(str(exc)) from None
            return self._processors[key]

    def stylize_frame(self, frame, style: str, strength: float):
        if frame is None:
            return None
        return self._processor(style, static=False)(frame, strength)

    def stylize_image(self, image, style: str):
        if image is None:
            raise refusal("upload an image first")
        return self._processor(style, static=True)(image)

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
            camera.stream(
                demo.stylize_frame, [camera, style, strength], stylized, concurrency_limit=1, api_name="stylize_frame"
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
    return app


def launch(
    host: str = "127.0.0.1",
    port: int = 7860,
    block: bool = True,
    options: StylizeOptions | None = None,
    max_upload_mb: float = MAX_UPLOAD_MB,
    max_video_seconds: float = MAX_VIDEO_SECONDS,
):
    """Serve the page on `host`:`port` (no public link, whatever GRADIO_SHARE says; no monitoring
    page). Any upload larger than `max_upload_mb` is refused by Gradio as it arrives (HTTP 413)."""
    app = build(Demo(options, max_upload_mb, max_video_seconds))
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
    return app
