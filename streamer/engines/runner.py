"""`Runner`: one compiled network on one backend, called with named arrays.

Modelled on Polygraphy's `BaseRunner`: `infer()` checks the feed against the declared inputs, then
calls the backend's `infer_impl()`. Runners are context managers; `close()` frees the backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from streamer.errors import InvalidInputError


@dataclass(frozen=True)
class TensorSpec:
    """A named input or output: dtype and shape, where None marks a dynamic dimension."""

    name: str
    dtype: np.dtype
    shape: tuple[int | None, ...]


class Runner(ABC):
    """Runs one network. Subclasses set `inputs`, `outputs` and `backend`, and implement `infer_impl`.

    Declared capabilities, read by the engine and the frame stylizer (never probed with getattr):
    `device` ("cpu", "cuda", "cuda:0"), `precision` ("fp32", "fp16", "int8"), `takes_tensors`
    (offers `infer_tensor`: uint8 [N,H,W,3] tensors on `device` in and out, on a given CUDA
    stream) and `cuda_graphs` (captures each input shape once and replays it).
    """

    backend: str = ""
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    device: str = "cpu"
    precision: str = "fp32"
    takes_tensors: bool = False
    cuda_graphs: bool = False

    def infer(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Validate `feed` (names, dtypes, ranks, fixed dims), then run the network."""
        expected = {spec.name for spec in self.inputs}
        if set(feed) != expected:
            raise InvalidInputError(f"{self.backend} runner expects inputs {sorted(expected)}, got {sorted(feed)}")
        for spec in self.inputs:
            array = feed[spec.name]
            if array.dtype != spec.dtype:
                raise InvalidInputError(f"input {spec.name!r} must be {spec.dtype}, got {array.dtype}")
            if array.ndim != len(spec.shape) or any(
                want is not None and want != got for want, got in zip(spec.shape, array.shape, strict=True)
            ):
                raise InvalidInputError(f"input {spec.name!r} must have shape {spec.shape}, got {array.shape}")
        return self.infer_impl(feed)

    def infer_tensor(self, image, stream=None):
        """uint8 [N,H,W,3] tensor on `device` -> stylized tensor, queued on `stream` (runners that
        declare `takes_tensors`)."""
        raise TypeError(f"the {self.backend} runner takes NumPy arrays only (its takes_tensors is False)")

    @abstractmethod
    def infer_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the network on an already validated feed."""

    def close(self) -> None:  # noqa: B027 (optional hook, not abstract)
        """Release the backend's resources; the default holds none."""

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
