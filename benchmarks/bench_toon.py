"""The built-in style, second version: what the new `toon` costs and how steady it is, against
`poster` (the first built-in look, whose graph is unchanged), side by side in one run.

    python benchmarks/bench_toon.py [--rounds 40] [--noise-frames 60] [--sigma 3]

1. Cost, ONNX Runtime on the CPU with one thread per network (file mode's engine options), in
   interleaved rounds (every round times each style once on each input, alternating which goes
   first), medians:
   - the head network on a 288x288 aligned head crop (the portrait's face);
   - the background network on a 640x480 frame (the portrait, 640 wide, its top 480 rows);
   - the whole frame stylizer on that frame: one face and the background at file mode's default
     short side (360), composed, as `streamer stylize` does for each frame.
   `poster`'s times are the machine-state reference: the ratio toon / poster is what to read.
   The bare `poster` head network is also timed alone before and after (median of 20 runs).
2. Flicker, as `bench_reuse.py` defines it, with temporal reuse off (the built-in styles stylize
   every frame): portrait_photo.jpg ($STREAMER_MEDIA_DIR, else a bundled sample) at 640 wide plus
   Gaussian sensor noise drawn anew for each frame, faces tracked with landmark smoothing; the mean
   absolute frame-to-frame difference (grey levels, mean over B, G, R) in the face region (the pasted
   head's mask above 0.5) and its core (above 0.95).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
from bench_reuse import engine_matrices, face_region, grey_diff, noisy_frames, portrait, reference_crop, track

STYLES = ("poster", "toon")  # poster first: the reference


def _ms(call, *args) -> float:
    t0 = time.perf_counter()
    call(*args)
    return (time.perf_counter() - t0) * 1000


def bare_head(engine, crop: np.ndarray, runs: int = 20) -> float:
    """Median ms of a style's head network alone on one crop."""
    batch = crop[None]
    engine.stylize_heads(batch)
    return statistics.median(_ms(engine.stylize_heads, batch) for _ in range(runs))


def cost(engines: dict, crop: np.ndarray, frame: np.ndarray, faces: list, rounds: int) -> dict[tuple[str, str], float]:
    """{(style, measure): median ms} over interleaved rounds."""
    from streamer.pipeline.file_job import StylizeOptions
    from streamer.pipeline.stylizer import open_frame_stylizer

    short_side = StylizeOptions().background_short_side
    stylizers = {s: open_frame_stylizer(e, background_short_side=short_side) for s, e in engines.items()}
    matrices = {s: stylizers[s].head_matrices(faces) for s in engines}
    work = {
        "head 288x288": lambda s: engines[s].stylize_heads(crop[None]),
        "background 640x480": lambda s: engines[s].stylize_background(frame),
        "frame 640x480, 1 face": lambda s: stylizers[s].stylize(frame, matrices[s]),
    }
    times: dict[tuple[str, str], list[float]] = {(s, m): [] for s in engines for m in work}
    try:
        for r in range(rounds + 2):  # two warm-up rounds
            order = list(engines) if r % 2 == 0 else list(reversed(engines))
            for measure, run in work.items():
                for style in order:
                    elapsed = _ms(run, style)
                    if r >= 2:
                        times[(style, measure)].append(elapsed)
    finally:
        for stylizer in stylizers.values():
            stylizer.close()
    return {key: statistics.median(values) for key, values in times.items()}


def flicker(engine, frames: list[np.ndarray], faces: list[list]) -> tuple[float, float]:
    """(mean frame-to-frame difference in the face region, the same in its core), every frame
    stylized on its own."""
    from streamer.pipeline.file_job import StylizeOptions
    from streamer.pipeline.stylizer import open_frame_stylizer

    stylizer = open_frame_stylizer(engine, background_short_side=StylizeOptions().background_short_side)
    region_diffs, core_diffs = [], []
    previous = None
    try:
        for image, found in zip(frames, faces, strict=True):
            matrices = stylizer.head_matrices(found)
            out = stylizer.stylize(image, matrices)
            region = face_region(engine, matrices, image.shape)
            core = face_region(engine, matrices, image.shape, 0.95)
            if previous is not None and region.any():
                last, last_region, last_core = previous
                diff = grey_diff(out, last)
                region_diffs.append(float(diff[region & last_region].mean()))
                core_diffs.append(float(diff[core & last_core].mean()))
            previous = (out, region, core) if region.any() else None
    finally:
        stylizer.close()
    return float(np.mean(region_diffs)), float(np.mean(core_diffs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=40, help="interleaved timing rounds (measure 1)")
    parser.add_argument("--noise-frames", type=int, default=60, help="frames of the still photo (measure 2)")
    parser.add_argument("--sigma", type=float, default=3.0, help="sensor noise, grey levels (measure 2)")
    args = parser.parse_args()

    from streamer.engines import open_engine
    from streamer.pipeline.file_job import StylizeOptions

    base, source = portrait()
    still = noisy_frames(base, args.noise_frames, args.sigma)
    still_faces = track(still)
    frame = np.ascontiguousarray(base[:480, :640])
    frame_faces = track([frame])[0]
    print(f"# The built-in style, second version ({os.cpu_count()} CPU cores, one thread per network)\n")
    print(f"Input: {source}, {base.shape[1]}x{base.shape[0]}; faces on the 640x480 frame: {len(frame_faces)}.\n")

    engines = {style: open_engine(StylizeOptions(style=style)) for style in STYLES}
    try:
        crop = reference_crop(still[0], still_faces[0], engines["poster"])
        before = bare_head(engines["poster"], crop)
        medians = cost(engines, crop, frame, frame_faces, args.rounds)
        after = bare_head(engines["poster"], crop)
        print("## 1. Cost per call, ms (medians of interleaved rounds)\n")
        print(
            f"Machine state: the bare poster head network, 288x288, median of 20 runs: {before:.2f} ms before, "
            f"{after:.2f} ms after. {args.rounds} rounds.\n"
        )
        print("| measure | poster (reference) | toon | toon / poster |")
        print("|---|---|---|---|")
        for measure in ("head 288x288", "background 640x480", "frame 640x480, 1 face"):
            old, new = medians[("poster", measure)], medians[("toon", measure)]
            print(f"| {measure} | {old:.2f} | {new:.2f} | {new / old:.2f}x |")
        print()

        print("## 2. Flicker: a still face under sensor noise, every frame stylized\n")
        regions = [face_region(engines["toon"], engine_matrices(engines["toon"], f), base.shape) for f in still_faces]
        noise = [
            float(grey_diff(still[i], still[i - 1])[regions[i] & regions[i - 1]].mean())
            for i in range(1, len(still))
            if regions[i].any() and regions[i - 1].any()
        ]
        print(
            f"{source} at {base.shape[1]}x{base.shape[0]}, Gaussian noise sigma {args.sigma:g} drawn anew for each "
            f"of {args.noise_frames} frames, lossless; temporal reuse off. The input itself changes by "
            f"{np.mean(noise):.2f} grey levels in the face region.\n"
        )
        print("| style | face region (mask > 0.5) | core (mask > 0.95) |")
        print("|---|---|---|")
        for style in STYLES:
            region, core = flicker(engines[style], still, still_faces)
            print(f"| {style} | {region:.2f} | {core:.2f} |")
    finally:
        for engine in engines.values():
            engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
