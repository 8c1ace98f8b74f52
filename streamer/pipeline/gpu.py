"""The GPU path: a frame is uploaded once, stylized and composited as tensors, downloaded once.

    upload ──▶ stream A: warp head crops (one batch) ─▶ head network ──────────┐
           └─▶ stream B: shrink background ─▶ background network ─▶ grow ───┴─ event ─▶ paste heads ─▶ download

Heads and background run on two CUDA streams and meet at an event before compositing. For live
streams the latency scheduler's background modes work here too: "async" composites the newest
finished background while the next one is computed on stream B without the frame waiting for it,
and "original" keeps the frame as captured. Each stage is timed on its own stream with CUDA events.
The same code runs on the CPU (streams become no-ops, stages are timed by the clock), which is how
it is tested without a GPU. Imports only torch and NumPy (no PyAV, no MediaPipe), so it runs on
machines that have nothing else.
"""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F

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
    src_hw = tuple(images.shape[-2:])
    theta = torch.as_tensor(
        np.stack([_theta(m, src_hw, out_hw) for m in dst_to_src]), dtype=images.dtype, device=images.device
    )
    grid = F.affine_grid(theta, [n, images.shape[1], *out_hw], align_corners=False)
    if images.shape[0] != n:
        images = images.expand(n, -1, -1, -1)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode=border, align_corners=False)


class _Queued:
    """A background queued on stream B: the `Future` interface, done when the stream has run it."""

    def __init__(self, styled: torch.Tensor, span: _Span) -> None:
        self._result = (styled, span)

    def done(self) -> bool:
        return self._result[1].done()

    def result(self) -> tuple[torch.Tensor, _Span]:
        return self._result


