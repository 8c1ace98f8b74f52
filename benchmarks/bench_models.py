"""Learned styles on the CPU (ONNX Runtime): per-network times, then the whole file pipeline.

    python benchmarks/bench_models.py [--repeat 10]

Networks: the DCT-Net-family U-Net at 288x288 (head) and 480x368 (a 640x480 frame's background),
fp32 and int8, with 1 and 2 threads; photo2cartoon at 256x256, fp32 and (not offered by the
product) int8; then how far int8 moves each head network's output from fp32 on a real photo.
The U-Net uses the reference weights in $STREAMER_MODELS_DIR (default ../shared/models) when
present (its speed does not depend on the weights), else random ones; photo2cartoon has random
weights (same cost as trained ones).
Pipeline: `streamer stylize` on a generated 640x480 clip and the webcam clip (when present) with the
learned head and the built-in background, int8 on the CPU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MODELS_DIR = Path(os.environ.get("STREAMER_MODELS_DIR", REPO.parent / "shared" / "models"))
MEDIA_DIR = Path(os.environ.get("STREAMER_MEDIA_DIR", REPO.parent / "shared" / "media"))


def _median_ms(run, repeat: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def _import_styles(folder: Path) -> str:
    """Import the U-Net style (reference TFLite or a random DCT-Net-layout graph) and photo2cartoon."""
    import torch

    from streamer.engines.install import import_style
    from streamer.engines.models.photo2cartoon import Photo2Cartoon

    reference = MODELS_DIR / "whitebox_cartoon_gan_fp16.tflite"
    if reference.exists():
        import_style(reference, "whitebox", "dctnet")
        unet = "whitebox (reference weights)"
    else:
        sys.path.insert(0, str(REPO))
        from streamer.engines.graphdef import write_frozen_graph
        from streamer.engines.models.unet import CartoonUNet
        from tests.test_models_unet import _tf_constants

        pb = folder / "cartoon_h.pb"
        write_frozen_graph(pb, _tf_constants(CartoonUNet(rgb=False, guided_eps=1e-2)))
        import_style(pb, "whitebox", "dctnet")
        unet = "U-Net (random weights)"
    checkpoint = folder / "photo2cartoon_weights.pt"
    torch.save({"genA2B": Photo2Cartoon().generator.state_dict()}, checkpoint)
    import_style(checkpoint, "photo2cartoon", "photo2cartoon")
    return unet


P2C = "photo2cartoon (random weights)"


def _int8_pairs(unet: str, p2c_int8: Path) -> list[tuple[str, Path, Path, int]]:
    """(name, fp32 graph, int8 graph, head size) for each family. photo2cartoon's int8 graph is
    made here with the same quantizer: the product does not offer it (see BENCHMARKS.md)."""
    from streamer.engines.store import read_manifest

    wb, p2c = read_manifest("whitebox"), read_manifest("photo2cartoon")
    return [(unet, wb.path("head"), wb.path("head_int8"), 288), (P2C, p2c.path("head"), p2c_int8, 256)]


def networks(repeat: int, unet: str, p2c_int8: Path) -> None:
    from streamer.engines.backends.onnxruntime import OnnxRuntimeRunner

    rng = np.random.default_rng(0)
    rows = []
    (_, wb_fp32, wb_int8, _), (_, p2c_fp32, _, _) = _int8_pairs(unet, p2c_int8)
    cases = [
        (unet, "head", wb_fp32, wb_int8, (1, 288, 288, 3)),
        (unet, "background", wb_fp32, wb_int8, (1, 368, 480, 3)),
        (P2C, "head", p2c_fp32, p2c_int8, (1, 256, 256, 3)),
    ]
    for name, what, fp32, int8, shape in cases:
        image = rng.integers(0, 255, shape, dtype=np.uint8)
        for precision, path in (("fp32", fp32), ("int8", int8)):
            if path is None:
                continue
            for threads in (1, 2):
                with OnnxRuntimeRunner(path, threads=threads) as runner:
                    ms = _median_ms(lambda r=runner, x=image: r.infer({"image": x}), repeat)
                rows.append(f"| {name} | {what} {shape[2]}x{shape[1]} | {precision} | {threads} | {ms:.1f} |")
                print(rows[-1], flush=True)


def int8_difference(unet: str, p2c_int8: Path) -> None:
    """int8 against fp32 on the astronaut photo, in grey levels: mean, 99th percentile, maximum."""
    import cv2
    from skimage import data

    from streamer.engines.backends.onnxruntime import OnnxRuntimeRunner

    for name, fp32, int8, size in _int8_pairs(unet, p2c_int8):
        photo = cv2.resize(np.ascontiguousarray(data.astronaut()[:, :, ::-1]), (size, size))[None]
        outputs = []
        for path in (fp32, int8):
            with OnnxRuntimeRunner(path, threads=2) as runner:
                outputs.append(runner.infer({"image": photo})["stylized"].astype(int))
        diff = np.abs(outputs[1] - outputs[0])
        print(f"| {name} | {diff.mean():.1f} | {np.percentile(diff, 99):.0f} | {diff.max()} |", flush=True)


def pipeline(folder: Path) -> None:
    from streamer.capture.synthetic import Motion, SyntheticSource, write_clip
    from streamer.pipeline.file_job import StylizeOptions, stylize_file

    clip = folder / "generated_640x480.mp4"
    source = SyntheticSource(
        [Motion((320, 250), scale=1.3, sway=(80, 25), tilt=10, period=5.0)], duration=6.0, noise=2.0
    )
    write_clip(clip, (f.image for f in source))
    clips = [clip] + [p for p in [MEDIA_DIR / "streamer_webcam_488p.mp4"] if p.exists()]
    for path in clips:
        for style, background in (("whitebox", "toon"), ("photo2cartoon", "same")):
            options = StylizeOptions(style=style, background_style=background)
            report = stylize_file(path, folder / "out.mp4", options)
            print(
                f"| {path.name} | {style} head, {background if background != 'same' else 'toon'} background | "
                f"{report.backend} | {report.fps:.1f} | {report.stage_summary} |",
                flush=True,
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["STREAMER_HOME"] = str(folder / "home")
        unet = _import_styles(folder)
        from streamer.engines.install import quantize_int8
        from streamer.engines.store import read_manifest

        p2c_int8 = folder / "photo2cartoon_int8.onnx"
        quantize_int8(read_manifest("photo2cartoon").path("head"), p2c_int8, 256)
        print(f"# learned styles, {os.cpu_count()} CPU cores, ONNX Runtime, medians of {args.repeat}\n")
        print("| network | input | precision | threads | ms |\n|---|---|---|---|---|")
        networks(args.repeat, unet, p2c_int8)
        print("\nint8 against fp32 on the astronaut photo (grey levels)\n")
        print("| network | mean | 99th percentile | max |\n|---|---|---|---|")
        int8_difference(unet, p2c_int8)
        print("\n| clip | styles | backend | fps | stage medians (ms) |\n|---|---|---|---|---|")
        pipeline(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
