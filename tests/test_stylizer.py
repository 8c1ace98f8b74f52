"""The one frame stylizer: its background modes, stage times and head preparation, checked on both
device parts (NumPy/OpenCV and torch tensors, here on the CPU) with the same expectations."""

from __future__ import annotations

import threading
from fractions import Fraction

import cv2
import numpy as np
import pytest

from streamer.engines.base import DCTNET_LAYOUT, StyleEngine
from streamer.engines.runner import Runner, TensorSpec
from streamer.frame import Frame
from streamer.pipeline.cpu_device import CpuFrameDevice
from streamer.pipeline.quality import BackgroundMode
from streamer.pipeline.stylizer import FrameStylizer, open_frame_stylizer

from .fakes import FakeClock

IMAGE = TensorSpec("image", np.dtype(np.uint8), (None, None, None, 3))
STYLIZE, ASYNC, ORIGINAL, PROBE = (
    BackgroundMode.STYLIZE,
    BackgroundMode.ASYNC,
    BackgroundMode.ORIGINAL,
    BackgroundMode.PROBE,
)


class InvertRunner(Runner):
    """255 - image, as NumPy and as tensors. Each call costs `cost_s` on `clock`, records the image
    size, and, while `gate` is set to an unset Event, waits for it (then `held` is True)."""

    backend = "fake"
    inputs = (IMAGE,)
    outputs = (TensorSpec("stylized", np.dtype(np.uint8), (None, None, None, 3)),)
    takes_tensors = True

    def __init__(self, clock: FakeClock | None = None, cost_s: float = 0.0) -> None:
        self.clock, self.cost_s = clock, cost_s
        self.sizes: list[tuple[int, int]] = []
        self.gate: threading.Event | None = None
        self.held = threading.Event()

    def _run(self, image):
        self.sizes.append(tuple(image.shape[1:3]))
        if self.gate is not None:
            self.held.set()
            assert self.gate.wait(30), "the test never released the runner"
            self.held.clear()
        if self.clock is not None:
            self.clock.advance(self.cost_s)
        return 255 - image

    def infer_impl(self, feed):
        return {"stylized": self._run(feed["image"])}

    def infer_tensor(self, image, stream=None):
        return self._run(image)


def _engine(heads: Runner, background: Runner | None = None, **kw) -> StyleEngine:
    mask = np.ones((DCTNET_LAYOUT.size,) * 2, np.float32)
    return StyleEngine("invert", heads, background, DCTNET_LAYOUT, mask, **kw)


@pytest.fixture(params=["numpy", "torch"])
def device_kind(request) -> str:
    if request.param == "torch":
        torch = pytest.importorskip("torch")
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        request.addfinalizer(lambda: torch.set_num_threads(threads))
    return request.param


def _stylizer(kind: str, engine: StyleEngine, clock: FakeClock | None = None, parallel: bool = True):
    timing = {"clock": clock} if clock is not None else {}
    if kind == "numpy":
        device = CpuFrameDevice(engine, parallel=parallel, **timing)
    else:
        from streamer.pipeline.gpu import TorchFrameDevice

        device = TorchFrameDevice(engine, "cpu", **timing)
    return FrameStylizer(engine, device)


def _flat(value: int) -> np.ndarray:
    return np.full((64, 96, 3), value, np.uint8)


def test_each_background_mode_gives_the_picture_it_promises(device_kind):
    runner = InvertRunner()
    stylizer = _stylizer(device_kind, _engine(runner, runner))
    assert (stylizer.stylize(_flat(40), [], STYLIZE) == 215).all(), "stylize: this frame's background"
    assert (stylizer.stylize(_flat(40), [], ORIGINAL) == 40).all(), "original: the frame as captured"
    assert (stylizer.stylize(_flat(40), [], PROBE) == 40).all(), "probe: the frame as captured"
    stylizer.close()


def test_without_a_background_network_every_mode_keeps_the_background_as_captured(device_kind):
    stylizer = _stylizer(device_kind, _engine(InvertRunner()))
    for mode in BackgroundMode:
        times: dict[str, float] = {}
        assert (stylizer.stylize(_flat(40), [], mode, stage_ms=times) == 40).all(), mode
        assert "background" not in times
    stylizer.close()


