"""The torch device part (one upload, two streams, one download) under a live stream: a slow
engine's latency staying bounded. It runs here on CPU tensors; a CUDA GPU runs the same code with
streams and events. The background modes themselves are checked on both device parts in
test_stylizer.py.

The stream runs on a fake clock: the device part makes the pictures, the engine's work takes its
declared time. The measured version is `benchmarks/bench_live.py --slow-engine`."""

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from streamer.pipeline.gpu import TorchFrameDevice  # noqa: E402
from streamer.pipeline.live import LiveOptions, LivePipeline  # noqa: E402
from streamer.pipeline.quality import QualityLevel  # noqa: E402

from .fakes import (  # noqa: E402
    Camera,
    ClockedStylizers,
    CollectSink,
    FakeClock,
    FakeTracker,
    SlowTensorRunner,
    engine_of,
    run_on_clock,
)


@pytest.fixture(scope="module")
def scene():
    """Small frames of one face: on the CPU, this path's full-frame tensor compositing costs what a
    GPU does not. With the face's 5 points."""
    from streamer.capture.synthetic import Motion, SyntheticSource

    source = SyntheticSource([Motion((160, 120), scale=0.6)], size=(320, 240), noise=2.0)
    return [source.render(i) for i in range(4)], source.ground_truth(0)[0]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """On a shared 2-core machine, torch's second CPU thread wakes from idle up to 100 ms late."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_a_live_stream_on_the_gpu_path_stays_within_its_latency_budget(scene):
    """A slow engine (heads 10 ms, background 120 ms) at 15 fps on the torch device part. The warm-up
    frames (0-9, not measured) take 120 ms: 0, 1, 3, 5, 7, 9 go out, then 10, the first measured,
    moves the stream to the asynchronous background (made on the side, its 120 ms fit three periods);
    from frame 12 on every frame takes the heads' 10 ms. The engine is fast from 4 s (frame 60): four
    fast backgrounds and fifteen fitting frames later, from frame 86, full quality is back. Every
    picture that goes out is stylized."""
    frames, points = scene
    fps = 15
    clock = FakeClock()
    camera = Camera(frames, fps, 8 * fps, clock)
    sink = CollectSink(clock, keep=8 * fps)
    stylizers = ClockedStylizers(
        clock, lambda engine: TorchFrameDevice(engine, "cpu"), heads_ms=10, background_ms=120, fast_at=4.0
    )
    pipeline = LivePipeline(
        lambda: camera,
        [sink],
        LiveOptions(fps=fps),
        open_engine=lambda style: engine_of(SlowTensorRunner(), SlowTensorRunner()),
        tracker_factory=lambda: FakeTracker([points]),
        clock=clock,
        open_stylizer=stylizers,
    )
    summary = run_on_clock(pipeline, camera, clock)
    assert [type(d.inner) for d in stylizers.devices] == [TorchFrameDevice], "the stream ran on the torch path"
    runs = [(level, len(list(group))) for level, group in itertools.groupby(summary.levels)]
    assert runs == [(QualityLevel.FULL, 7), (QualityLevel.ASYNC_BACKGROUND, 74), (QualityLevel.FULL, 34)]
    assert summary.frames_in == 120 and summary.frames_out == 120 - summary.dropped == 115
    latency = {c: (w - c) * 1000 for c, w in zip(sink.captured, sink.written, strict=True)}
    settled = [ms for c, ms in latency.items() if c >= 1.0]
    assert max(settled) <= 2000 / fps, "within budget + one frame"
    assert [ms for c, ms in latency.items() if 1.0 <= c < 4.0] == pytest.approx([10.0] * 45)
    for index, picture in sink.pictures.items():
        assert np.abs(picture.astype(int) - frames[index % len(frames)]).mean() > 50, f"frame {index} stylized"


class _Paint(SlowTensorRunner):
    """A fallback background network painting everything `value`; `tensors` False: it takes NumPy
    only. `calls` records how each call came (tensor or NumPy)."""

    def __init__(self, value: int, tensors: bool) -> None:
        super().__init__()
        self.value, self.takes_tensors = value, tensors
        self.calls: list[str] = []

    def infer_impl(self, feed):
        self.calls.append("numpy")
        return {"stylized": np.full_like(feed["image"], self.value)}

    def infer_tensor(self, image, stream=None):
        self.calls.append("tensor")
        return image * 0 + self.value


@pytest.mark.parametrize("tensors", [True, False])
def test_the_fallback_background_network_runs_on_the_torch_path_on_tensors_or_numpy(tensors):
    """A fallback network that takes tensors runs on them; one on NumPy gets the small picture
    downloaded and its result uploaded (a detached one on the worker thread). Either is shown where
    it is asked for, and the style's own where it is not."""
    from streamer.pipeline.quality import BackgroundMode
    from streamer.pipeline.stylizer import FrameStylizer

    engine = engine_of(SlowTensorRunner(), SlowTensorRunner())
    paint = _Paint(7, tensors)
    engine.set_fallback_background(paint)
    stylizer = FrameStylizer(engine, TorchFrameDevice(engine, "cpu"))
    flat = np.full((48, 64, 3), 40, np.uint8)
    times: dict[str, float] = {}
    out = stylizer.stylize(flat, [], BackgroundMode.ASYNC, refresh=False, stage_ms=times, fallback=True)
    assert (out == 7).all() and "fallback_background" in times, "made now: there was none"
    stylizer.stylize(flat, [], BackgroundMode.ASYNC, refresh=True, fallback=True)
    side = stylizer.side_background
    assert side is not None
    picture, _ = side.result()
    assert (picture == 7).all(), "a detached one, made on the side"
    assert paint.calls == ["tensor" if tensors else "numpy"] * 2
    assert (stylizer.stylize(flat, [], BackgroundMode.STYLIZE) == 255 - 40).all(), "the style's own"
    stylizer.close()
