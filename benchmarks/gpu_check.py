"""GPU check: conformance of the torch backend on CUDA, then a throughput sweep of the GPU path.

    python benchmarks/gpu_check.py [--device cuda] [--frames 200] [--quick]      (or: make gpu-check)

Needs only torch and NumPy (plus OpenCV, which streamer's compositing imports): no PyAV, no
MediaPipe, no downloaded weights. Networks have random weights: speed does not depend on them, and
conformance compares backends with each other. Frames are synthetic; faces are placed by matrices.

Sweep: 1280x720 and 1920x1080, 1 and 4 faces, one stream against two, fp16 against fp32; and, with
two streams, the live scheduler's first degraded level (the background stylized asynchronously,
refreshed every third frame, no frame waiting for it). Reported fps is the pipeline alone (upload,
heads, background, compositing, download), without decode or encode. The background is stylized at
short side 720 (DCT-Net's own limit).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streamer.engines.backends.torch import TorchRunner
from streamer.engines.base import DCTNET_LAYOUT, StyleEngine
from streamer.engines.models.photo2cartoon import Photo2Cartoon
from streamer.engines.models.unet import CartoonUNet
from streamer.pipeline.gpu import TorchFrameDevice
from streamer.pipeline.quality import BackgroundMode
from streamer.pipeline.stylizer import FrameStylizer
from streamer.tracking.alignment import similarity_transform


def conformance(device: str) -> list[str]:
    """Each family on `device` (fp32 and fp16) against fp32 on the CPU; returns failure lines."""
    failures = []
    rng = np.random.default_rng(0)
    for name, make, size in (
        ("dctnet", lambda: CartoonUNet(rgb=False, guided_eps=1e-2), 288),
        ("photo2cartoon", Photo2Cartoon, 256),
    ):
        torch.manual_seed(0)
        module = make()
        state = {k: v.clone() for k, v in module.state_dict().items()}
        images = rng.integers(0, 255, (2, size, size, 3), dtype=np.uint8)
        reference = TorchRunner(module, "cpu").infer({"image": images})["stylized"].astype(int)
        for precision, tolerance in (("fp32", 2), ("fp16", 16)):
            if precision == "fp16" and not device.startswith("cuda"):
                continue
            other = make()
            other.load_state_dict(state)
            got = TorchRunner(other, device, precision).infer({"image": images})["stylized"].astype(int)
            worst = int(np.abs(got - reference).max())
            status = "ok" if worst <= tolerance else "FAILED"
            print(f"conformance {name} {device} {precision}: max diff {worst} (tolerance {tolerance}) {status}")
            if worst > tolerance:
                failures.append(f"{name} {precision}")
    return failures


def face_matrices(width: int, height: int, faces: int) -> list[np.ndarray]:
    """Frame->crop matrices for `faces` heads spread over the frame, each about a fifth of its height."""
    out = []
    for i in range(faces):
        cx, cy, scale = width * (i + 1) / (faces + 1), height / 2, height / 5 / 68
        points = (DCTNET_LAYOUT.template - DCTNET_LAYOUT.template.mean(axis=0)) * scale + [cx, cy]
        out.append(similarity_transform(points, DCTNET_LAYOUT.template))
    return out


def sweep(device: str, frames: int, sizes, face_counts) -> list[str]:
    rows = [
        "| frame | faces | precision | streams | background | fps | ms/frame |",
        "|---|---|---|---|---|---|---|",
    ]
    rng = np.random.default_rng(1)
    for width, height in sizes:
        image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
        for precision in ("fp16", "fp32") if device.startswith("cuda") else ("fp32",):
            torch.manual_seed(0)
            heads = TorchRunner(
                CartoonUNet(rgb=False, guided_eps=1e-2), device, precision, cuda_graphs=device.startswith("cuda")
            )
            background = TorchRunner(
                CartoonUNet(rgb=False, guided_eps=1e-2), device, precision, cuda_graphs=device.startswith("cuda")
            )
            engine = StyleEngine("unet", heads, background, DCTNET_LAYOUT, background_multiple=16)
            for faces in face_counts:
                matrices = face_matrices(width, height, faces)
                for streams, mode in (
                    (1, BackgroundMode.STYLIZE),
                    (2, BackgroundMode.STYLIZE),
                    (2, BackgroundMode.ASYNC),
                ):
                    stylizer = FrameStylizer(
                        engine, TorchFrameDevice(engine, device, two_streams=streams == 2), background_short_side=720
                    )
                    for i in range(3):  # warm-up, CUDA graph capture
                        stylizer.stylize(image, matrices, mode, refresh=i == 0)
                    start = time.perf_counter()
                    for i in range(frames):
                        stylizer.stylize(image, matrices, mode, refresh=i % 3 == 0)
                    ms = (time.perf_counter() - start) / frames * 1000  # async work spans frames: a mean
                    stylizer.close()
                    label = "every frame" if mode is BackgroundMode.STYLIZE else "async, 1 in 3"
                    rows.append(
                        f"| {width}x{height} | {faces} | {precision} | {streams} | {label} | {1000 / ms:.1f} "
                        f"| {ms:.2f} |"
                    )
                    print(rows[-1], flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu (with --quick: a smoke test)")
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="small frames and few of them (a smoke test)")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        build = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        print(f"gpu_check: error: torch {torch.__version__} ({build}) sees no CUDA GPU", file=sys.stderr)
        return 2
    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "CPU"
    print(f"# gpu check on {name}, torch {torch.__version__}\n")
    failures = conformance(args.device)
    sizes = [(320, 176)] if args.quick else [(1280, 720), (1920, 1080)]
    rows = sweep(args.device, 2 if args.quick else args.frames, sizes, (1, 4))
    print("\n" + "\n".join(rows))
    if failures:
        print(f"conformance failed: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
