"""One conformance check: every style family on every backend present gives the same pictures,
within each precision's tolerance. Backends missing here (CUDA, TensorRT) skip with the reason."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from streamer.engines import open_engine  # noqa: E402

from .conftest import DCTNET_FIXTURE_STYLE  # noqa: E402

CUDA = torch.cuda.is_available()
# Largest per-pixel difference allowed against ONNX Runtime fp32 on CPU, in grey levels.
TOLERANCE = {"fp32": 2, "fp16": 16}


def _cases():
    yield "torch", "cpu", "fp32"
    for precision in ("fp32", "fp16"):
        marks = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
        yield pytest.param("torch", "cuda", precision, marks=marks)
    yield pytest.param(
        "tensorrt",
        "cuda",
        "fp16",
        marks=pytest.mark.skipif(not CUDA or not _has("tensorrt"), reason="needs tensorrt and a CUDA GPU"),
    )


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _check(style: str, size: int, backend: str, device: str, precision: str) -> None:
    rng = np.random.default_rng(0)
    heads = rng.integers(0, 255, (2, size, size, 3), dtype=np.uint8)
    background = rng.integers(0, 255, (120, 200, 3), dtype=np.uint8)
    with open_engine(style, backend="onnxruntime", device="cpu", precision="fp32") as reference:
        want_heads = reference.stylize_heads(heads).astype(int)
        want_background = reference.stylize_background(background).astype(int)
    with open_engine(style, backend=backend, device=device, precision=precision) as engine:
        if backend == "torch" and precision == "fp16":
            for runner in (engine.head_runner, engine.background_runner):
                if runner is not None and runner.backend == "torch":
                    assert runner.precision == "fp16"
        got_heads = engine.stylize_heads(heads).astype(int)
        got_background = engine.stylize_background(background).astype(int)
    assert np.abs(got_heads - want_heads).max() <= TOLERANCE[precision]
    assert np.abs(got_background - want_background).max() <= TOLERANCE[precision]


@pytest.mark.parametrize(("backend", "device", "precision"), list(_cases()))
def test_dctnet_family(dctnet_store, monkeypatch, backend, device, precision):
    monkeypatch.setenv("STREAMER_HOME", str(dctnet_store / "home"))
    _check(DCTNET_FIXTURE_STYLE, 288, backend, device, precision)


@pytest.mark.parametrize(("backend", "device", "precision"), list(_cases())[:3])
def test_photo2cartoon_family(photo2cartoon_store, monkeypatch, backend, device, precision):
    monkeypatch.setenv("STREAMER_HOME", str(photo2cartoon_store / "home"))
    _check("photo2cartoon", 256, backend, device, precision)


def test_builtin_style_runs_on_onnxruntime_only_and_says_so():
    from streamer.errors import InvalidInputError

    with open_engine("toon") as engine:
        assert engine.backend == "onnxruntime (cpu, fp32)"
    with pytest.raises(InvalidInputError, match="runs on onnxruntime"):
        open_engine("toon", backend="torch")


def test_gpu_path_matches_the_cpu_path(dctnet_store, monkeypatch):
    """The tensor device part (warp, two streams, compose) gives the OpenCV device part's picture."""
    from fractions import Fraction

    from streamer.frame import Frame
    from streamer.pipeline.cpu_device import CpuFrameDevice
    from streamer.pipeline.gpu import TorchFrameDevice
    from streamer.pipeline.stylizer import FrameStylizer
    from streamer.tracking.tracker import TrackedFace

    monkeypatch.setenv("STREAMER_HOME", str(dctnet_store / "home"))
    from streamer.capture.synthetic import Motion, SyntheticSource

    source = SyntheticSource([Motion((200, 240), scale=1.2, angle=10), Motion((470, 230), scale=0.9)])
    image = source.render(0)
    faces = [TrackedFace(i, p, p, (0, 0, 1, 1)) for i, p in enumerate(source.ground_truth(0))]
    with open_engine(DCTNET_FIXTURE_STYLE, backend="torch", device="cpu") as engine:
        results = []
        for device in (CpuFrameDevice(engine, parallel=False), TorchFrameDevice(engine, "cpu")):
            stylizer = FrameStylizer(engine, device, background_short_side=360)
            results.append(stylizer(Frame(image, 0, Fraction(1, 30), 0), faces).astype(int))
            stylizer.close()
    expected, got = results
    diff = np.abs(got - expected)
    assert diff.mean() < 2.0
    # Where the heads are, the two paths agree closely (resampling differs only in rounding).
    for truth in source.ground_truth(0):
        x0, y0 = truth.min(axis=0).astype(int)
        x1, y1 = truth.max(axis=0).astype(int)
        assert diff[y0:y1, x0:x1].mean() < 2.0


