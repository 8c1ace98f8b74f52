"""Learned styles on the CPU (ONNX Runtime): per-network times, then the whole file pipeline.

    python benchmarks/bench_models.py [--repeat 10]

Networks: the DCT-Net-family U-Net at 288x288 (head) and 480x368 (a 640x480 frame's background),
fp32 and int8, with 1 and 2 threads, and the earlier int8 recipe (colour convolutions quantized
too) with 2; photo2cartoon at 256x256, fp32 and (not offered by the product) int8; then how far each
int8 graph moves the head network's output from fp32 on a real photo. Each network's variants run
in interleaved rounds (`--repeat` of them); the figures are medians.
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
        from tests.fakes import frozen_unet_constants

        pb = folder / "cartoon_h.pb"
        write_frozen_graph(pb, frozen_unet_constants(CartoonUNet(rgb=False, guided_eps=1e-2)))
        import_style(pb, "whitebox", "dctnet")
        unet = "U-Net (random weights)"
    checkpoint = folder / "photo2cartoon_weights.pt"
    torch.save({"genA2B": Photo2Cartoon().generator.state_dict()}, checkpoint)
    import_style(checkpoint, "photo2cartoon", "photo2cartoon")
    return unet


P2C = "photo2cartoon (random weights)"


# The earlier int8 recipe, for comparison: every convolution quantized, the colour ones too.
ALL_CONVS = "int8 (all convolutions)"


def _graphs(unet: str, folder: Path) -> list[tuple[str, int, dict[str, Path]]]:
    """(network, head size, {precision: graph}) for each family. photo2cartoon's int8 graph and the
    U-Net's all-convolutions one are made here with the product's quantizer; the product offers
    neither (see BENCHMARKS.md)."""
    from streamer.engines.install import quantize_int8
    from streamer.engines.store import read_manifest

    wb, p2c = read_manifest("whitebox"), read_manifest("photo2cartoon")
    wb_all, p2c_int8 = folder / "whitebox_int8_all.onnx", folder / "photo2cartoon_int8.onnx"
    quantize_int8(wb.path("head"), wb_all, 288, float_colour_convs=False)
    quantize_int8(p2c.path("head"), p2c_int8, 256)
    return [
        (unet, 288, {"fp32": wb.path("head"), "int8": wb.path("head_int8"), ALL_CONVS: wb_all}),
        (P2C, 256, {"fp32": p2c.path("head"), "int8": p2c_int8}),
    ]


def networks(repeat: int, graphs) -> None:
    from streamer.engines.backends.onnxruntime import OnnxRuntimeRunner

    rng = np.random.default_rng(0)
    (unet, _, unet_graphs), (p2c, _, p2c_graphs) = graphs
    cases = [
        (unet, "head", unet_graphs, (1, 288, 288, 3)),
        (unet, "background", unet_graphs, (1, 368, 480, 3)),
        (p2c, "head", p2c_graphs, (1, 256, 256, 3)),
    ]
    for name, what, variants, shape in cases:
        feed = {"image": rng.integers(0, 255, shape, dtype=np.uint8)}
        runners = {
            (precision, threads): OnnxRuntimeRunner(path, threads=threads)
            for precision, path in variants.items()
            for threads in ((1, 2) if precision != ALL_CONVS else (2,))
        }
        # Interleaved: every variant runs once per round, so a slower spell of this shared machine
        # weighs on all of them alike.
        times: dict[tuple[str, int], list[float]] = {key: [] for key in runners}
        for runner in runners.values():
            runner.infer(feed)  # warm-up
        for _ in range(repeat):
            for key, runner in runners.items():
                t0 = time.perf_counter()
                runner.infer(feed)
                times[key].append(time.perf_counter() - t0)
        for (precision, threads), runner in runners.items():
            ms = statistics.median(times[precision, threads]) * 1000
            print(f"| {name} | {what} {shape[2]}x{shape[1]} | {precision} | {threads} | {ms:.1f} |", flush=True)
            runner.close()


def int8_difference(graphs) -> None:
    """Each int8 graph against fp32 on the astronaut photo, in grey levels: mean, 99th percentile,
    maximum."""
    import cv2

    from streamer import samples as data
    from streamer.engines.backends.onnxruntime import OnnxRuntimeRunner

    for name, size, variants in graphs:
        photo = cv2.resize(np.ascontiguousarray(data.astronaut()[:, :, ::-1]), (size, size))[None]
        outputs = {}
        for precision, path in variants.items():
            with OnnxRuntimeRunner(path, threads=2) as runner:
                outputs[precision] = runner.infer({"image": photo})["stylized"].astype(int)
        for precision, output in outputs.items():
            if precision == "fp32":
                continue
            diff = np.abs(output - outputs["fp32"])
            print(
                f"| {name} | {precision} | {diff.mean():.2f} | {np.percentile(diff, 99):.0f} | {diff.max()} |",
                flush=True,
            )


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
        graphs = _graphs(_import_styles(folder), folder)
        print(f"# learned styles, {os.cpu_count()} CPU cores, ONNX Runtime, medians of {args.repeat}\n")
        print("| network | input | precision | threads | ms |\n|---|---|---|---|---|")
        networks(args.repeat, graphs)
        print("\nint8 against fp32 on the astronaut photo (grey levels)\n")
        print("| network | int8 graph | mean | 99th percentile | max |\n|---|---|---|---|---|")
        int8_difference(graphs)
        print("\n| clip | styles | backend | fps | stage medians (ms) |\n|---|---|---|---|---|")
        pipeline(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
