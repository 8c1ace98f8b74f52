"""The GPU path (one upload, two streams, one download) as live streams use it: the latency
scheduler's background modes, stage times, and a slow engine's latency staying bounded. It runs
here on CPU tensors; a CUDA GPU runs the same code with streams and events."""

import threading
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from streamer.engines.base import DCTNET_LAYOUT, StyleEngine  # noqa: E402
from streamer.pipeline.gpu import GpuFrameStylizer, TorchFrameStylizer  # noqa: E402
from streamer.pipeline.live import WARMUP_FRAMES, LiveOptions, LivePipeline  # noqa: E402

from .test_live import CollectSink, PacedSource, SlowRunner  # noqa: E402


@pytest.fixture(scope="module")
def face_frames():
    """Small frames: on the CPU, this path's full-frame tensor compositing costs what a GPU does not."""
    from streamer.capture.synthetic import Motion, SyntheticSource

    source = SyntheticSource(
        [Motion((160, 120), scale=0.6, sway=(20, 8), period=2.0)], size=(320, 240), duration=2.0, noise=2.0
    )
    return [source.render(i) for i in range(30)]


class SlowTensorRunner(SlowRunner):
    """SlowRunner that also takes tensors (`infer_tensor`), as the GPU path's runners do."""

    device = torch.device("cpu")

    def infer_tensor(self, image, stream=None):
        self.calls += 1
        time.sleep(self.delay)
        return 255 - image


@pytest.fixture(autouse=True)
def one_torch_thread():
    """On a shared 2-core machine, torch's second CPU thread wakes from idle up to 100 ms late,
    which would time the machine rather than the path."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _stylizer(delay: float = 0.0) -> TorchFrameStylizer:
    mask = np.ones((DCTNET_LAYOUT.size,) * 2, np.float32)
    runner = SlowTensorRunner(delay)
    return TorchFrameStylizer(runner, runner, DCTNET_LAYOUT, mask, "cpu", background_hw=lambda h, w: (h, w))


def _flat(value: int) -> np.ndarray:
    return np.full((64, 96, 3), value, np.uint8)


def test_each_background_mode_gives_the_picture_it_promises():
    stylizer = _stylizer()
    assert (stylizer(_flat(40), []) == 215).all(), "stylize: this frame's background"
    assert (stylizer(_flat(40), [], "original") == 40).all(), "original: the frame as captured"
    stylizer.close()


def test_async_background_shows_the_newest_finished_one_without_waiting_for_the_next():
    stylizer = _stylizer()
    times: dict[str, float] = {}
    assert (stylizer(_flat(40), [], "async", refresh=False, stage_ms=times) == 215).all(), "none yet: made now"
    assert "background" in times
    assert (stylizer(_flat(200), [], "async", refresh=False) == 215).all(), "no refresh: the old one stays"
    assert (stylizer(_flat(200), [], "async", refresh=True) == 215).all(), "the refresh is not waited for"
    deadline = time.monotonic() + 5
    while not stylizer._pending.done() and time.monotonic() < deadline:
        time.sleep(0.01)
    times = {}
    assert (stylizer(_flat(200), [], "async", refresh=False, stage_ms=times) == 55).all(), "then it shows"
    assert "background" in times, "a finished background reports its time"
    stylizer.close()


def test_only_a_background_made_for_the_frame_is_waited_for():
    """On a GPU, compositing waits for stream B only when it made this frame's background."""
    stylizer = _stylizer()
    frame = torch.full((1, 3, 64, 96), 40.0)
    assert stylizer._canvas(frame, "stylize", 1.0, False, {})[1]
    assert not stylizer._canvas(frame, "original", 1.0, False, {})[1]
    stylizer._latest = None
    assert stylizer._canvas(frame, "async", 1.0, True, {})[1], "none yet: made now, waited for"
    assert not stylizer._canvas(frame, "async", 1.0, True, {})[1], "the refresh runs on its own"
    assert not stylizer._canvas(frame, "probe", 1.0, True, {})[1]
    stylizer.close()


def test_async_frames_do_not_wait_for_a_slow_background():
    stylizer = _stylizer(delay=0.3)
    stylizer(_flat(40), [], "async", refresh=False)  # the first background, made in place
    t0 = time.perf_counter()
    stylizer(_flat(200), [], "async", refresh=True)
    stylizer(_flat(200), [], "async", refresh=False)
    assert time.perf_counter() - t0 < 0.2
    stylizer.close()


