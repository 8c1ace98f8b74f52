"""The frame stylizer's torch device part: a frame is uploaded once, stylized and composited as
tensors, downloaded once.

    upload ──▶ stream A: warp head crops (one batch) ─▶ head network ──────────┐
           └─▶ stream B: shrink background ─▶ background network ─▶ grow ───┴─ event ─▶ paste heads ─▶ download

Heads and background run on two CUDA streams and meet at an event before compositing; a detached
background (the live scheduler's asynchronous one) is queued on stream B and no frame waits for it.
A fallback background network (`StyleEngine.fallback_background`) that takes NumPy only gets the
shrunk picture downloaded from stream B and its result uploaded there; detached, it runs on a worker
thread, so that it holds no frame.
Each stage is timed on its own stream with CUDA events. The same code runs on the CPU (streams
become no-ops, stages are timed by the clock, a detached background runs on a worker thread), which
is how it is tested without a GPU. Imports only torch, NumPy and OpenCV (no PyAV, no MediaPipe), so
it runs on machines that have nothing else.

With temporal reuse (`pipeline.reuse.HeadReuse`), the heads take a detour through the CPU:

    stream A: warp head crops ─▶ download (N x S x S x 3 uint8) ─▶ CPU: flow, remaps ─┐
    stream A: upload the heads ◀──────────────────────────────────────────────────────┘─▶ event ─▶ paste heads

The crops are warped on the GPU as without reuse; the optical flow (OpenCV's DIS, which has no GPU
version in opencv-python) and the remaps that carry each keyframe run on the CPU; the round trip
moves little (250 kB a head at 288 px each way). Keyframes and mouth patches are the head network on
the GPU, called through `HeadNetwork`: host crops in, stylized host crops out, each calling thread
on a CUDA stream of its own. Inline (files, a face seen for the first time), that is the frame's own
thread, which waits for it anyway; live, a side thread, whose network then runs beside the frames'
streams and never on the default stream, where every frame's upload and download are queued (a
download there would wait for the keyframe). Its input and output are host arrays, so nothing is
shared with the frames' streams; runners that share buffers between calls (captured CUDA graphs, a
TensorRT execution context) take turns by their own lock and event. The heads' time is the frame
thread's (it waits for the download and the CPU work), less keyframes stylized inline, as on the
NumPy/OpenCV part.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F

from streamer.engines.base import StyleEngine
from streamer.engines.runner import Runner
from streamer.pipeline.device import BackgroundJob, Clock, Elapsed, Finished, Timing
from streamer.pipeline.reuse import HeadReuse
from streamer.tracking.alignment import invert_affine


def _theta(dst_to_src: np.ndarray, src_hw: tuple[int, int], dst_hw: tuple[int, int]) -> np.ndarray:
    """A pixel affine (output pixel -> input pixel, OpenCV's pixel centres) as `affine_grid`'s theta.

    grid_sample's normalized coordinate of pixel x in a size-W axis is (2x + 1)/W - 1
    (align_corners=False), so theta = N_src · A · N_dst⁻¹.
    """

    def normalizer(h: int, w: int) -> np.ndarray:
        return np.array([[2.0 / w, 0.0, 1.0 / w - 1.0], [0.0, 2.0 / h, 1.0 / h - 1.0], [0.0, 0.0, 1.0]])

    a = np.vstack([dst_to_src, [0.0, 0.0, 1.0]])
    theta = normalizer(*src_hw) @ a @ np.linalg.inv(normalizer(*dst_hw))
    return theta[:2]


def warp(images: torch.Tensor, dst_to_src: list[np.ndarray], out_hw: tuple[int, int], border: str) -> torch.Tensor:
    """Bilinear warps of N,C,H,W float `images` (one per matrix, or one image for all) to `out_hw`."""
    n = len(dst_to_src)
    src_hw = (int(images.shape[-2]), int(images.shape[-1]))
    theta = torch.as_tensor(
        np.stack([_theta(m, src_hw, out_hw) for m in dst_to_src]), dtype=images.dtype, device=images.device
    )
    grid = F.affine_grid(theta, [n, images.shape[1], *out_hw], align_corners=False)
    if images.shape[0] != n:
        images = images.expand(n, -1, -1, -1)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode=border, align_corners=False)


def _to_uint8_nhwc(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()


class Span:
    """Milliseconds of the work queued inside `with` on `stream`: CUDA events on a GPU (readable once
    `done()`), the clock on the CPU (`stream` None), where work runs as it is queued."""

    def __init__(self, stream, clock: Clock = time.perf_counter) -> None:
        self.stream = stream
        self._clock = clock
        self._ms = 0.0
        if stream is not None:
            self.start, self.end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

    def __enter__(self) -> Span:
        if self.stream is None:
            self._t0 = self._clock()
        else:
            self.start.record(self.stream)
        return self

    def __exit__(self, *exc) -> None:
        if self.stream is None:
            self._ms = (self._clock() - self._t0) * 1000.0
        else:
            self.end.record(self.stream)

    def done(self) -> bool:
        return self.stream is None or self.end.query()

    @property
    def ms(self) -> float:
        return self._ms if self.stream is None else self.start.elapsed_time(self.end)


class HeadNetwork:
    """The engine's head network on host crops, uint8 [N, s, s, 3] NumPy in and out: `HeadReuse`'s
    `stylize` on this device part (keyframes, mouth patches).

    On a CUDA device, each calling thread runs it on a CUDA stream of its own (made on its first
    call) and gets the result when it is done: a side thread's keyframes never queue on the default
    stream, where the frames' uploads and downloads are, nor on stream A. `device` overrides the
    runner's device (on the CPU it is `engine.stylize_heads` as it is).
    """

    def __init__(self, engine: StyleEngine, device: str | None = None) -> None:
        self.engine = engine
        self.device = torch.device(device or engine.capabilities.device)
        self._local = threading.local()  # each thread's stream

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        if self.device.type != "cuda":
            return self.engine.stylize_heads(crops)
        stream = getattr(self._local, "stream", None)
        if stream is None:
            stream = self._local.stream = torch.cuda.Stream(self.device)
        # The runner copies the crops up and the result down on this thread's current stream, and
        # waits for the download: the call returns with the stream's work done.
        with torch.cuda.stream(stream):
            return self.engine.stylize_heads(crops)


class TorchFrameDevice:
    """`FrameDevice` on torch tensors, for engines whose runners take tensors (`takes_tensors`).

    `device` overrides the runners' device (the tests run this path on CPU tensors). With
    `two_streams` off, everything runs on one stream (for comparison). On the CPU, stages are timed
    by `clock`. Frames may come from several
    threads at once (the file pipeline keeps two in flight).

    With `reuse`, heads come from keyframes carried by optical flow on the CPU (see the module
    docstring); its `stylize` should be a `HeadNetwork` of the engine, so that keyframes made on a
    side thread stay off the frames' streams. A stylizer with reuse takes frames from one thread at
    a time, as `HeadReuse` keeps state from frame to frame.
    """

    def __init__(
        self,
        engine: StyleEngine,
        device: str | None = None,
        two_streams: bool = True,
        clock: Clock = time.perf_counter,
        reuse: HeadReuse | None = None,
    ) -> None:
        caps = engine.capabilities
        if not caps.takes_tensors or caps.segments_heads:
            raise ValueError(f"the {engine.backend} engine of {engine.style} cannot run on tensors")
        self.engine = engine
        self.device = torch.device(device or caps.device)
        self.mask = torch.as_tensor(engine.head_mask, dtype=torch.float32, device=self.device)[None, None]
        cuda = self.device.type == "cuda"
        self.stream_a = torch.cuda.Stream(self.device) if cuda else None
        self.stream_b = (torch.cuda.Stream(self.device) if two_streams else self.stream_a) if cuda else None
        self._worker: ThreadPoolExecutor | None = None  # runs detached backgrounds on the CPU
        self._clock = clock  # times the stages on the CPU
        self.reuse = reuse

    def _on(self, stream):
        return torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext()

    def _current(self):
        return torch.cuda.current_stream(self.device) if self.device.type == "cuda" else None

    @torch.inference_mode()
    def upload(self, image: np.ndarray) -> torch.Tensor:
        host = torch.from_numpy(image)
        if self.device.type == "cuda":
            host = host.pin_memory()
        picture = host.to(self.device, non_blocking=True).permute(2, 0, 1)[None].float()
        current = self._current()
        for stream in (self.stream_a, self.stream_b):
            if stream is not None:
                stream.wait_stream(current)
        return picture

    @torch.inference_mode()
    def stylize_heads(
        self,
        picture: torch.Tensor,
        matrices: list[np.ndarray],
        ids: Sequence[int] = (),
        stage_ms: dict[str, float] | None = None,
    ) -> tuple[torch.Tensor, Timing]:
        if self.reuse is not None and matrices:
            return self._reused_heads(picture, matrices, ids, {} if stage_ms is None else stage_ms)
        size = self.engine.layout.size
        with self._on(self.stream_a), Span(self.stream_a, self._clock) as span:
            crops = warp(picture, [invert_affine(m) for m in matrices], (size, size), border="border")
            heads = self.engine.head_runner.infer_tensor(_to_uint8_nhwc(crops), self.stream_a)
        return heads, span

    def _reused_heads(
        self, picture: torch.Tensor, matrices: list[np.ndarray], ids: Sequence[int], stage_ms: dict[str, float]
    ) -> tuple[torch.Tensor, Elapsed]:
        """The heads from `reuse`: crops warped on stream A and downloaded, carried on the CPU, the
        heads uploaded on stream A (where `compose` joins). Timed by the clock on this thread."""
        reuse = self.reuse
        assert reuse is not None
        start = self._clock()
        size = self.engine.layout.size
        with self._on(self.stream_a):
            crops = warp(picture, [invert_affine(m) for m in matrices], (size, size), border="border")
            host = _to_uint8_nhwc(crops).cpu().numpy()  # waits for stream A's warp
        heads = torch.from_numpy(reuse.heads(host, ids, stage_ms))
        with self._on(self.stream_a):
            if self.device.type == "cuda":
                heads = heads.pin_memory()
            heads = heads.to(self.device, non_blocking=True)
        timing = Elapsed(start, self._clock)
        # Keyframes stylized on this frame's path count as keyframes, not as the heads' usual time.
        timing.ms -= reuse.inline_ms
        return heads, timing

    @torch.inference_mode()
    def _background(
        self, picture: torch.Tensor, size: tuple[int, int], fallback: bool = False
    ) -> tuple[torch.Tensor, Span]:
        runner, m = self._background_runner(fallback)
        h, w = picture.shape[-2:]
        bw, bh = size
        with self._on(self.stream_b), Span(self.stream_b, self._clock) as span:
            small = F.interpolate(picture, size=(bh, bw), mode="area") if (bh, bw) != (h, w) else picture
            padded = F.pad(small, (0, (-bw) % m, 0, (-bh) % m), mode="replicate")
            if self._takes_tensors(runner, fallback):
                styled = runner.infer_tensor(_to_uint8_nhwc(padded), self.stream_b)
            else:  # a fallback network on NumPy: the small picture down and back (waits for stream B)
                host = _to_uint8_nhwc(padded).cpu().numpy()
                out = runner.infer({runner.inputs[0].name: host})[runner.outputs[0].name]
                styled = torch.from_numpy(out).to(self.device)
            styled = styled[:, :bh, :bw].permute(0, 3, 1, 2).float()
            if (bh, bw) != (h, w):
                styled = F.interpolate(styled, size=(h, w), mode="bilinear", align_corners=False)
        return styled, span

    def _background_runner(self, fallback: bool) -> tuple[Runner, int]:
        """`StyleEngine.background_network`, which has a network here."""
        runner, multiple = self.engine.background_network(fallback)
        assert runner is not None, "the stylizer leaves the background as captured without a runner"
        return runner, multiple

    def _takes_tensors(self, runner: Runner, fallback: bool) -> bool:
        """Whether `runner` runs on this part's tensors: the style's own always (the engine declares
        `takes_tensors`); a fallback network only when it takes tensors on this device type."""
        if not fallback or runner is not self.engine.fallback_background:
            return True
        return runner.takes_tensors and torch.device(runner.device).type == self.device.type

    def _background_aside(
        self, picture: torch.Tensor, size: tuple[int, int], fallback: bool
    ) -> tuple[torch.Tensor, Span]:
        """`_background` on the worker thread; on a GPU it returns once stream B has run it, so the
        job is done only when its picture and timing are."""
        styled, span = self._background(picture, size, fallback)
        if self.stream_b is not None:
            span.end.synchronize()
        return styled, span

    def start_background(
        self, picture: torch.Tensor, size: tuple[int, int], detached: bool, fallback: bool = False
    ) -> BackgroundJob:
        runner, _ = self._background_runner(fallback)
        # On the CPU, a worker thread stands in for stream B; on a GPU it runs a detached background
        # whose network takes NumPy only, which would otherwise hold this frame's thread.
        if detached and (self.stream_b is None or not self._takes_tensors(runner, fallback)):
            if self._worker is None:
                self._worker = ThreadPoolExecutor(1, thread_name_prefix="background")
            return self._worker.submit(self._background_aside, picture, size, fallback)
        job = Finished(*self._background(picture, size, fallback))
        if detached and self.stream_b is not None:
            picture.record_stream(self.stream_b)  # not reused by the allocator while B still reads it
        return job

    @torch.inference_mode()
    def compose(
        self, canvas: torch.Tensor, heads: torch.Tensor | None, matrices: list[np.ndarray], wait_for: Timing | None
    ) -> tuple[np.ndarray, Timing]:
        current = self._current()
        if current is not None:  # the join: compositing waits for the heads and this frame's background
            current.wait_stream(self.stream_a)
            if wait_for is not None:  # its end event, not the stream: a detached background queued after it runs on
                assert isinstance(wait_for, Span), "this device part's own timing"
                current.wait_event(wait_for.end)
        with Span(current, self._clock) as span:
            if heads is not None:
                h, w = canvas.shape[-2:]
                size = self.engine.layout.size
                back = warp(heads.permute(0, 3, 1, 2).float(), matrices, (h, w), border="zeros")
                alpha = warp(self.mask.expand(len(matrices), -1, size, size), matrices, (h, w), border="zeros")
                for i in range(len(matrices)):
                    canvas = canvas + alpha[i : i + 1] * (back[i : i + 1] - canvas)
            out = canvas.clamp(0, 255).round().to(torch.uint8)[0].permute(1, 2, 0)
        return out.cpu().numpy(), span  # waits for this frame's work (not for a detached background)

    def close(self) -> None:
        """Waits for a background still being stylized on the CPU; the engine is its owner's."""
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker = None
