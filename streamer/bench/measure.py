"""The measuring half of `streamer bench`: a generated clip, then the bare network, file mode and
live mode on it with the user's engine options, each giving plain figures (dataclasses that turn
into JSON as they are).

- `make_clip`: 640x480 at 30 fps, one moving face with sensor noise and a tone (the generated clip
  of BENCHMARKS.md's file-throughput table).
- `measure_network`: one aligned-size head crop and one background at the pipeline's size, each
  run once to warm up, then `runs` times; the medians. Two threads per network, as the live loop
  and BENCHMARKS.md's network tables use.
- `measure_file`: `stylize_file` on the clip as `streamer stylize` runs it: fps and stage medians.
- `measure_live`: the live loop on the clip played in real time and looped, to a sink that
  discards frames, for `seconds`; the rung it settles at (the most frequent level after the first
  third of the run) and the median per-second figures there.
"""

from __future__ import annotations

import collections
import os
import platform
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from streamer.engines.options import EngineOptions

if TYPE_CHECKING:
    from streamer.pipeline.file_job import StylizeOptions

WIDTH, HEIGHT, FPS = 640, 480, 30
NETWORK_RUNS = 9
SETTLE_SHARE = 1 / 3  # the first third of a live run is the scheduler finding its rung


@dataclass
class Machine:
    """Where it ran. `others_cores`: how many cores' worth of CPU time other programs (and the
    hypervisor) took while the bench ran (None where /proc/stat is not there). `gpu`: the NVIDIA
    GPU's name, None without one."""

    cores: int
    cpu: str
    system: str
    python: str
    others_cores: float | None
    gpu: str | None


@dataclass(frozen=True)
class CpuSample:
    """Seconds since boot: `busy` of all cores together (/proc/stat, steal included), `own` this
    process's user and system time; `wall` the monotonic clock."""

    wall: float
    busy: float
    own: float


def cpu_sample() -> CpuSample | None:
    """The CPU time used so far, by everything and by this process (None without /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if fields[0] != "cpu" or len(fields) < 9:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    ticks = os.sysconf("SC_CLK_TCK")
    own = os.times()
    return CpuSample(
        time.monotonic(),
        (user + nice + system + irq + softirq + steal) / ticks,
        own.user + own.system + own.children_user + own.children_system,
    )


def others_cores(start: CpuSample | None, end: CpuSample | None) -> float | None:
    """Cores' worth of CPU time used between two samples by everything but this process."""
    if start is None or end is None or end.wall <= start.wall:
        return None
    others = (end.busy - start.busy) - (end.own - start.own)
    return round(max(0.0, others / (end.wall - start.wall)), 2)


@dataclass
class Settings:
    """What was measured, in the reference table's terms. `family`: builtin, dctnet or
    photo2cartoon; `background`: the network that styles the background (learned: the style's own,
    toon: the built-in one, none); `reuse`: temporal reuse of heads; `int8_stored`: the style has an
    int8 head network; `gpu_usable`: some backend can run on a CUDA device here."""

    style: str
    family: str
    backend: str
    device: str
    precision: str
    background: str
    reuse: bool
    int8_stored: bool
    gpu_usable: bool
    notes: list[str] = field(default_factory=list)


@dataclass
class NetworkFigures:
    """Median ms of the bare networks: one head crop (`head_size` square) and one background
    (`background_size`, w x h; 0 ms when the background is left as captured)."""

    head_ms: float
    background_ms: float
    head_size: int
    background_size: tuple[int, int]
    runs: int

    @property
    def total_ms(self) -> float:
        """One head and one background: the work of stylizing one frame fully (the machine's speed)."""
        return self.head_ms + self.background_ms


@dataclass
class FileFigures:
    frames: int
    seconds: float
    fps: float
    stage_ms: dict[str, float]


@dataclass
class LiveFigures:
    """The settled part of a live run: `level`/`rung` the most frequent there; `fps_out` the median
    frames sent per second; `stylized_fps` the same less the seconds passed through; latency
    medians of the per-second p50 and p99 (None: no frame written); `records`: every stats record."""

    seconds: float
    source_fps: float
    budget_ms: float
    level: int
    rung: str
    fps_out: float
    stylized_fps: float
    passthrough_share: float
    latency_ms_p50: float | None
    latency_ms_p99: float | None
    stage_ms: dict[str, float]
    levels: dict[str, int]
    statuses: list[str]
    records: list[dict]


