"""`streamer live` as a newcomer runs it: no tuning flags, a clip played as a camera.

    python benchmarks/live_defaults.py [--seconds 60] [--styles whitebox toon] [--temporal auto off]

For each style (and temporal mode), runs
`streamer live --source CLIP --realtime --loop --style STYLE --sink file:OUT --duration S --stats-json F`
as a subprocess (the recording is a real sink: encoding is part of the run) and reports from its
per-second stats, leaving out the first second: output fps (median and lowest second), latency p99
(median of the seconds, and the worst), p50 in the first and the last 10 s (flat or growing), the
seconds spent at each rung, and the share of seconds in passthrough. Before each run, the machine's
state: the median time of the learned head network (int8, 288x288, two threads) on a still crop.

`whitebox` is imported from the reference weights in $STREAMER_MODELS_DIR when present;
`photo2cartoon` with random weights (its speed does not depend on them; its pictures do, so only
its speed and rungs are figures here). The last column is what the run's summary line says of the
background: whose network made it on what share of the stylized frames.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MEDIA_DIR = Path(os.environ.get("STREAMER_MEDIA_DIR", REPO.parent / "shared" / "media"))
MODELS_DIR = Path(os.environ.get("STREAMER_MODELS_DIR", REPO.parent / "shared" / "models"))


def reference_ms(style: str) -> float:
    """Median milliseconds of `style`'s head network on one crop: the machine's state right now."""
    from streamer.engines.registry import open_engine

    with open_engine(style, threads=2) as engine:
        crop = np.full((1, engine.layout.size, engine.layout.size, 3), 128, np.uint8)
        engine.stylize_heads(crop)
        times = []
        for _ in range(10):
            t = time.perf_counter()
            engine.stylize_heads(crop)
            times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def run(clip: Path, style: str, temporal: str, seconds: float, folder: Path) -> tuple[list[dict], str]:
    stats = folder / f"{style}-{temporal}.jsonl"
    command = [sys.executable, "-m", "streamer", "live", "--source", str(clip), "--realtime", "--loop"]
    command += ["--style", style, "--sink", f"file:{folder / f'{style}-{temporal}.mp4'}"]
    command += ["--duration", str(seconds), "--stats-json", str(stats), "--quiet"]
    if temporal != "auto":
        command += ["--temporal", temporal]
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    said = next((part for part in done.stdout.split("; ") if part.startswith("background: ")), "background: -")
    return [json.loads(line) for line in stats.read_text().splitlines()], said.removeprefix("background: ")


def import_photo2cartoon(folder: Path) -> None:
    """photo2cartoon with random weights, imported as a user imports the official checkpoint."""
    import torch

    from streamer.engines.install import import_style
    from streamer.engines.models.photo2cartoon import Photo2Cartoon

    checkpoint = folder / "photo2cartoon_weights.pt"
    torch.save({"genA2B": Photo2Cartoon().generator.state_dict()}, checkpoint)
    import_style(checkpoint, "photo2cartoon", "photo2cartoon")


def summary(records: list[dict]) -> str:
    steady = [r for r in records if r["t"] > 1.5]
    fps = [r["fps_out"] for r in steady]
    p99 = [r["latency_ms_p99"] for r in steady if r["latency_ms_p99"] is not None]
    first = [r["latency_ms_p50"] for r in steady[:10] if r["latency_ms_p50"] is not None]
    last = [r["latency_ms_p50"] for r in steady[-10:] if r["latency_ms_p50"] is not None]
    rungs = collections.Counter(r["rung"] for r in steady)
    passthrough = rungs.get("passthrough", 0) / max(len(steady), 1)
    top = "; ".join(f"{n} s {rung}" for rung, n in rungs.most_common(3))
    return (
        f"{statistics.median(fps):.0f} (lowest {min(fps)}) | {statistics.median(p99):.0f} (worst {max(p99):.0f}) | "
        f"{statistics.median(first):.0f} / {statistics.median(last):.0f} | {passthrough:.0%} | {top}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clip", type=Path, default=MEDIA_DIR / "streamer_webcam_488p.mp4")
    parser.add_argument("--styles", nargs="+", default=["whitebox", "toon"], help="also: photo2cartoon")
    parser.add_argument("--temporal", nargs="+", default=["auto"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ.setdefault("STREAMER_HOME", str(folder / "home"))
        reference = MODELS_DIR / "whitebox_cartoon_gan_fp16.tflite"
        styles = list(args.styles)
        if "whitebox" in styles:
            from streamer.engines.install import import_style
            from streamer.engines.registry import available_styles

            if "whitebox" not in available_styles() and reference.exists():
                import_style(reference, "whitebox", "dctnet")
            elif "whitebox" not in available_styles():
                print(f"(no {reference.name}: whitebox left out)")
                styles.remove("whitebox")
        if "photo2cartoon" in styles:
            import_photo2cartoon(folder)
        print(f"clip {args.clip.name}, {args.seconds:.0f} s per run, no tuning flags")
        print()
        print(
            "| style | temporal | machine: head network (ms) | fps out, median (lowest) | p99 ms, median (worst) "
            "| p50 first / last 10 s | passthrough | seconds per rung | background |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for style in styles:
            for temporal in args.temporal:
                machine = reference_ms("whitebox" if "whitebox" in styles else style)
                records, background = run(args.clip, style, temporal, args.seconds, folder)
                print(f"| {style} | {temporal} | {machine:.0f} | {summary(records)} | {background} |", flush=True)


if __name__ == "__main__":
    main()
