"""`streamer demo` (Gradio) through its API, as gradio_client uses it; its webcam stream on fake
networks and trackers, as the page calls it."""

import socket
import threading
import time

import numpy as np
import pytest

pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from streamer.server.gradio_app import FrameProcessor, StreamClosed  # noqa: E402

from .fakes import FakeTracker, SlowRunner, engine_of  # noqa: E402
from .media_probe import probe  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def demo_url():
    from streamer.server.gradio_app import launch

    port = _free_port()
    app = launch(port=port, block=False)
    yield f"http://127.0.0.1:{port}/"
    app.close()


def test_upload_api_returns_the_video_stylized_with_its_audio(demo_url, face_clip):
    client = gradio_client.Client(demo_url, verbose=False)
    result = client.predict(gradio_client.handle_file(str(face_clip)), "toon", api_name="/stylize_video")
    path = result["video"] if isinstance(result, dict) else result
    src, out = probe(face_clip), probe(path)
    assert len(out.frame_times) == len(src.frame_times)
    assert out.audio_codecs == ["aac"] and out.audio_packets == src.audio_packets
    assert (out.width, out.height) == (src.width, src.height)


def test_an_upload_that_is_not_a_video_is_one_clear_error(demo_url, tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 100)
    client = gradio_client.Client(demo_url, verbose=False)
    with pytest.raises(gradio_client.exceptions.AppError, match=r"not a video file|not a media file"):
        client.predict(gradio_client.handle_file(str(text)), "toon", api_name="/stylize_video")


def test_image_api(demo_url, tmp_path):
    import cv2

    from streamer.capture.synthetic import Motion, SyntheticSource

    photo = tmp_path / "face.png"
    original = SyntheticSource([Motion((320, 240), scale=1.3)]).render(0)
    cv2.imwrite(str(photo), original)
    client = gradio_client.Client(demo_url, verbose=False)
    result = client.predict(gradio_client.handle_file(str(photo)), "toon", api_name="/stylize_image")
    stylized = cv2.imread(result if isinstance(result, str) else result["path"])
    assert stylized.shape == original.shape
    assert np.abs(stylized.astype(int) - original.astype(int)).mean() > 5


# -- the webcam stream ----------------------------------------------------------------------------
FRAMES = 24