def machine(others: float | None = None) -> Machine:
    """This machine, with `others` (see `Machine.others_cores`) measured by the caller."""
    return Machine(
        cores=os.cpu_count() or 1,
        cpu=_cpu_name(),
        system=f"{platform.system()} {platform.machine()}",
        python=platform.python_version(),
        others_cores=others,
        gpu=_gpu_name(),
    )


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpu_name() -> str | None:
    """The NVIDIA GPU `streamer doctor` finds (by its driver), named by `nvidia-smi` where it answers;
    None without one. No GPU library is imported for this."""
    from streamer.doctor import nvidia_gpu_present

    if not nvidia_gpu_present():
        return None
    smi = shutil.which("nvidia-smi")
    if smi is not None:
        try:
            out = subprocess.run(
                [smi, "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=10
            )
            names = [line.strip() for line in out.stdout.splitlines() if line.strip()]
            if out.returncode == 0 and names:
                return names[0]
        except (OSError, subprocess.SubprocessError):
            pass
    return "an NVIDIA GPU"


def gpu_usable() -> bool:
    """Whether some registered backend can run on a CUDA device here."""
    from streamer.engines import backends

    return any("cuda" in b.devices and b.unavailable("cuda") is None for b in backends.registered())


def make_clip(path: Path, seconds: float) -> Path:
    """The bench's clip: WIDTH x HEIGHT at FPS, one face moving, turning and zooming, for `seconds`."""
    from streamer.capture.synthetic import Motion, SyntheticSource, write_clip

    motion = Motion((WIDTH / 2, HEIGHT / 2 + 10), scale=1.3, sway=(80, 25), tilt=10, zoom=0.1, period=5.0)
    source = SyntheticSource([motion], size=(WIDTH, HEIGHT), fps=FPS, duration=seconds, noise=2.0)
    write_clip(path, (frame.image for frame in source), fps=FPS)
    return path


def settings(
    options: EngineOptions, engine_backend: str, device: str, precision: str, notes: list[str], gpu: bool = False
) -> Settings:
    """`Settings` of a run with `options` on an engine that opened as `engine_backend` on `device`
    in `precision`; `gpu`: a CUDA GPU is present (only then are the backends asked whether they can
    use it, which imports their libraries)."""
    from streamer.engines import store
    from streamer.engines.registry import CATALOG, uses_reuse

    spec = CATALOG.get(options.style)
    manifest = None if spec is not None and spec.family == "builtin" else store.read_manifest(options.style)
    family = manifest.family if manifest is not None else (spec.family if spec is not None else "unknown")
    if options.background_style == "none":
        background = "none"
    elif options.background_style == "toon" or manifest is None or manifest.path("background") is None:
        background = "toon"
    else:
        background = "learned"
    return Settings(
        style=options.style,
        family=family,
        backend=engine_backend,
        device=device,
        precision=precision,
        background=background,
        reuse=uses_reuse(options),
        int8_stored=manifest is not None and manifest.path("head_int8") is not None,
        gpu_usable=gpu and gpu_usable(),
        notes=list(notes),
    )


def _median_ms(call: Callable[[], object], runs: int) -> float:
    call()  # warm-up: the first call pays for allocation and kernel choice
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 2)


