"""PyTorch backend: the family's nn.Module on CPU, or on CUDA with fp16, channels_last and CUDA graphs.

`TorchRunner` takes NumPy like every runner (uint8 [N,H,W,3] in and out). On CUDA it also offers
`infer_tensor()` for the GPU path, which keeps frames on the device and runs on a given stream.
"""

from __future__ import annotations

import importlib.util
import threading

import numpy as np

from streamer.engines.backends import Backend, Network, register
from streamer.engines.runner import Runner, TensorSpec
from streamer.errors import DeviceUnavailableError

IMAGE_SPECS = (
    (TensorSpec("image", np.dtype(np.uint8), (None, None, None, 3)),),
    (TensorSpec("stylized", np.dtype(np.uint8), (None, None, None, 3)),),
)


class TorchRunner(Runner):
    """Runs an image module. `precision` is fp32 or fp16 (fp16 on CUDA only).

    With `cuda_graphs`, each new input shape is captured once and replayed afterwards, which removes
    the per-layer launch cost for a fixed head batch and background size. A graph's input and
    output buffers are shared, so replays from several threads (or streams) take turns.
    """

    backend = "torch"
    inputs, outputs = IMAGE_SPECS
    takes_tensors = True

    def __init__(
        self,
        module,
        device: str = "cpu",
        precision: str = "fp32",
        cuda_graphs: bool = False,
        threads: int | None = None,
    ) -> None:
        import torch

        if device.startswith("cuda") and not torch.cuda.is_available():
            raise DeviceUnavailableError("--device cuda was asked for, but torch sees no CUDA GPU")
        if precision not in ("fp32", "fp16"):
            raise ValueError(f"precision must be fp32 or fp16, got {precision}")
        if precision == "fp16" and not device.startswith("cuda"):
            raise ValueError("fp16 needs a CUDA device")
        if threads and not device.startswith("cuda"):
            torch.set_num_threads(threads)
        self.torch_device = torch.device(device)
        self.device = str(self.torch_device)
        self.precision = precision
        self.module = module.eval().to(self.torch_device)
        if precision == "fp16":
            self.module = self.module.half()
        if self.torch_device.type == "cuda":
            self.module = self.module.to(memory_format=torch.channels_last)
        self.cuda_graphs = cuda_graphs and self.torch_device.type == "cuda"
        self._graphs: dict[tuple[int, ...], tuple] = {}
        self._graph_lock = threading.Lock()
        # Recorded after each replay's output is copied out; waiting on it before any record is a no-op.
        self._graph_done = torch.cuda.Event() if self.cuda_graphs else None

    def infer_tensor(self, image, stream=None):
        """uint8 [N,H,W,3] tensor on this runner's device -> stylized tensor, on `stream` if given."""
        import torch

        with torch.inference_mode():
            if stream is not None:
                with torch.cuda.stream(stream):
                    return self._run(image)
            return self._run(image)

    def _run(self, image):
        if not self.cuda_graphs:
            return self.module(image)
        import torch

        with self._graph_lock:
            stream = torch.cuda.current_stream()
            stream.wait_event(self._graph_done)  # another stream may still be using the shared buffers
            graph, static_in, static_out = self._graph_for(image)
            static_in.copy_(image)
            graph.replay()
            out = static_out.clone()
            self._graph_done.record(stream)
        return out

    def _graph_for(self, image):
        """The captured graph for `image`'s shape (capturing it the first time) and its buffers."""
        import torch

        key = tuple(image.shape)
        if key not in self._graphs:
            static_in = image.clone()
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):  # warm up outside the graph, as CUDA graphs require
                for _ in range(2):
                    self.module(static_in)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            # thread_local: the file pipeline's other worker keeps launching work meanwhile.
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                static_out = self.module(static_in)
            self._graphs[key] = (graph, static_in, static_out)
        return self._graphs[key]

    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        image = torch.from_numpy(np.ascontiguousarray(feed["image"])).to(self.torch_device)
        out = self.infer_tensor(image)
        return {"stylized": out.cpu().numpy()}

    def close(self) -> None:
        self._graphs.clear()


def _unavailable(device: str) -> str | None:
    if importlib.util.find_spec("torch") is None:
        return "torch is not installed (pip install 'streamer[convert]')"
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            return "torch sees no CUDA GPU"
    return None


def _unusable(network: Network, device: str, precision: str) -> str | None:
    if network.manifest is None:
        return f"{network.name} is built in, with no PyTorch network"
    if network.manifest.path(f"{network.role}_torch") is None:
        return (
            f"style {network.style!r} was imported from an ONNX file; the torch backend needs the PyTorch weights "
            "(import the .pt checkpoint), or use --backend onnxruntime"
        )
    return None


def _open(network: Network, device: str, precision: str, threads: int) -> TorchRunner:
    from streamer.engines.families import torch_module

    module = torch_module(network.manifest, network.role)
    return TorchRunner(module, device=device, precision=precision, cuda_graphs=device == "cuda", threads=threads)


BACKEND = register(
    Backend(
        "torch",
        "PyTorch",
        precisions={"cuda": ("fp16", "fp32"), "cpu": ("fp32",)},
        open=_open,
        unavailable=_unavailable,
        unusable=_unusable,
        rank=20,
        auto_devices=("cuda",),  # on a CPU, ONNX Runtime is faster (int8)
    )
)