def test_async_shows_the_newest_finished_background_and_never_waits_for_the_next(device_kind):
    runner = InvertRunner()
    stylizer = _stylizer(device_kind, _engine(runner, runner))
    times: dict[str, float] = {}
    assert (stylizer.stylize(_flat(40), [], ASYNC, refresh=False, stage_ms=times) == 215).all(), "none yet: made now"
    assert "background" in times
    runner.gate = threading.Event()  # from now on the network holds until released
    assert (stylizer.stylize(_flat(200), [], ASYNC, refresh=False) == 215).all(), "no refresh: the old one stays"
    assert (stylizer.stylize(_flat(200), [], ASYNC, refresh=True) == 215).all(), "the refresh is not waited for"
    assert (stylizer.stylize(_flat(200), [], ASYNC, refresh=False) == 215).all(), "nor is it by the next frame"
    assert runner.held.wait(10), "the refresh is being made on the side"
    runner.gate.set()
    stylizer.side_background.result()
    times = {}
    assert (stylizer.stylize(_flat(200), [], ASYNC, refresh=False, stage_ms=times) == 55).all(), "then it shows"
    assert "background" in times, "a finished side background reports its time"
    stylizer.close()


class _WaitSpy:
    """Wraps a device part and records what each `compose` was told to wait for."""

    def __init__(self, device) -> None:
        self.device, self.waits = device, []

    def __getattr__(self, name):
        return getattr(self.device, name)

    def compose(self, canvas, heads, matrices, wait_for):
        self.waits.append(wait_for is not None)
        return self.device.compose(canvas, heads, matrices, wait_for)


def test_compositing_waits_only_for_a_background_made_for_its_frame(device_kind):
    runner = InvertRunner()
    stylizer = _stylizer(device_kind, _engine(runner, runner))
    spy = stylizer.device = _WaitSpy(stylizer.device)
    stylizer.stylize(_flat(40), [], STYLIZE)
    stylizer.stylize(_flat(40), [], ORIGINAL)
    assert spy.waits == [True, False]
    fresh = _stylizer(device_kind, _engine(runner, runner))
    spy = fresh.device = _WaitSpy(fresh.device)
    fresh.stylize(_flat(40), [], ASYNC, refresh=True)  # none yet: made now, and waited for
    fresh.side_background.result()
    fresh.stylize(_flat(40), [], ASYNC, refresh=True)  # takes the finished one, starts another
    fresh.stylize(_flat(40), [], PROBE)
    assert spy.waits == [True, False, False]
    stylizer.close()
    fresh.close()


def test_a_probe_keeps_the_frame_as_captured_and_measures_the_background(device_kind):
    clock = FakeClock()
    runner = InvertRunner(clock, cost_s=0.05)
    stylizer = _stylizer(device_kind, _engine(runner, runner), clock)
    assert (stylizer.stylize(_flat(40), [], PROBE) == 40).all()
    stylizer.side_background.result()
    times: dict[str, float] = {}
    assert (stylizer.stylize(_flat(40), [], PROBE, refresh=False, stage_ms=times) == 40).all()
    assert times["background"] == pytest.approx(50.0)
    stylizer.close()


class ConstantRunner(InvertRunner):
    """A fallback background network that paints everything `value`."""

    def __init__(self, value: int) -> None:
        super().__init__()
        self.value = value

    def _run(self, image):
        return np.full_like(image, self.value) if isinstance(image, np.ndarray) else image * 0 + self.value


def test_the_fallback_network_shows_where_asked_and_a_switch_never_shows_the_frame_as_captured():
    """ASYNC with `fallback` shows the fallback network's background (made now when there is none).
    Switched back to the style's own, the fallback's stays on screen until the own one, started on
    the side at once, has finished; a probe from a fallback frame times the own one without showing it."""
    runner = InvertRunner()
    engine = _engine(runner, runner)
    engine.set_fallback_background(ConstantRunner(7))
    stylizer = _stylizer("numpy", engine)
    times: dict[str, float] = {}
    assert (stylizer.stylize(_flat(40), [], ASYNC, refresh=False, stage_ms=times, fallback=True) == 7).all()
    assert set(times) >= {"fallback_background"} and "background" not in times
    runner.gate = threading.Event()  # the style's own network holds until released
    assert (stylizer.stylize(_flat(40), [], ASYNC, refresh=False) == 7).all(), "the fallback's, while ..."
    assert runner.held.wait(10), "... the own one is made on the side"
    runner.gate.set()
    stylizer.side_background.result()
    times = {}
    assert (stylizer.stylize(_flat(40), [], ASYNC, refresh=False, stage_ms=times) == 215).all(), "then the own one"
    assert "background" in times
    # A probe from a fallback frame: the fallback's is shown, the own one is made on the side.
    stylizer.stylize(_flat(40), [], ASYNC, fallback=True, refresh=True)  # the fallback's, refreshed
    stylizer.side_background.result()
    out = stylizer.stylize(_flat(90), [], ASYNC, 0.5, refresh=True, fallback=True, side_fallback=False)
    assert (out == 7).all()
    stylizer.side_background.result()
    times = {}
    assert (stylizer.stylize(_flat(90), [], ASYNC, refresh=False, fallback=True, stage_ms=times) == 7).all()
    assert "background" in times and stylizer.background_factor_done == 0.5, "the probe's time, and its size"
    stylizer.close()