def measure_network(
    options: EngineOptions, clip: Path, gpu: bool = False, runs: int = NETWORK_RUNS
) -> tuple[NetworkFigures, Settings]:
    """The bare networks on a frame of `clip` (see the module docstring), and the `Settings` the
    engine opened with (`gpu`: a CUDA GPU is present)."""
    from streamer.capture.file import FileSource
    from streamer.compose import background_size, resize_to
    from streamer.engines.registry import open_engine
    from streamer.frame import Frame
    from streamer.pipeline.file_job import StylizeOptions

    image = None
    with FileSource(clip) as source:
        for item in source:
            if isinstance(item, Frame):
                image = item.image
                break
    if image is None:
        raise RuntimeError(f"the generated clip {clip.name} has no frame")
    with open_engine(options.replace(threads=2)) as engine:
        size = engine.layout.size
        h, w = image.shape[:2]
        side = min(h, w) // 2
        crop = resize_to(image[h // 2 - side : h // 2 + side, w // 2 - side : w // 2 + side], (size, size))
        crops = np.ascontiguousarray(crop[None])
        head_ms = _median_ms(lambda: engine.stylize_heads(crops), runs)
        bg_size = background_size(w, h, None, StylizeOptions().background_short_side)
        background = np.ascontiguousarray(resize_to(image, bg_size))
        background_ms = (
            _median_ms(lambda: engine.stylize_background(background), runs) if (engine.stylizes_background) else 0.0
        )
        caps = engine.capabilities
        found = settings(options, engine.backend, caps.device.split(":")[0], caps.precision, engine.notes, gpu)
    return NetworkFigures(head_ms, background_ms, size, bg_size, runs), found


def measure_file(options: StylizeOptions, clip: Path, folder: Path) -> FileFigures:
    """`stylize_file` on `clip` into `folder`, as `streamer stylize` runs it with `options`."""
    from streamer.pipeline.file_job import stylize_file

    report = stylize_file(clip, folder / "bench_file.mp4", options)
    stages = {name: round(ms, 2) for name, ms in report.stage_ms.items()}
    return FileFigures(report.frames, round(report.seconds, 3), round(report.fps, 2), stages)


def measure_live(options: StylizeOptions, clip: Path, seconds: float) -> LiveFigures:
    """The live loop on `clip` in real time (looped) for `seconds`, as `streamer live --source CLIP
    --realtime --loop` runs it with the same engine options, to a sink that discards frames."""
    from streamer.capture.live import RealtimeFileSource
    from streamer.pipeline.live import LiveOptions, LivePipeline
    from streamer.sinks.null import NullSink

    live_options = LiveOptions(
        **{**options.engine_fields(), "threads": LiveOptions().threads},
        fps=FPS,
        duration=seconds,
        max_faces=options.max_faces,
        detect_every=options.detect_every,
    )
    statuses: list[str] = []
    pipeline = LivePipeline(
        lambda: RealtimeFileSource(clip, loop=True), [NullSink()], live_options, status=statuses.append
    )
    summary = pipeline.run()
    if "interrupted" in statuses:  # Ctrl-C: the live loop stops cleanly, and so does the bench
        raise KeyboardInterrupt
    return summarize_live(summary.stats, seconds, FPS, live_options.budget_ms, statuses)


def summarize_live(
    records: list[dict], seconds: float, source_fps: float, budget_ms: float, statuses: list[str]
) -> LiveFigures:
    """`LiveFigures` from the per-second stats records of a live run (see the module docstring)."""
    if not records:
        raise RuntimeError("the live run made no stats record")
    settled = [r for r in records if r["t"] > seconds * SETTLE_SHARE] or records[-1:]
    levels = collections.Counter(r["level"] for r in settled)
    level = levels.most_common(1)[0][0]
    rung = next(r["rung"] for r in settled if r["level"] == level)
    fps = [float(r["fps_out"]) for r in settled]
    stylized = [0.0 if r["rung"] == "passthrough" else float(r["fps_out"]) for r in settled]
    stage_names = {name for r in settled for name in r["stage_ms"]}
    stage_ms = {
        name: round(statistics.median(r["stage_ms"][name] for r in settled if name in r["stage_ms"]), 2)
        for name in sorted(stage_names)
    }
    return LiveFigures(
        seconds=seconds,
        source_fps=source_fps,
        budget_ms=round(budget_ms, 1),
        level=level,
        rung=rung,
        fps_out=statistics.median(fps),
        stylized_fps=statistics.median(stylized),
        passthrough_share=round(sum(r["rung"] == "passthrough" for r in settled) / len(settled), 3),
        latency_ms_p50=_median_of(settled, "latency_ms_p50"),
        latency_ms_p99=_median_of(settled, "latency_ms_p99"),
        stage_ms=stage_ms,
        levels={str(k): v for k, v in sorted(levels.items())},
        statuses=statuses,
        records=records,
    )


def _median_of(records: list[dict], key: str) -> float | None:
    values = [r[key] for r in records if r[key] is not None]
    return round(statistics.median(values), 1) if values else None
