"""`streamer demo`: try streamer in a browser (Gradio), on 127.0.0.1 by default.

Tabs: Webcam (streaming, style and strength), Video (upload a clip, get it back stylized with its
audio; API name `stylize_video`), Image. Bad uploads show a Gradio error with one sentence.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from streamer.errors import DeviceUnavailableError, StreamerError

if TYPE_CHECKING:  # imported when used: it brings PyAV and MediaPipe
    from streamer.pipeline.file_job import StylizeOptions

MAX_UPLOAD_MB = 200
MAX_VIDEO_SECONDS = 300


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
    dropdowns' default; each request names its own)."""

    def __init__(self, options: StylizeOptions | None = None) -> None:
        from streamer.pipeline.file_job import StylizeOptions

        self.options = options or StylizeOptions()
        self._processors: dict[tuple[str, bool], FrameProcessor] = {}
        self._lock = threading.Lock()

    def styles(self) -> list[str]:
        """The styles that can be opened here, as `streamer live` and `streamer serve` offer them."""
        from streamer.engines.registry import available_styles

        return available_styles()

    def _processor(self, style: str, static: bool) -> FrameProcessor:
        import gradio as gr

        if style not in self.styles():
            raise gr.Error(f"unknown or uninstalled style {style!r}")
        with self._lock:
            key = (style, static)
            if key not in self._processors:
                try:
                    self._processors[key] = FrameProcessor(style, static, self.options)
                except StreamerError as exc:
                    raise gr.Error(str(exc)) from None
            return self._processors[key]

    def stylize_frame(self, frame, style: str, strength: float):
        if frame is None:
            return None
        return self._processor(style, static=False)(frame, strength)

    def stylize_image(self, image, style: str):
        import gradio as gr

        if image is None:
            raise gr.Error("upload an image first")
        return self._processor(style, static=True)(image)

    def stylize_video(self, video, style: str, progress=None):
        """(video path, style) -> path of the stylized video, with the original audio."""
        import gradio as gr

        from streamer.pipeline.file_job import stylize_file

        if not video:
            raise gr.Error("upload a video first")
        path = Path(video)
        if path.stat().st_size > MAX_UPLOAD_MB * 2**20:
            raise gr.Error(f"the video is larger than {MAX_UPLOAD_MB} MB")
        try:
            seconds = _duration(path)
        except StreamerError as exc:
            raise gr.Error(str(exc)) from None
        if seconds > MAX_VIDEO_SECONDS:
            raise gr.Error(f"the video is longer than {MAX_VIDEO_SECONDS} s")
        if style not in self.styles():
            raise gr.Error(f"unknown or uninstalled style {style!r}")
        out = Path(tempfile.mkdtemp(prefix="streamer-")) / f"{path.stem}_{style}.mp4"

        def on_frame(done: int, expected: int) -> None:
            if progress is not None and expected:
                progress(min(1.0, done / expected), desc=f"{done}/{expected} frames")

        try:
            report = stylize_file(path, out, self.options.replace(style=style), on_frame)
        except StreamerError as exc:
            raise gr.Error(str(exc)) from None
        return str(report.output)


def _duration(path: Path) -> float:
    """Seconds of video in `path`; `InvalidInputError` when it is not a video."""
    from streamer.capture.file import FileSource

    with FileSource(path) as source:
        video = source.video
        if video.duration and video.time_base:
            return float(video.duration * video.time_base)
        container = source._container
        return (container.duration or 0) / 1e6


def build(demo: Demo | None = None):
    import gradio as gr

    demo = demo or Demo()
    styles = demo.styles()
    default = demo.options.style if demo.options.style in styles else styles[0]
    with gr.Blocks(title="streamer") as app:
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
            gr.Markdown(f"Up to {MAX_UPLOAD_MB} MB and {MAX_VIDEO_SECONDS} s; the audio is kept.")
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


def launch(host: str = "127.0.0.1", port: int = 7860, block: bool = True, options: StylizeOptions | None = None):
    app = build(Demo(options))
    app.queue(default_concurrency_limit=2)
    try:
        app.launch(server_name=host, server_port=port, prevent_thread_lock=not block, show_error=True)
    except OSError as exc:  # Gradio's word for a port that is taken
        raise DeviceUnavailableError(f"cannot serve on {host}:{port} (in use?); pick another --port") from exc
    return app
