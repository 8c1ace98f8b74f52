"""The GPU path: a frame is uploaded once, stylized and composited as tensors, downloaded once.

    upload ──▶ stream A: warp head crops (one batch) ─▶ head network ──────────┐
           └─▶ stream B: shrink background ─▶ background network ─▶ grow ───┴─ event ─▶ paste heads ─▶ download

Heads and background run on two CUDA streams and meet at an event before compositing. The same
code runs on the CPU (streams become no-ops), which is how it is tested without a GPU. Imports only
torch and NumPy (no PyAV, no MediaPipe), so it runs on machines that have nothing else.
"""

from __future__ import annotations

import contextlib
import time

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


def _to_uint8_nhwc(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()


class TorchFrameStylizer:
    """Stylizes whole frames on `device` with runners that take tensors (`infer_tensor(image, stream)`).

    `background_hw(h, w)` gives the size to stylize the background at; `multiple` pads it for the
    network. With `two_streams` off, everything runs on one stream (for comparison).
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

    def _on(self, stream):
        return torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext()

    def _heads(self, frame: torch.Tensor, matrices: list[np.ndarray]):
        size = self.layout.size
        crop_to_frame = [invert_affine(m) for m in matrices]
        crops = warp(frame, crop_to_frame, (size, size), border="border")
        return self.heads.infer_tensor(_to_uint8_nhwc(crops), self.stream_a)

    def _background(self, frame: torch.Tensor) -> torch.Tensor:
        h, w = frame.shape[-2:]
        bh, bw = self.background_hw(h, w)
        small = F.interpolate(frame, size=(bh, bw), mode="area") if (bh, bw) != (h, w) else frame
        m = self.multiple
        padded = F.pad(small, (0, (-bw) % m, 0, (-bh) % m), mode="replicate")
        styled = self.background.infer_tensor(_to_uint8_nhwc(padded), self.stream_b)
        styled = styled[:, :bh, :bw].permute(0, 3, 1, 2).float()
        return (
            F.interpolate(styled, size=(h, w), mode="bilinear", align_corners=False) if (bh, bw) != (h, w) else styled
        )

    @torch.inference_mode()
    def __call__(self, image: np.ndarray, matrices: list[np.ndarray]) -> np.ndarray:
        """uint8 HxWx3 BGR frame and each face's frame->crop matrix -> the stylized frame."""
        host = torch.from_numpy(image)
        if self.device.type == "cuda":
            host = host.pin_memory()
        frame = host.to(self.device, non_blocking=True).permute(2, 0, 1)[None].float()
        current = torch.cuda.current_stream(self.device) if self.device.type == "cuda" else None
        for stream in {self.stream_a, self.stream_b} - {None}:
            stream.wait_stream(current)
        with self._on(self.stream_a):
            heads = self._heads(frame, matrices) if matrices else None
        with self._on(self.stream_b):
            canvas = self._background(frame)
        if current is not None:  # the join: compositing waits for both streams
            current.wait_stream(self.stream_a)
            current.wait_stream(self.stream_b)
        if heads is not None:
            h, w = frame.shape[-2:]
            size = self.layout.size
            back = warp(heads.permute(0, 3, 1, 2).float(), matrices, (h, w), border="zeros")
            alpha = warp(self.mask.expand(len(matrices), -1, size, size), matrices, (h, w), border="zeros")
            for i in range(len(matrices)):
                canvas = canvas + alpha[i : i + 1] * (back[i : i + 1] - canvas)
        return canvas.clamp(0, 255).round().to(torch.uint8)[0].permute(1, 2, 0).cpu().numpy()


class GpuFrameStylizer:
    """`FrameStylizer`'s interface (`stylizer(frame, faces) -> image`) over the GPU path.

    Used when the engine's runners take CUDA tensors (torch or TensorRT on a GPU) and its family
    needs no CPU preprocessing of the heads.
    """

    def __init__(self, engine, background_scale: float | None, background_short_side: int | None) -> None:
        from streamer.compose.background import background_size

        self.engine = engine
        self._gpu = TorchFrameStylizer(
            engine._heads,
            engine._background,
            engine.layout,
            engine.head_mask,
            "cuda",
            background_hw=lambda h, w: background_size(w, h, background_scale, background_short_side)[::-1],
            multiple=engine.background_multiple,
        )

    @staticmethod
    def supports(engine) -> bool:
        runners = (engine._heads, engine._background)
        on_cuda = all(getattr(getattr(r, "device", None), "type", None) == "cuda" for r in runners)
        return on_cuda and all(hasattr(r, "infer_tensor") for r in runners) and engine.segmenter is None

    def __call__(self, frame, faces) -> np.ndarray:
        from streamer.pipeline.stylizer import head_matrices

        t0 = time.perf_counter()
        out = self._gpu(frame.image, head_matrices(faces, self.engine.layout.template))
        frame.stage_ms["stylize (gpu)"] = (time.perf_counter() - t0) * 1000.0
        return out

    def close(self) -> None:
        """Nothing to release beyond the engine, which its owner closes."""
