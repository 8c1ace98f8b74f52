"""TensorRT backend (TensorRT 10 API: named tensors, `execute_async_v3`), kept thin.

Engines are built offline by `streamer-trt-build`, never while a stream runs. Each engine has a
JSON key beside it; an engine is used only when its key matches this machine exactly:
ONNX SHA-256, TensorRT version, GPU name and compute capability, precision and input shapes.
Buffers and streams come from torch (`torch.cuda.Stream`, tensors' `data_ptr()`), so TensorRT
shares torch's CUDA context with the GPU pre- and post-processing; no pycuda.

Not run in this project's CI: TensorRT is not installable there. `tests/test_tensorrt.py` runs
wherever `tensorrt` imports and a GPU is present.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from streamer.engines import store
from streamer.engines.backends import Backend, Network, register
from streamer.engines.backends.torch import IMAGE_SPECS
from streamer.engines.runner import Runner
from streamer.errors import DeviceUnavailableError, ModelError

KEY_FIELDS = ("onnx_sha256", "tensorrt", "gpu", "compute_capability", "precision", "shapes")


def engine_key(
    onnx_sha256: str,
    tensorrt_version: str,
    gpu: str,
    capability: tuple[int, int],
    precision: str,
    shapes: dict[str, list[list[int]]],
) -> dict:
    """Everything an engine depends on; `shapes` maps input name to [min, opt, max] shapes."""
    return {
        "onnx_sha256": onnx_sha256,
        "tensorrt": tensorrt_version,
        "gpu": gpu,
        "compute_capability": f"{capability[0]}.{capability[1]}",
        "precision": precision,
        "shapes": shapes,
    }


def key_mismatch(stored: dict, wanted: dict) -> str | None:
    """Why an engine built under `stored` cannot serve `wanted` (None: it can). Shapes may cover more."""
    for field in KEY_FIELDS:
        if field == "shapes":
            continue
        if stored.get(field) != wanted.get(field):
            return f"{field} is {stored.get(field)!r}, needed {wanted.get(field)!r}"
    for name, (wmin, _, wmax) in wanted["shapes"].items():
        if name not in stored.get("shapes", {}):
            return f"no profile for input {name!r}"
        smin, _, smax = stored["shapes"][name]
        if any(a < b for a, b in zip(wmin, smin, strict=True)) or any(a > b for a, b in zip(wmax, smax, strict=True)):
            return f"its {name} profile {smin}..{smax} does not cover {wmin}..{wmax}"
    return None


def current_environment() -> tuple[str, str, tuple[int, int]]:
    """(TensorRT version, GPU name, compute capability); `DeviceUnavailableError` if either is absent."""
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise DeviceUnavailableError("TensorRT is not installed (its wheels come from NVIDIA's package index)") from exc
    import torch

    if not torch.cuda.is_available():
        raise DeviceUnavailableError("TensorRT needs a CUDA GPU, and torch sees none")
    return trt.__version__, torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0)


def engine_path(style: str, role: str, precision: str) -> Path:
    """Where `streamer-trt-build` puts the engine of a style's head or background network."""
    return store.models_dir() / style / "tensorrt" / f"{role}.{precision}.engine"


def read_key(engine_path: Path) -> dict | None:
    key_path = engine_path.with_suffix(".json")
    try:
        return json.loads(key_path.read_text())
    except (OSError, ValueError):
        return None


class TensorRTRunner(Runner):
    """Runs a serialized engine whose input is `image` and output `stylized` (uint8 NHWC)."""

    backend = "tensorrt"
    inputs, outputs = IMAGE_SPECS
    takes_tensors = True

    def __init__(self, engine_path: Path, precision: str = "fp16") -> None:
        import tensorrt as trt
        import torch

        self._torch = torch
        self._logger = trt.Logger(trt.Logger.WARNING)
        runtime = trt.Runtime(self._logger)
        self._engine = runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
        if self._engine is None:
            raise ModelError(f"{Path(engine_path).name} could not be loaded by TensorRT {trt.__version__}")
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        if set(names) != {"image", "stylized"}:
            raise ModelError(f"{Path(engine_path).name} has tensors {names}, expected image and stylized")
        self._context = self._engine.create_execution_context()
        self.device = "cuda"
        self.precision = precision
        # One execution context runs one inference at a time: callers on other threads or streams
        # take turns, and each waits for the previous run to finish on the GPU.
        self._lock = threading.Lock()
        self._done = torch.cuda.Event()  # waiting on it before its first record is a no-op

    def infer_tensor(self, image, stream=None):
        """uint8 [N,H,W,3] CUDA tensor -> stylized CUDA tensor, enqueued on `stream`."""
        torch = self._torch
        stream = stream or torch.cuda.current_stream()
        image = image.contiguous()
        # The input must be ready on this stream, and stay alive until the engine has read it.
        stream.wait_stream(torch.cuda.current_stream())
        with self._lock:
            stream.wait_event(self._done)
            self._context.set_input_shape("image", tuple(image.shape))
            with torch.cuda.stream(stream):
                out = torch.empty(
                    tuple(self._context.get_tensor_shape("stylized")), dtype=torch.uint8, device=self.device
                )
            self._context.set_tensor_address("image", image.data_ptr())
            self._context.set_tensor_address("stylized", out.data_ptr())
            if not self._context.execute_async_v3(stream.cuda_stream):
                raise ModelError("TensorRT failed to run the engine")
            self._done.record(stream)
        image.record_stream(stream)
        return out

    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self._torch
        image = torch.from_numpy(np.ascontiguousarray(feed["image"])).to(self.device)
        stream = torch.cuda.current_stream()
        out = self.infer_tensor(image, stream)
        stream.synchronize()
        return {"stylized": out.cpu().numpy()}


def _unavailable(device: str) -> str | None:
    try:
        current_environment()
    except DeviceUnavailableError as exc:
        return str(exc)
    return None


def _build_command(style: str, precision: str) -> str:
    return f"streamer-trt-build {style}" + ("" if precision == "fp16" else f" --precision {precision}")


def _unusable(network: Network, device: str, precision: str) -> str | None:
    """Why no engine of `network` can be used here: none built, or built for something else."""
    version, gpu, capability = current_environment()
    path = engine_path(network.style, network.role, precision)
    stored = read_key(path) if path.exists() else None
    build = _build_command(network.style, precision)
    if stored is None:
        return f"no {precision} TensorRT engine built for {network.name} (build it with: {build})"
    wanted = engine_key(network.onnx_sha256, version, gpu, capability, precision, {})
    reason = key_mismatch(stored, wanted)
    return (
        f"the {precision} TensorRT engine of {network.name} is stale ({reason}; rebuild it with: {build})"
        if reason
        else None
    )


def _open(network: Network, device: str, precision: str, threads: int) -> TensorRTRunner:
    return TensorRTRunner(engine_path(network.style, network.role, precision), precision)


# Asked for but unusable, a run goes on with the `auto` choice and says why: engines are built offline.
BACKEND = register(
    Backend(
        "tensorrt",
        "TensorRT",
        precisions={"cuda": ("fp16", "fp32")},
        open=_open,
        unavailable=_unavailable,
        unusable=_unusable,
        rank=10,  # a compiled engine, where one is built for this GPU
        auto_devices=("cuda",),
        falls_back=True,
        hint="build its engines with: streamer-trt-build {style}",
    )
)