def test_int8_is_close_to_fp32_on_a_photo(dctnet_store, monkeypatch):
    """The CPU default (int8 convolutions) stays close to fp32 on a real picture."""
    import cv2

    from streamer import samples as data

    monkeypatch.setenv("STREAMER_HOME", str(dctnet_store / "home"))
    photo = cv2.resize(np.ascontiguousarray(data.astronaut()[:, :, ::-1]), (288, 288))[None]
    with open_engine(DCTNET_FIXTURE_STYLE, device="cpu", precision="fp32") as fp32:
        expected = fp32.stylize_heads(photo).astype(int)
    with open_engine(DCTNET_FIXTURE_STYLE, device="cpu") as default:
        assert default.backend == "onnxruntime (cpu, int8)"
        got = default.stylize_heads(photo).astype(int)
    assert np.abs(got - expected).mean() < 4.0


def test_int8_with_trained_weights_keeps_the_colours_of_fp32(tmp_path, monkeypatch):
    """With trained weights, the CPU default stays within about two grey levels of fp32 on a photo
    (the colour convolutions stay in float; quantizing them too moved it 2.4 levels)."""
    import cv2

    from streamer import samples as data
    from streamer.engines.install import import_style

    from .conftest import REFERENCE_TFLITE

    if not REFERENCE_TFLITE.exists():
        pytest.skip(f"reference weights not found: {REFERENCE_TFLITE}")
    monkeypatch.setenv("STREAMER_HOME", str(tmp_path))
    import_style(REFERENCE_TFLITE, "reference", "dctnet")
    photo = cv2.resize(np.ascontiguousarray(data.astronaut()[:, :, ::-1]), (288, 288))[None]
    with open_engine("reference", device="cpu", precision="fp32") as fp32:
        expected = fp32.stylize_heads(photo).astype(int)
    with open_engine("reference", device="cpu") as default:
        assert default.backend == "onnxruntime (cpu, int8)"
        diff = np.abs(default.stylize_heads(photo).astype(int) - expected)
    assert diff.mean() < 2.0 and np.percentile(diff, 99) <= 10


# photo2cartoon at 96: its layers take any size, and CPU half kernels are slow at 256.
@pytest.mark.parametrize(("style", "size"), [(DCTNET_FIXTURE_STYLE, 288), ("photo2cartoon", 96)])
def test_half_precision_stays_within_the_fp16_tolerance_on_a_photo(
    dctnet_store, photo2cartoon_store, monkeypatch, style, size
):
    """fp16 numerics of each family (the CUDA default), checked with half-precision CPU kernels."""
    import copy

    import cv2

    from streamer import samples as data

    store = dctnet_store if style == DCTNET_FIXTURE_STYLE else photo2cartoon_store
    monkeypatch.setenv("STREAMER_HOME", str(store / "home"))
    photo = torch.from_numpy(cv2.resize(np.ascontiguousarray(data.astronaut()[:, :, ::-1]), (size, size))[None])
    with open_engine(style, backend="torch", device="cpu") as engine, torch.inference_mode():
        module = engine.head_runner.module
        expected = module(photo).numpy().astype(int)
        got = copy.deepcopy(module).half()(photo).numpy().astype(int)
    assert np.abs(got - expected).max() <= TOLERANCE["fp16"]
    assert np.abs(got - expected).mean() < 1.0