@pytest.fixture(scope="module")
def webcam() -> list[tuple[np.ndarray, np.ndarray]]:
    """A webcam's pictures as the page sends them (RGB) and the face's 5 points in each: a face that
    sways, under a light that steps up and down every 6 frames (so its keyframe stops explaining it)."""
    from streamer.capture.synthetic import Motion, SyntheticSource

    source = SyntheticSource([Motion((160, 120), scale=0.6, sway=(12.0, 6.0), period=1.0)], size=(320, 240), noise=2.0)
    frames = []
    for i in range(FRAMES):
        light = 1.25 if (i // 6) % 2 else 1.0
        bgr = np.clip(source.render(i) * light, 0, 255).astype(np.uint8)
        frames.append((np.ascontiguousarray(bgr[:, :, ::-1]), source.ground_truth(i)[0]))
    return frames


class MovingTracker:
    """Finds the `webcam` fixture's face where it is in each frame, frames taken in order (round)."""

    def __init__(self, webcam) -> None:
        self.points = [points for _, points in webcam]
        self.seen = 0

    def update(self, image, t):
        points = self.points[self.seen % len(self.points)]
        self.seen += 1
        return FakeTracker([points]).update(image, t)

    def close(self) -> None:
        pass


class GatedRunner(SlowRunner):
    """A learned network that takes long: its first `free` batches are made at once (255 - the
    input), the next ones wait until the test opens `gate`. `waiting`: one is waiting. A frame that
    waited for one would hold the test's frames until the network gives up (`gave_up`, after
    `GIVE_UP_S`), which the tests assert never happened."""

    GIVE_UP_S = 60.0

    def __init__(self, free: int) -> None:
        super().__init__()
        self.free = free
        self.gate, self.waiting = threading.Event(), threading.Event()
        self.gave_up = False

    def _run(self, image):
        if self.calls >= self.free:
            self.waiting.set()
            self.gave_up |= not self.gate.wait(self.GIVE_UP_S)
        return super()._run(image)


def _stream(webcam, heads=None, background=None, temporal: str = "auto", style: str = "learned"):
    """The webcam tab's processor for `style` on fake networks (instant ones by default)."""
    from streamer.pipeline.file_job import StylizeOptions

    engine = engine_of(heads or SlowRunner(), background or SlowRunner(), style=style)
    options = StylizeOptions(temporal=temporal)
    return FrameProcessor(style, options=options, engine=engine, tracker_factory=lambda: MovingTracker(webcam))


def _stylized_face(out: np.ndarray, rgb: np.ndarray, points: np.ndarray) -> bool:
    """Whether `out` is not the camera picture `rgb` over the face at `points` (the fake networks
    invert what they stylize)."""
    x0, y0 = points.min(axis=0).astype(int)
    x1, y1 = points.max(axis=0).astype(int)
    face = np.s_[y0 : y1 + 1, x0 : x1 + 1]
    return out.shape == rgb.shape and np.abs(out[face].astype(int) - rgb[face].astype(int)).mean() > 40


def _side_threads() -> set[threading.Thread]:
    """The threads that make keyframes, mouth patches and backgrounds beside the frames."""
    return {t for t in threading.enumerate() if t.name.startswith(("keyframes", "mouths", "background"))}


def test_a_learned_style_s_webcam_stream_stylizes_few_keyframes_and_carries_them(webcam):
    heads = SlowRunner()
    stream = _stream(webcam, heads)
    try:
        assert stream.reuse is not None, "temporal auto: reuse for a learned style"
        for rgb, points in webcam:
            assert _stylized_face(stream(rgb), rgb, points)
        assert 1 < stream.reuse.keyframes <= 1 + FRAMES // 4, "a keyframe when the light changed, at most every 4"
    finally:
        stream.close()


def test_temporal_off_stylizes_every_head_on_every_frame(webcam):
    heads = SlowRunner()
    stream = _stream(webcam, heads, temporal="off")
    try:
        assert stream.reuse is None
        for rgb, points in webcam:
            assert _stylized_face(stream(rgb), rgb, points)
        assert heads.calls == FRAMES, "one batch of heads per frame"
    finally:
        stream.close()


def test_a_photo_is_stylized_whole_even_in_a_learned_style(webcam):
    heads = SlowRunner()
    faces = iter([points] for _, points in webcam)  # each photo gets a fresh tracker
    photo = FrameProcessor(
        "learned", static=True, engine=engine_of(heads), tracker_factory=lambda: FakeTracker(next(faces))
    )
    try:
        assert photo.reuse is None
        for rgb, points in webcam[:3]:
            assert _stylized_face(photo(rgb), rgb, points)
        assert heads.calls == 3
        assert photo.stylizer is not None and photo.stylizer.background_short_side is None, "a photo at full size"
    finally:
        photo.close()


def test_a_webcam_stream_stylizes_its_background_at_live_size():
    sizes = []

    class Sized(SlowRunner):
        def _run(self, image):
            sizes.append(image.shape[1:3])
            return super()._run(image)

    stream = FrameProcessor("learned", engine=engine_of(background=Sized()), tracker_factory=lambda: FakeTracker([]))
    try:
        stream(np.zeros((480, 640, 3), np.uint8))
        assert sizes == [(360, 480)], "the short side at 360, as `streamer live`"
    finally:
        stream.close()


def test_no_webcam_frame_waits_for_a_learned_head_network(webcam):
    before = _side_threads()
    heads = GatedRunner(free=1)  # the face's first keyframe on its first frame; then the network is slow
    stream = _stream(webcam, heads)
    assert stream.reuse is not None
    try:
        for rgb, points in webcam:  # the light changes: a keyframe is asked for, and waits; frames go on
            assert _stylized_face(stream(rgb), rgb, points)
        assert heads.waiting.is_set() and stream.reuse.keyframes == 1, "the new keyframe is still being made"
        assert not heads.gave_up, "no frame waited for it"
        heads.gate.set()
        for rgb, points in webcam * 20:  # until it arrives
            assert _stylized_face(stream(rgb), rgb, points)
            if stream.reuse.keyframes > 1:
                break
            time.sleep(0.01)
        assert stream.reuse.keyframes > 1
        assert _side_threads() - before, "keyframes on a thread of their own"
    finally:
        heads.gate.set()
        stream.close()
    assert not _side_threads() - before, "closing the processor ends its side threads"
    with pytest.raises(StreamClosed):
        stream(webcam[0][0])


def test_no_webcam_frame_waits_for_a_learned_background_nor_goes_out_as_captured(webcam):
    background = GatedRunner(free=1)  # the stream's first background on its first frame; then slow
    stream = _stream(webcam, background=background)
    corner = np.s_[:40, :40]  # far from the face
    try:
        for rgb, points in webcam:
            out = stream(rgb)
            assert _stylized_face(out, rgb, points)
            assert np.abs(out[corner].astype(int) - rgb[corner].astype(int)).mean() > 40, "a stylized background"
        assert background.waiting.is_set(), "the picture changed: a newer background is being made"
        assert not background.gave_up, "no frame waited for it"
    finally:
        background.gate.set()
        stream.close()


def test_the_built_in_style_streams_every_frame_on_auto_and_carries_keyframes_when_told():
    from streamer.capture.synthetic import Motion, SyntheticSource
    from streamer.pipeline.file_job import StylizeOptions

    source = SyntheticSource([Motion((160, 120), scale=0.6)], size=(320, 240), noise=2.0)
    rgb, points = np.ascontiguousarray(source.render(0)[:, :, ::-1]), source.ground_truth(0)[0]
    auto = FrameProcessor("toon", tracker_factory=lambda: FakeTracker([points]))
    told = FrameProcessor(
        "toon", options=StylizeOptions(temporal="reuse"), tracker_factory=lambda: FakeTracker([points])
    )
    try:
        assert auto.reuse is None and told.reuse is not None
        for _ in range(6):
            for stream in (auto, told):
                out = stream(rgb)
                assert out.shape == rgb.shape and np.abs(out.astype(int) - rgb.astype(int)).mean() > 5
        assert told.reuse.keyframes == 1, "a still face keeps its keyframe"
    finally:
        auto.close()
        told.close()


def test_each_page_streams_on_a_processor_of_its_own_closed_when_replaced_or_the_page_closes(webcam):
    from streamer.pipeline.file_job import StylizeOptions
    from streamer.server.gradio_app import MAX_STREAMS, Demo

    opened: list[str] = []

    def open_engine(options):
        opened.append(options.style)
        return engine_of(style=options.style)

    def send(page: str, style: str) -> FrameProcessor:
        """A page's webcam in `style`, all the fixture's frames: keyframes, patches and backgrounds
        are made on the side."""
        for rgb, points in webcam:
            assert _stylized_face(demo.stylize_frame(rgb, style, 1.0, page), rgb, points)
        return demo.stream(page, style)

    before = _side_threads()
    demo = Demo(
        StylizeOptions(temporal="reuse"), open_engine=open_engine, tracker_factory=lambda: MovingTracker(webcam)
    )
    try:
        switched = [send("page a", style) for style in ("toon", "poster") * 3]  # switching back and forth
        assert all(old.closed for old in switched[:-1]) and not switched[-1].closed
        a = switched[-1]
        assert a.reuse is not None and a.reuse.keyframes > 1
        b = send("page b", "poster")
        assert b is not a, "another page: its own tracks, keyframes and background"
        assert opened == ["toon", "poster"], "each style's engine opened once and shared"
        assert 0 < len(_side_threads() - before) <= 2 * 3, "two pages' side threads; the switches left none"
        demo.end_stream("page a")
        assert a.closed and list(demo._streams) == ["page b"]
        for i in range(MAX_STREAMS + 2):
            demo.stylize_frame(webcam[0][0], "toon", 1.0, f"page {i}")
        assert len(demo._streams) == MAX_STREAMS and b.closed, "the least recently used closed"
    finally:
        demo.close()
    assert not _side_threads() - before, "closing the page's work ends every side thread"


def test_the_page_gives_each_webcam_stream_its_page_and_closes_it_with_the_page(webcam):
    """As Gradio calls the page's functions: the webcam's with the request of the page it streams
    from, the page's unload function when that page is closed."""
    import gradio as gr
    from gradio.helpers import special_args

    from streamer.pipeline.file_job import StylizeOptions
    from streamer.server.gradio_app import Demo, build

    rgb, points = webcam[0]
    demo = Demo(
        StylizeOptions(temporal="reuse"),
        open_engine=lambda o: engine_of(style=o.style),
        tracker_factory=lambda: FakeTracker([points]),
    )
    app = build(demo)
    by_event = {event: fn.fn for fn in app.fns.values() for _, event in fn.targets}
    try:
        for page in ("page a", "page b"):
            args, *_ = special_args(by_event["stream"], [rgb, "toon", 1.0], request=gr.Request(session_hash=page))
            assert _stylized_face(by_event["stream"](*args), rgb, points)
        a = demo.stream("page a", "toon")
        assert a is not demo.stream("page b", "toon")
        args, *_ = special_args(by_event["unload"], [], request=gr.Request(session_hash="page a"))
        by_event["unload"](*args)
        assert a.closed and list(demo._streams) == ["page b"]
    finally:
        demo.close()