def _room(shift: int) -> np.ndarray:
    """A textured 320x240 room seen by a camera panned `shift` pixels to the right."""
    rng = np.random.default_rng(5)
    texture = cv2.resize(rng.integers(0, 255, (20, 30, 3), np.uint8), (480, 320), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(texture[40:280, 40 + shift : 360 + shift])


def test_a_panning_camera_carries_the_shown_background_with_it_and_a_still_one_shows_it_as_made():
    """A background made from frame 0 and shown on later frames of a camera panning 4 px a frame is
    moved with the room: it matches what stylizing each frame would give far better than the one
    made from frame 0 does. A still camera shows the background exactly as it was made."""
    runner = InvertRunner()
    stylizer = _stylizer("numpy", _engine(runner, runner))
    stylizer.stylize(_room(0), [], ASYNC, refresh=False)  # none yet: made from frame 0
    inner = (slice(20, 220), slice(40, 280))
    for frame in range(1, 6):
        times: dict[str, float] = {}
        out = stylizer.stylize(_room(4 * frame), [], ASYNC, refresh=False, stage_ms=times).astype(float)
        wanted = 255.0 - _room(4 * frame)
        carried = np.abs(out - wanted)[inner].mean()
        as_made = np.abs(255.0 - _room(0) - wanted)[inner].mean()
        assert carried < 0.25 * as_made, (frame, carried, as_made)
        assert "background_warp" in times
    still = _stylizer("numpy", _engine(runner, runner))
    first = still.stylize(_room(0), [], ASYNC, refresh=False)
    assert np.array_equal(still.stylize(_room(0), [], ASYNC, refresh=False), first)
    stylizer.close()
    still.close()


def test_without_a_fallback_network_asking_for_it_gives_the_styles_own(device_kind):
    runner = InvertRunner()
    stylizer = _stylizer(device_kind, _engine(runner, runner))
    assert (stylizer.stylize(_flat(40), [], ASYNC, fallback=True) == 215).all()
    stylizer.close()


def test_a_lower_background_factor_stylizes_a_smaller_background(device_kind):
    runner = InvertRunner()
    stylizer = _stylizer(device_kind, _engine(runner, runner))
    stylizer.stylize(np.zeros((320, 480, 3), np.uint8), [], background_factor=0.5)
    assert runner.sizes == [(160, 240)]
    stylizer.close()


def test_stage_times_cover_heads_background_and_compose(device_kind):
    from streamer.capture.synthetic import Motion, SyntheticSource
    from streamer.tracking.alignment import similarity_transform

    clock = FakeClock()
    heads, background = InvertRunner(clock, cost_s=0.02), InvertRunner(clock, cost_s=0.03)
    stylizer = _stylizer(device_kind, _engine(heads, background), clock, parallel=False)
    source = SyntheticSource([Motion((320, 240), scale=1.2)])
    matrices = [similarity_transform(p, DCTNET_LAYOUT.template) for p in source.ground_truth(0)]
    times: dict[str, float] = {}
    stylizer.stylize(source.render(0), matrices, stage_ms=times)
    assert times == pytest.approx({"heads": 20.0, "background": 30.0, "compose": 0.0})
    stylizer.close()


def test_a_frame_records_its_stage_times_and_heads_land_where_the_faces_are(device_kind):
    from streamer.capture.synthetic import Motion, SyntheticSource
    from streamer.tracking.tracker import TrackedFace

    runner = InvertRunner()
    stylizer = _stylizer(device_kind, _engine(runner))
    source = SyntheticSource([Motion((320, 240), scale=1.2)])
    image = source.render(0)
    faces = [TrackedFace(0, p, p, (0, 0, 1, 1)) for p in source.ground_truth(0)]
    frame = Frame(image, 0, Fraction(1, 30), 0)
    out = stylizer(frame, faces)
    assert set(frame.stage_ms) == {"heads", "compose"}
    nose = source.ground_truth(0)[0][2].astype(int)
    assert np.abs(out[nose[1], nose[0]].astype(int) - (255 - image[nose[1], nose[0]].astype(int))).max() <= 2
    assert (out[:5, :5] == image[:5, :5]).all(), "far from the face the frame is untouched"
    stylizer.close()


class _HalfSegmenter:
    """A person mask: the left half of each crop."""

    def masks(self, crops: np.ndarray) -> np.ndarray:
        out = np.zeros(crops.shape[:3], np.float32)
        out[:, :, : crops.shape[2] // 2] = 1.0
        return out


def test_a_family_that_segments_heads_gets_crops_on_white_from_the_segmenter_it_is_given():
    seen = []

    class Recording(InvertRunner):
        def infer_impl(self, feed):
            seen.append(feed["image"].copy())
            return super().infer_impl(feed)

    engine = _engine(Recording(), segments_heads=True)
    assert engine.capabilities.segments_heads
    with pytest.raises(ValueError, match="segmenter"):
        CpuFrameDevice(engine)
    device = CpuFrameDevice(engine, segmenter=_HalfSegmenter())
    heads, _ = device.stylize_heads(np.zeros((480, 640, 3), np.uint8), [np.array([[1.0, 0, 0], [0, 1.0, 0]])], [0], {})
    half = DCTNET_LAYOUT.size // 2
    assert (seen[0][0, :, :half] == 0).all() and (seen[0][0, :, half:] == 255).all(), "outside the person: white"
    _stylized, masks = heads
    assert (masks[0, :, half:] == 0).all(), "the pasted head is limited to the person"


def test_with_reuse_a_segmenting_family_is_segmented_at_keyframes_only_and_its_mask_carried():
    """photo2cartoon with temporal reuse: the segmenter runs with the head network at keyframes, not
    on every frame, and the person mask it gave travels with the carried head."""
    from streamer.pipeline.cpu_device import SegmentedHeads
    from streamer.pipeline.reuse import HeadReuse

    class Counting(_HalfSegmenter):
        calls = 0

        def masks(self, crops):
            Counting.calls += len(crops)
            return super().masks(crops)

    engine = _engine(InvertRunner(), segments_heads=True)
    segmenter = Counting()
    reuse = HeadReuse(SegmentedHeads(engine, segmenter), engine.layout, engine.head_mask, channels=4)
    device = CpuFrameDevice(engine, segmenter=segmenter, reuse=reuse)
    rng = np.random.default_rng(2)
    picture = cv2.resize(rng.integers(0, 255, (30, 40, 3), np.uint8), (640, 480), interpolation=cv2.INTER_CUBIC)
    half = DCTNET_LAYOUT.size // 2
    for frame in range(6):
        shift = np.array([[1.0, 0, -100 - frame], [0, 1.0, -80]])  # the face moves a pixel a frame
        (heads, masks), _ = device.stylize_heads(picture, [shift], [0], {})
        assert heads.shape == (1, DCTNET_LAYOUT.size, DCTNET_LAYOUT.size, 3)
        assert (masks[0, :, half + 8 :] == 0).all() and masks[0, 144, half - 40] > 0.9, "the person's half only"
    assert reuse.keyframes == 1 and Counting.calls == 1, "segmented once, with the one keyframe"


def test_the_tensor_path_is_chosen_only_for_tensor_runners_on_one_cuda_device():
    class OnCuda(InvertRunner):
        device = "cuda"

    class NumpyOnly(InvertRunner):
        device = "cuda"
        takes_tensors = False

    assert _engine(OnCuda(), OnCuda()).capabilities.takes_tensors
    assert not _engine(OnCuda(), NumpyOnly()).capabilities.takes_tensors
    assert not _engine(OnCuda(), InvertRunner()).capabilities.takes_tensors, "two devices"
    cpu = open_frame_stylizer(_engine(InvertRunner(), InvertRunner()))
    assert isinstance(cpu.device, CpuFrameDevice), "tensors on the CPU: the NumPy path is faster there"
    cpu.close()


def test_with_temporal_reuse_a_cuda_engine_keeps_the_tensor_path_with_keyframes_on_its_own_streams(monkeypatch):
    """Reuse no longer sends a GPU engine to the NumPy part: the torch part carries the heads, and
    keyframes go through `HeadNetwork` (a CUDA stream per calling thread)."""
    gpu = pytest.importorskip("streamer.pipeline.gpu")
    from streamer.pipeline.reuse import ReuseOptions

    class OnCuda(InvertRunner):
        device = "cuda"

    made = {}

    class Recorded(gpu.TorchFrameDevice):
        def __init__(self, engine, reuse=None):  # on the CPU here: no CUDA streams to make
            made["reuse"] = reuse
            super().__init__(engine, "cpu", reuse=reuse)

    monkeypatch.setattr(gpu, "TorchFrameDevice", Recorded)
    stylizer = open_frame_stylizer(_engine(OnCuda(), OnCuda()), reuse=ReuseOptions(), keyframes_aside=True)
    assert isinstance(stylizer.device, Recorded) and stylizer.reuse is made["reuse"] is not None
    assert isinstance(stylizer.reuse._stylize, gpu.HeadNetwork)
    stylizer.close()
