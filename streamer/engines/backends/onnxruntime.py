"""ONNX Runtime backend: CPU, and the CUDA execution provider where onnxruntime-gpu provides it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from streamer.engines.backends import Backend, Network, register
from streamer.engines.runner import Runner, TensorSpec
from streamer.errors import ModelError

_ORT_TYPES: dict[str, np.dtype] = {
    "tensor(uint8)": np.dtype(np.uint8),
    "tensor(float)": np.dtype(np.float32),
    "tensor(float16)": np.dtype(np.float16),
}


def _spec(arg) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) else None for d in arg.shape)
    return TensorSpec(arg.name, _ORT_TYPES.get(arg.type, np.dtype(object)), shape)


class OnnxRuntimeRunner(Runner):
    """Runs an ONNX model (serialized bytes or a path) with ONNX Runtime.

    `threads` bounds the intra-op thread pool: the pipeline runs heads and background side by side,
    so each session should not try to take every core. `precision` says what the graph holds
    (fp32, or int8 for a quantized graph); ONNX Runtime runs the graph as it is.
    """

    backend = "onnxruntime"

    def __init__(self, model: bytes | Path, threads: int = 1, device: str = "cpu", precision: str = "fp32") -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Idle pool threads must sleep, not spin: other stages (tracking, the other network,
        # encoding) need the cores between this network's operators.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = ["CPUExecutionProvider"]
        if device == "cuda":
            providers.insert(0, "CUDAExecutionProvider")
        source = str(model) if isinstance(model, Path) else model
        try:
            self._session = ort.InferenceSession(source, options, providers=providers)
        except Exception as exc:  # ORT raises its own untyped errors for unreadable graphs
            name = model.name if isinstance(model, Path) else "in-memory model"
            raise ModelError(f"{name} is not a valid ONNX model: {str(exc).splitlines()[0]}") from exc
        self.inputs = tuple(_spec(a) for a in self._session.get_inputs())
        self.outputs = tuple(_spec(a) for a in self._session.get_outputs())
        self._output_names = [spec.name for spec in self.outputs]
        on_gpu = self._session.get_providers()[0] == "CUDAExecutionProvider"
        self.device = "cuda" if on_gpu else "cpu"
        self.precision = "int8" if precision == "int8" else "fp32"

    @property
    def providers(self) -> list[str]:
        return self._session.get_providers()

    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = self._session.run(self._output_names, feed)
        return dict(zip(self._output_names, results, strict=True))


def _unavailable(device: str) -> str | None:
    if importlib.util.find_spec("onnxruntime") is None:
        return "onnxruntime is not installed"
    if device == "cuda":
        import onnxruntime as ort

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            return "onnxruntime-gpu is not installed (this onnxruntime has no CUDA provider)"
    return None


def _open(network: Network, device: str, precision: str, threads: int) -> OnnxRuntimeRunner:
    if precision == "int8" and network.int8 is not None:
        # About twice as fast on CPUs; see BENCHMARKS.md for its accuracy.
        return OnnxRuntimeRunner(network.int8, threads=threads, device=device, precision="int8")
    return OnnxRuntimeRunner(network.onnx, threads=threads, device=device, precision="fp32")


# int8 where the style stores a quantized network (fp32 otherwise); the graphs run as they are.
BACKEND = register(
    Backend(
        "onnxruntime",
        "ONNX Runtime",
        precisions={"cuda": ("fp32",), "cpu": ("int8", "fp32")},
        open=_open,
        unavailable=_unavailable,
        rank=30,
        auto_devices=("cpu", "cuda"),
    )
)
