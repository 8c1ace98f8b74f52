"""`streamer bench`: is my frame rate normal? One generated clip, measured three ways with the
user's engine options (the bare network, file mode, live mode), judged against the reference table
scaled to this machine's speed, with the settings that would help most.

- `measure`: the clip and the measurements (plain figures);
- `reference`: the table of figures measured on known machines;
- `judge`: figures and a reference in, a verdict and advice out (pure);
- `report`: the verdict as text, or every figure as JSON.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from streamer.bench.judge import Figures
from streamer.bench.measure import (
    cpu_sample,
    machine,
    make_clip,
    measure_file,
    measure_live,
    measure_network,
    others_cores,
)

if TYPE_CHECKING:
    from streamer.pipeline.file_job import StylizeOptions


def run_bench(
    options: StylizeOptions,
    seconds: float,
    live_seconds: float,
    progress: Callable[[str], None] = lambda text: None,
) -> Figures:
    """Measure `options` on a generated clip of `seconds` (file mode) and `live_seconds` of live mode.
    `progress` gets one line as each step starts. Raises `StreamerError` for a style or backend that
    cannot be opened here."""
    start = cpu_sample()
    where = machine()
    with tempfile.TemporaryDirectory(prefix="streamer-bench-") as tmp:
        folder = Path(tmp)
        progress(f"making a {seconds:g} s clip (640x480, 30 fps, one moving face)")
        clip = make_clip(folder / "bench.mp4", seconds)
        progress(f"timing the bare {options.style} networks")
        network, settings = measure_network(options, clip, gpu=where.gpu is not None)
        progress(f"file mode: stylizing the clip ({settings.backend})")
        file = measure_file(options, clip, folder)
        progress(f"live mode: playing the clip in real time for {live_seconds:g} s")
        live = measure_live(options, clip, live_seconds)
    where.others_cores = others_cores(start, cpu_sample())
    return Figures(where, settings, network, file, live)
