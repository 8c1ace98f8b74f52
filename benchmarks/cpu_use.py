"""CPU use of one file run: fps, CPU milliseconds per frame, cores kept busy, user and system time.

    python benchmarks/cpu_use.py pipeline|naive|floor CLIP

Uses the runners of bench_file.py. High system time is the sign of threads spin-waiting.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_file

from streamer.pipeline.file_job import StylizeOptions


def main() -> int:
    variant, clip = sys.argv[1], Path(sys.argv[2])
    run = getattr(bench_file, f"run_{variant}")
    with tempfile.TemporaryDirectory() as tmp:
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        frames = run(clip, Path(tmp) / "out.mp4", StylizeOptions())
        wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    user, system = r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime
    per_frame = 1000 / frames
    print(
        f"{variant}: {frames / wall:.1f} fps, CPU {(user + system) * per_frame:.1f} ms/frame "
        f"(user {user * per_frame:.1f}, system {system * per_frame:.1f}), cores busy {(user + system) / wall:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
