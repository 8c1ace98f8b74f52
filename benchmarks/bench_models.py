"""Learned styles on the CPU (ONNX Runtime): per-network times, then the whole file pipeline.

    python benchmarks/bench_models.py [--repeat 10]

Networks: the DCT-Net-family U-Net at 288x288 (head) and 480x368 (a 640x480 frame's background),
fp32 and int8, with 1 and 2 threads; photo2cartoon at 256x256. The U-Net uses the reference
weights in $STREAMER_MODELS_DIR (default ../shared/models) when present (its speed does not depend
on the weights), else random ones; photo2cartoon has random weights (same cost as trained ones).
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


def networks(repeat: int, unet: str) -> None:
    from streamer.engines.backends.onnxruntime import OnnxRuntimeRunner
    from streamer.engines.store import read_manifest

    rng = np.random.default_rng(0)
    rows = []
    wb, p2c = read_manifest("whitebox"), read_manifest("photo2cartoon")
    cases = [
        (unet, "head", wb.path("head"), wb.path("head_int8"), (1, 288, 288, 3)),
        (unet, "background", wb.path("head"), wb.path("head_int8"), (1, 368, 480, 3)),
        ("photo2cartoon (random weights)", "head", p2c.path("head"), None, (1, 256, 256, 3)),
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
        print(f"# learned styles, {os.cpu_count()} CPU cores, ONNX Runtime, medians of {args.repeat}\n")
        print("| network | input | precision | threads | ms |\n|---|---|---|---|---|")
        networks(args.repeat, unet)
        print("\n| clip | styles | backend | fps | stage medians (ms) |\n|---|---|---|---|---|")
        pipeline(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
