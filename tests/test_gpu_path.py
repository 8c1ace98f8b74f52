"""The torch device part (one upload, two streams, one download) under a live stream: a slow
engine's latency staying bounded. It runs here on CPU tensors; a CUDA GPU runs the same code with
streams and events. The background modes themselves are checked on both device parts in
test_stylizer.py."""

import threading
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from streamer.engines.base import DCTNET_LAYOUT, StyleEngine  # noqa: E402
from streamer.pipeline.gpu import TorchFrameDevice  # noqa: E402
from streamer.pipeline.live import WARMUP_FRAMES, LiveOptions, LivePipeline  # noqa: E402
from streamer.pipeline.stylizer import FrameStylizer  # noqa: E402

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

    takes_tensors = True

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


def test_a_live_stream_on_the_gpu_path_stays_within_its_latency_budget(face_frames, monkeypatch):
    """A slow engine on the GPU path: the scheduler degrades (asynchronous background), latency
    stays bounded, and full quality comes back once the engine is fast."""
    head, background = SlowTensorRunner(0.01), SlowTensorRunner(0.12)
    opened = []

    def engine(style):
        return StyleEngine("slow", head, background, DCTNET_LAYOUT)

    def on_tensors(engine, background_scale=None, background_short_side=None, parallel=True):
        opened.append(engine)
        return FrameStylizer(engine, TorchFrameDevice(engine, "cpu"), background_scale, background_short_side)

    monkeypatch.setattr("streamer.pipeline.live.open_frame_stylizer", on_tensors)

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