def _to_uint8_nhwc(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()


class _Span:
    """Milliseconds of the work queued inside `with` on `stream`: CUDA events on a GPU (readable once
    `done()`), the clock on the CPU (`stream` None), where work runs as it is queued."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self._ms = 0.0
        if stream is not None:
            self.start, self.end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

    def __enter__(self) -> _Span:
        if self.stream is None:
            self._t0 = time.perf_counter()
        else:
            self.start.record(self.stream)
        return self

    def __exit__(self, *exc) -> None:
        if self.stream is None:
            self._ms = (time.perf_counter() - self._t0) * 1000.0
        else:
            self.end.record(self.stream)

    def done(self) -> bool:
        return self.stream is None or self.end.query()

    @property
    def ms(self) -> float:
        return self._ms if self.stream is None else self.start.elapsed_time(self.end)


class TorchFrameStylizer:
    """Stylizes whole frames on `device` with runners that take tensors (`infer_tensor(image, stream)`).

    `background_hw(h, w)` gives the size to stylize the background at; `multiple` pads it for the
    network. With `two_streams` off, everything runs on one stream (for comparison). Calls in
    "stylize" and "original" mode may come from several threads at once (the file pipeline keeps
    two frames in flight); "async" and "probe" are for one caller at a time (a live stream).
    """

    def __init__(
        self,
        head_runner,
        background_runner,
        layout,
        head_mask: np.ndarray,
        device: str,
        background_hw,
        multiple: int = 16,
        two_streams: bool = True,
    ) -> None:
        self.device = torch.device(device)
        self.heads, self.background = head_runner, background_runner
        self.layout = layout
        self.mask = torch.as_tensor(head_mask, dtype=torch.float32, device=self.device)[None, None]
        self.background_hw = background_hw
        self.multiple = multiple
        cuda = self.device.type == "cuda"
        self.stream_a = torch.cuda.Stream(self.device) if cuda else None
        self.stream_b = (torch.cuda.Stream(self.device) if two_streams else self.stream_a) if cuda else None
        self._latest: torch.Tensor | None = None  # the newest finished asynchronous background
        self._pending: _Queued | Future | None = None  # the one being computed
        self._worker: ThreadPoolExecutor | None = None  # runs it on the CPU

    def _on(self, stream):
        return torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext()

    @contextlib.contextmanager
    def _timed(self, spans: dict[str, _Span], stage: str, stream):
        """Runs the `with` body on `stream`, timed as `spans[stage]`."""
        span = _Span(stream)
        with self._on(stream), span:
            yield
        spans[stage] = span

    def _heads(self, frame: torch.Tensor, matrices: list[np.ndarray]):
        size = self.layout.size
        crop_to_frame = [invert_affine(m) for m in matrices]
        crops = warp(frame, crop_to_frame, (size, size), border="border")
        return self.heads.infer_tensor(_to_uint8_nhwc(crops), self.stream_a)

    def _background(self, frame: torch.Tensor, factor: float = 1.0) -> torch.Tensor:
        h, w = frame.shape[-2:]
        bh, bw = self.background_hw(h, w)
        bh, bw = max(16, round(bh * factor)), max(16, round(bw * factor))
        small = F.interpolate(frame, size=(bh, bw), mode="area") if (bh, bw) != (h, w) else frame
        m = self.multiple
        padded = F.pad(small, (0, (-bw) % m, 0, (-bh) % m), mode="replicate")
        styled = self.background.infer_tensor(_to_uint8_nhwc(padded), self.stream_b)
        styled = styled[:, :bh, :bw].permute(0, 3, 1, 2).float()
        return (
            F.interpolate(styled, size=(h, w), mode="bilinear", align_corners=False) if (bh, bw) != (h, w) else styled
        )

    @torch.inference_mode()
    def _timed_background(self, frame: torch.Tensor, factor: float) -> tuple[torch.Tensor, _Span]:
        span = _Span(self.stream_b)
        with self._on(self.stream_b), span:
            styled = self._background(frame, factor)
        return styled, span

    def _launch_background(self, frame: torch.Tensor, factor: float) -> None:
        """Start stylizing `frame`'s background: queued on stream B on a GPU, on a worker thread on
        the CPU. No frame waits for it."""
        if self.stream_b is None:
            if self._worker is None:
                self._worker = ThreadPoolExecutor(1, thread_name_prefix="background")
            self._pending = self._worker.submit(self._timed_background, frame, factor)
            return
        styled, span = self._timed_background(frame, factor)
        frame.record_stream(self.stream_b)  # not reused by the allocator while B still reads it
        self._pending = _Queued(styled, span)

    def _canvas(
        self, frame: torch.Tensor, mode: str, factor: float, refresh: bool, spans: dict
    ) -> tuple[torch.Tensor, bool]:
        """The picture the heads go onto, and whether a background was made for it now (then
        `spans["background"]` times it, and compositing waits for that work; it never waits for an
        asynchronous background still being computed).

        "async" and "probe": the newest finished background (made now only when there is none of
        this size yet, and only if it is to be shown); `refresh` starts the next. A background
        that finished since the last frame has its time put in `spans`.
        """
        if mode not in ("stylize", "async", "probe"):
            return frame, False
        asynchronous = mode != "stylize"
        if asynchronous and self._pending is not None and self._pending.done():
            self._latest, spans["background"] = self._pending.result()
            self._pending = None
        stale = self._latest is None or self._latest.shape != frame.shape
        made_now = mode == "stylize" or (mode == "async" and stale)
        if made_now:  # kept as the newest: a switch to "async" then starts without making one
            with self._timed(spans, "background", self.stream_b):
                self._latest = self._background(frame, factor)
        if asynchronous and refresh and self._pending is None:
            self._launch_background(frame, factor)
        return (frame if mode == "probe" else self._latest), made_now

    @torch.inference_mode()
    def __call__(
        self,
        image: np.ndarray,
        matrices: list[np.ndarray],
        background: str = "stylize",
        background_factor: float = 1.0,
        refresh: bool = True,
        stage_ms: dict[str, float] | None = None,
    ) -> np.ndarray:
        """uint8 HxWx3 BGR frame and each face's frame->crop matrix -> the stylized frame.

        `background`: "stylize" (this frame's, beside the heads), "async" (the newest finished one;
        `refresh` starts the next), "original" (as captured) or "probe" (as captured, while a
        background keeps being stylized on the side to measure it). `background_factor` scales the
        background's stylizing size further (the scheduler's lower resolution). `stage_ms` receives
        the milliseconds of what ran: `heads`, `background` (one stylized, or an asynchronous one
        that finished) and `compose`.
        """
        spans: dict[str, _Span] = {}
        host = torch.from_numpy(image)
        if self.device.type == "cuda":
            host = host.pin_memory()
        frame = host.to(self.device, non_blocking=True).permute(2, 0, 1)[None].float()
        current = torch.cuda.current_stream(self.device) if self.device.type == "cuda" else None
        for stream in {self.stream_a, self.stream_b} - {None}:
            stream.wait_stream(current)
        heads = None
        if matrices:
            with self._timed(spans, "heads", self.stream_a):
                heads = self._heads(frame, matrices)
        canvas, made_now = self._canvas(frame, background, background_factor, refresh, spans)
        if current is not None:  # the join: compositing waits for the heads and this frame's background
            current.wait_stream(self.stream_a)
            if made_now:  # its end event, not the stream: a background launched after it runs on
                current.wait_event(spans["background"].end)
        with self._timed(spans, "compose", current):
            if heads is not None:
                h, w = frame.shape[-2:]
                size = self.layout.size
                back = warp(heads.permute(0, 3, 1, 2).float(), matrices, (h, w), border="zeros")
                alpha = warp(self.mask.expand(len(matrices), -1, size, size), matrices, (h, w), border="zeros")
                for i in range(len(matrices)):
                    canvas = canvas + alpha[i : i + 1] * (back[i : i + 1] - canvas)
            out = canvas.clamp(0, 255).round().to(torch.uint8)[0].permute(1, 2, 0)
        result = out.cpu().numpy()  # waits for this frame's work (not for a pending background)
        if stage_ms is not None:
            stage_ms.update({stage: span.ms for stage, span in spans.items()})
        return result

    def close(self) -> None:
        """Wait for a background still being stylized on the CPU and stop its worker."""
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker = None
        self._pending = self._latest = None


class GpuFrameStylizer:
    """`FrameStylizer`'s interface (`stylizer(frame, faces, background, factor, refresh) -> image`,
    `probe_background`) over the GPU path, for files and live streams alike.

    Used when the engine's runners take tensors on one CUDA device (torch or TensorRT on a GPU) and
    its family needs no CPU preprocessing of the heads. `device` overrides the runners' device (the
    tests run this path on the CPU).
    """

    def __init__(
        self, engine, background_scale: float | None, background_short_side: int | None, device: str | None = None
    ) -> None:
        from streamer.compose.background import background_size

        self.engine = engine
        self._probe_factor: float | None = None
        self._gpu = TorchFrameStylizer(
            engine._heads,
            engine._background,
            engine.layout,
            engine.head_mask,
            device or str(engine._heads.device),
            background_hw=lambda h, w: background_size(w, h, background_scale, background_short_side)[::-1],
            multiple=engine.background_multiple,
        )

    @staticmethod
    def supports(engine) -> bool:
        if not engine.stylizes_background:
            return False
        runners = (engine._heads, engine._background)
        devices = {str(getattr(r, "device", "")) for r in runners}
        on_one_gpu = len(devices) == 1 and devices.pop().startswith("cuda")
        return on_one_gpu and all(hasattr(r, "infer_tensor") for r in runners) and engine.segmenter is None

    def head_matrices(self, faces) -> list[np.ndarray]:
        from streamer.pipeline.stylizer import head_matrices

        return head_matrices(faces, self.engine.layout.template)

    def probe_background(self, frame, factor: float = 1.0) -> None:
        """The next frame goes out as captured while a background is stylized on the side and timed."""
        self._probe_factor = factor

    def __call__(
        self, frame, faces, background: str = "stylize", background_factor: float = 1.0, refresh: bool = True
    ) -> np.ndarray:
        if self._probe_factor is not None and background == "original":
            background, background_factor, refresh = "probe", self._probe_factor, True
        self._probe_factor = None
        matrices = self.head_matrices(faces)
        return self._gpu(frame.image, matrices, background, background_factor, refresh, frame.stage_ms)

    def close(self) -> None:
        """Releases the path's own state; the engine is its owner's to close."""
        self._gpu.close()