def test_probe_keeps_the_frame_as_captured_and_measures_the_background():
    stylizer = _stylizer(delay=0.05)
    assert (stylizer(_flat(40), [], "probe") == 40).all()
    time.sleep(0.2)
    times: dict[str, float] = {}
    assert (stylizer(_flat(40), [], "probe", stage_ms=times) == 40).all()
    assert times["background"] >= 45
    stylizer.close()


def test_a_lower_background_factor_stylizes_a_smaller_background():
    sizes = []
    runner = SlowTensorRunner()
    runner.infer_tensor = lambda image, stream=None: sizes.append(tuple(image.shape[1:3])) or 255 - image
    mask = np.ones((DCTNET_LAYOUT.size,) * 2, np.float32)
    stylizer = TorchFrameStylizer(runner, runner, DCTNET_LAYOUT, mask, "cpu", background_hw=lambda h, w: (h, w))
    stylizer(np.zeros((320, 480, 3), np.uint8), [], background_factor=0.5)
    assert sizes == [(160, 240)]


def test_stage_times_cover_heads_background_and_compose():
    from streamer.capture.synthetic import Motion, SyntheticSource
    from streamer.tracking.alignment import similarity_transform

    source = SyntheticSource([Motion((320, 240), scale=1.2)])
    matrices = [similarity_transform(p, DCTNET_LAYOUT.template) for p in source.ground_truth(0)]
    times: dict[str, float] = {}
    _stylizer(delay=0.02)(source.render(0), matrices, stage_ms=times)
    assert set(times) == {"heads", "background", "compose"} and times["heads"] >= 15


def test_a_live_stream_on_the_gpu_path_stays_within_its_latency_budget(face_frames, monkeypatch):
    """A slow engine on the GPU path: the scheduler degrades (asynchronous background), latency
    stays bounded, and full quality comes back once the engine is fast."""
    head, background = SlowTensorRunner(0.01), SlowTensorRunner(0.12)
    opened = []

    def engine(style):
        return StyleEngine("slow", head, background, DCTNET_LAYOUT)

    real_init = GpuFrameStylizer.__init__

    def on_cpu(self, *args, **kwargs):
        opened.append(self)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(GpuFrameStylizer, "supports", staticmethod(lambda engine: True))
    monkeypatch.setattr(GpuFrameStylizer, "__init__", on_cpu)

    class SpeedUpSink(CollectSink):
        """Four seconds after the first frame is out, the engine becomes fast."""

        def write(self, frame):
            if not self.frames:
                threading.Timer(4.0, lambda: setattr(head, "delay", 0.0) or setattr(background, "delay", 0.0)).start()
            super().write(frame)

    fps = 15
    pipeline = LivePipeline(
        lambda: PacedSource(fps, 8.0, face_frames), [SpeedUpSink()], LiveOptions(fps=fps), open_engine=engine
    )
    summary = pipeline.run()
    assert opened, "the live stream ran through the GPU path"
    settled = summary.latencies_ms[fps:]
    p99 = float(np.percentile(settled, 99))
    assert p99 <= 2000 / fps, f"p99 {p99:.1f} ms over budget + one frame"
    half = len(summary.levels) // 2
    assert max(summary.levels[WARMUP_FRAMES:half]) >= 1, "degradation engaged while the engine was slow"
    assert 0 in summary.levels[-2 * fps :], "full quality again once the engine is fast"


def test_the_gpu_path_is_chosen_only_for_tensor_runners_on_one_cuda_device():
    cpu = SlowTensorRunner()
    assert not GpuFrameStylizer.supports(StyleEngine("x", cpu, cpu, DCTNET_LAYOUT))

    class OnCuda(SlowTensorRunner):
        device = torch.device("cuda")

    class NumpyOnly(SlowRunner):
        device = torch.device("cuda")

    assert GpuFrameStylizer.supports(StyleEngine("x", OnCuda(), OnCuda(), DCTNET_LAYOUT))
    assert not GpuFrameStylizer.supports(StyleEngine("x", OnCuda(), NumpyOnly(), DCTNET_LAYOUT))
