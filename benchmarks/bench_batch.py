"""Many videos at once: `streamer batch` against a shell loop of `streamer stylize`, and one long
video whole against in segments, side by side in one run.

    python benchmarks/bench_batch.py [--repeat 1] [--style toon] [--json results.json]

Every way is a command-line process timed wall-clock (`time.perf_counter()` around the
subprocess), with the product defaults (style `toon`), each into a fresh output folder:

1. Eight items: the real clips in $STREAMER_MEDIA_DIR (default ../shared/media) copied, cycled
   (anchor, classroom, webcam, anchor, ...), under distinct names into one input folder.
   a. loop: one `streamer stylize IN OUT --no-progress` process per clip, one after the other;
   b. `streamer batch IN_DIR --out OUT --no-progress` (worker processes sized to the cores), and
      the same with `--workers 2`;
   c. `streamer batch IN_DIR --out OUT --no-progress --ray` (a local Ray instance, whose start-up
      is part of the time; a bare `ray.init(num_cpus=2); ray.shutdown()` in a fresh process is
      timed apart).
   Every output must exist with its input's frame count (video packets, PyAV); each batch output
   is compared byte for byte with the loop's, and where they differ, packet by packet.
2. One long clip: the same clips letterboxed to 640x360 at 30 fps, a keyframe every second (gop
   30), a 440 Hz AAC tone, `--long-seconds` long. `streamer batch LONG --workers 2` whole against
   `--segment-seconds 10`; the two outputs must have the same frame count, frame pts and audio
   duration.
3. Overheads: one `streamer stylize` process on a 1-frame clip end to end (start-up and model
   load; median of 3); each loop process's wall time minus the stylization time it reports; the
   join of the segmented run (`join_parts` timed directly on parts cut, without re-encoding,
   from the segmented output at the same cut points; median of 3); per-node frames/s.

Machine state: the bare built-in network (file mode's engine options: one thread) on one 640x480
frame, median of 10 runs after a warm-up, at the start and at the end, and the load average. Each
way also reports the cores kept busy by its own processes and by other programs (/proc/stat against
the children's rusage); Ray's daemons and workers are not this process's children, so under `--ray`
they land in "others".

Expected before running (2 cores; a single `streamer stylize` already keeps about 1.86 cores busy,
BENCHMARKS.md "File throughput"):
- batch (embedded, one worker on 2 cores) beats the loop by the per-process start-up it pays once
  instead of eight times: about 1.5-2 s a clip, so 10-15 s of a ~60 s loop, a ratio of ~1.2x.
- `--workers 2` about equals one worker (within ~5 %): the cores are already busy; what it can
  fill is the serial start and end of each file.
- `--ray` pays Ray's start-up (~5 s here) and a Ray worker's imports and model load on top of the
  embedded run; one task runs at a time (a task asks for 2 CPUs), so about 1.1x over the loop.
- Segments against whole on 2 workers: whole is one task, so one worker; the parts run two at a
  time but each part already wants ~2 cores, and each part tracks 1 s before its cut. On 2 cores
  about 1.0-1.1x; the ~1.6x that segments can give is for machines with cores a job leaves idle.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
MEDIA_DIR = Path(os.environ.get("STREAMER_MEDIA_DIR", REPO.parent / "shared" / "media"))
CLIPS = {
    "anchor": "anchor_talking_368p.mp4",
    "classroom": "child_classroom_720p.mp4",
    "webcam": "streamer_webcam_488p.mp4",
}
ITEMS = 8
LONG_SIZE = (640, 360)
LONG_FPS = 30
AUDIO_RATE = 48000
ARCHIVE_FRAMES = 100 * 3600 * 30  # 100 hours at 30 fps


def streamer_command() -> list[str]:
    """The `streamer` console script beside this Python (as a user runs it), else `python -m streamer`."""
    script = Path(sys.executable).parent / "streamer"
    return [str(script)] if script.exists() else [sys.executable, "-m", "streamer"]


STREAMER = streamer_command()


@dataclass
class Run:
    way: str
    seconds: float
    frames: int = 0
    ok: bool = True
    error: str = ""
    reported_seconds: float | None = None  # the command's own "in X s"
    item_fps: dict[str, float] = field(default_factory=dict)
    per_process: list[dict] = field(default_factory=list)  # loop: wall and reported seconds per clip
    outputs_ok: str = ""
    same_as_loop: str = ""
    cores: dict[str, float] = field(default_factory=dict)  # busy cores: machine, this run's processes


class CpuMeter:
    """Cores kept busy while a way runs: the whole machine (/proc/stat) and this run's own processes
    (children's rusage; Ray's daemons are counted only where they are reaped). The difference is
    what other programs took from the run."""

    def __init__(self) -> None:
        self.t0, self.machine0, self.own0 = time.perf_counter(), machine_busy_s(), own_children_s()

    def cores(self) -> dict[str, float]:
        wall = time.perf_counter() - self.t0
        machine, own = machine_busy_s(), own_children_s()
        if machine is None or self.machine0 is None or wall <= 0:
            return {}
        busy, mine = (machine - self.machine0) / wall, (own - self.own0) / wall
        return {"machine": busy, "own": mine, "others": max(0.0, busy - mine)}


def machine_busy_s() -> float | None:
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat; None elsewhere."""
    try:
        with open("/proc/stat") as stat:
            v = [int(x) for x in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / os.sysconf("SC_CLK_TCK")


def own_children_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_quiet(limit_s: float, cores: float = 0.3) -> float:
    """Wait (up to `limit_s`) until other programs keep under `cores` busy over 2 s; seconds waited."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit_s:
        meter = CpuMeter()
        time.sleep(2.0)
        if meter.cores().get("machine", 0.0) < cores:
            break
    return time.perf_counter() - t0


def style_args(style: str) -> list[str]:
    """Nothing for the default style, so the commands are the ones a user types."""
    return [] if style == "toon" else ["--style", style]


def run(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return time.perf_counter() - t0, done


def failure(done: subprocess.CompletedProcess) -> str:
    tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
    return f"exit {done.returncode}: " + " / ".join(tail)


# -- media ----------------------------------------------------------------------------------------
def video_packets(path: Path) -> list[av.Packet]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [p for p in container.demux(stream) if p.pts is not None and p.size]


def frame_count(path: Path) -> int:
    return len(video_packets(path))


def frame_times(path: Path) -> list[Fraction]:
    """Every video packet's pts in seconds, in presentation order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sorted(Fraction(p.pts) * p.time_base for p in container.demux(stream) if p.pts is not None and p.size)


def audio_seconds(path: Path) -> float | None:
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        first, end = None, 0
        for p in container.demux(stream):
            if p.pts is None or not p.size:
                continue
            first = p.pts if first is None else min(first, p.pts)
            end = max(end, p.pts + (p.duration or 0))
        return float((end - (first or 0)) * stream.time_base)


def packet_digest(path: Path) -> list[tuple[int | None, bytes]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [(p.pts, bytes(p)) for p in container.demux(stream) if p.size]


def where_differ(a: Path, b: Path) -> str:
    """'' when the files are equal byte for byte, else where they differ."""
    if filecmp.cmp(a, b, shallow=False):
        return ""
    pa, pb = packet_digest(a), packet_digest(b)
    if len(pa) != len(pb):
        return f"{a.name}: {len(pa)} against {len(pb)} video packets"
    differing = [i for i, (x, y) in enumerate(zip(pa, pb, strict=True)) if x != y]
    if not differing:
        return f"{a.name}: same video packets, container bytes differ ({a.stat().st_size} / {b.stat().st_size} B)"
    return f"{a.name}: {len(differing)} of {len(pa)} video packets differ, first #{differing[0]}"


def letterbox(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    scale = min(w / image.shape[1], h / image.shape[0])
    inner = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    canvas = np.zeros((h, w, 3), np.uint8)
    x, y = (w - inner[0]) // 2, (h - inner[1]) // 2
    canvas[y : y + inner[1], x : x + inner[0]] = cv2.resize(image, inner, interpolation=cv2.INTER_AREA)
    return canvas


def decoded(path: Path):
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="bgr24")


def write_clip(path: Path, images, seconds: float | None, size: tuple[int, int], tone: bool) -> int:
    """H.264 at LONG_FPS, a keyframe every second, each image letterboxed to `size`; with `tone`,
    a 440 Hz mono AAC track as long as the video. Stops after `seconds` (None: all images)."""
    limit = round(seconds * LONG_FPS) if seconds else None
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=LONG_FPS)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        video.options = {"crf": "20", "preset": "veryfast", "x264-params": "keyint=30:min-keyint=30:scenecut=0"}
        audio = out.add_stream("aac", rate=AUDIO_RATE, layout="mono") if tone else None
        samples = 0
        count = 0
        for image in images:
            if limit is not None and count >= limit:
                break
            frame = av.VideoFrame.from_ndarray(letterbox(image, size), format="bgr24")
            frame.pts, frame.time_base = count, Fraction(1, LONG_FPS)
            out.mux(video.encode(frame))
            count += 1
            while audio is not None and samples < count * AUDIO_RATE // LONG_FPS:
                n = 1024
                t = (samples + np.arange(n)) / AUDIO_RATE
                chunk = av.AudioFrame.from_ndarray(
                    (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None], format="fltp", layout="mono"
                )
                chunk.sample_rate, chunk.pts, chunk.time_base = AUDIO_RATE, samples, Fraction(1, AUDIO_RATE)
                out.mux(audio.encode(chunk))
                samples += n
        out.mux(video.encode())
        if audio is not None:
            out.mux(audio.encode())
    return count


def long_clip(path: Path, clips: list[Path], seconds: float) -> int:
    def cycled():
        while True:
            for clip in clips:
                yield from decoded(clip)

    return write_clip(path, cycled(), seconds, LONG_SIZE, tone=True)


def tiny_clip(path: Path, clip: Path) -> None:
    write_clip(path, [next(iter(decoded(clip)))], None, (640, 480), tone=False)


# -- machine state --------------------------------------------------------------------------------
def bare_network_ms(image: np.ndarray, style: str, runs: int = 10) -> float:
    """Median ms of the bare built-in network (file mode's engine options) on one 640x480 frame."""
    from streamer.engines.registry import open_engine
    from streamer.pipeline.file_job import StylizeOptions

    with open_engine(StylizeOptions(style=style)) as engine:
        engine.stylize_background(image)  # warm-up
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            engine.stylize_background(image)
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def machine_state(image: np.ndarray, style: str) -> dict:
    return {"bare_network_ms": bare_network_ms(image, style), "load_average": os.getloadavg()[0]}


# -- part 1: eight items --------------------------------------------------------------------------
REPORTED = re.compile(r"\bin ([0-9.]+) s\b")
ITEM_ROW = re.compile(r"^(\S+)\s+done\s+(\d+)\s+([0-9.]+)", re.MULTILINE)


def parse_batch(run_: Run, stdout: str) -> None:
    summary = [line for line in stdout.splitlines() if " items: " in line]
    if summary and (match := REPORTED.search(summary[-1])):
        run_.reported_seconds = float(match.group(1))
    run_.item_fps = {m.group(1): float(m.group(3)) for m in ITEM_ROW.finditer(stdout)}


def run_loop(inputs: list[Path], out: Path, style: str) -> Run:
    out.mkdir()
    result = Run("loop", 0.0)
    meter = CpuMeter()
    t0 = time.perf_counter()
    for clip in inputs:
        seconds, done = run(
            [*STREAMER, "stylize", str(clip), str(out / clip.name), "--no-progress", *style_args(style)]
        )
        match = REPORTED.search(done.stdout)
        result.per_process.append(
            {"clip": clip.name, "wall": seconds, "reported": float(match.group(1)) if match else None}
        )
        if done.returncode:
            result.ok, result.error = False, f"{clip.name}: {failure(done)}"
    result.seconds = time.perf_counter() - t0
    result.cores = meter.cores()
    return result


def run_batch(way: str, inputs: list[str], out: Path, style: str, extra: list[str]) -> Run:
    cmd = [*STREAMER, "batch", *inputs, "--out", str(out), "--no-progress", *style_args(style), *extra]
    meter = CpuMeter()
    seconds, done = run(cmd)
    result = Run(way, seconds, cores=meter.cores())
    if done.returncode:
        result.ok, result.error = False, failure(done)
    parse_batch(result, done.stdout)
    return result


def check_outputs(result: Run, inputs: list[Path], out: Path, expected: dict[str, int], loop_out: Path | None) -> None:
    missing, wrong, differ = [], [], []
    for clip in inputs:
        output = out / clip.name
        if not output.exists():
            missing.append(clip.name)
            continue
        frames = frame_count(output)
        result.frames += frames
        if frames != expected[clip.name]:
            wrong.append(f"{clip.name} {frames}/{expected[clip.name]}")
        if loop_out is not None and (loop_out / clip.name).exists():
            where = where_differ(output, loop_out / clip.name)
            if where:
                differ.append(where)
    problems = [f"missing: {', '.join(missing)}"] * bool(missing) + [f"frames: {', '.join(wrong)}"] * bool(wrong)
    result.outputs_ok = "; ".join(problems) or f"{len(inputs)}/{len(inputs)}, frames as input"
    if loop_out is not None:
        result.same_as_loop = "; ".join(differ) or "all equal byte for byte"


def ray_startup() -> dict:
    code = (
        "import json, logging, time\n"
        "t0 = time.perf_counter()\n"
        "import ray\n"
        "t1 = time.perf_counter()\n"
        "ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)\n"
        "t2 = time.perf_counter()\n"
        "ray.shutdown()\n"
        "t3 = time.perf_counter()\n"
        "print(json.dumps({'import': t1 - t0, 'init': t2 - t1, 'shutdown': t3 - t2}))\n"
    )
    seconds, done = run([sys.executable, "-c", code])
    if done.returncode:
        return {"error": failure(done)}
    return {"process": seconds, **json.loads(done.stdout.strip().splitlines()[-1])}


# -- part 2: one long clip ------------------------------------------------------------------------
def compare_long(whole: Path, parts: Path) -> dict:
    facts = {}
    for name, path in (("whole", whole), ("segments", parts)):
        facts[name] = {"frames": frame_count(path), "audio_s": audio_seconds(path)} if path.exists() else None
    if facts["whole"] and facts["segments"]:
        facts["same_frames"] = facts["whole"]["frames"] == facts["segments"]["frames"]
        facts["same_pts"] = frame_times(whole) == frame_times(parts)
        facts["same_audio"] = facts["whole"]["audio_s"] == facts["segments"]["audio_s"]
        facts["bytes_equal"] = filecmp.cmp(whole, parts, shallow=False)
    return facts


def cut_parts(joined: Path, source: Path, seconds: float, folder: Path) -> list:
    """The segmented run's parts again: `joined` cut at `plan_spans`' cut points without re-encoding,
    each part's pts moved to start at 0, as the stylized parts are written."""
    from streamer.batch.segments import plan_spans

    spans = plan_spans(source, joined, seconds)
    with av.open(str(source)) as container:
        source_tb = container.streams.video[0].time_base
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    with av.open(str(joined)) as reader:
        stream = reader.streams.video[0]
        packets = [p for p in reader.demux(stream) if p.pts is not None and p.size]
        for index, span in enumerate(spans):
            start = Fraction(span.start) * source_tb
            end = Fraction(span.end) * source_tb if span.end is not None else None
            path = folder / f"part-{index:04d}.mp4"
            with av.open(str(path), "w") as writer:
                out = writer.add_stream_from_template(stream)
                out.time_base = stream.time_base
                shift = round(start / stream.time_base)
                for p in packets:
                    when = Fraction(p.pts) * p.time_base
                    if when < start or (end is not None and when >= end):
                        continue
                    p.pts -= shift
                    if p.dts is not None:
                        p.dts -= shift
                    p.stream = out
                    writer.mux(p)  # each packet belongs to one part only
            parts.append((path, span))
    return parts


def time_join(source: Path, joined: Path, seconds: float, folder: Path, runs: int = 3) -> dict:
    from streamer.batch.segments import join_parts
    from streamer.pipeline.file_job import StylizeOptions

    options = StylizeOptions()
    parts = cut_parts(joined, source, seconds, folder / "parts")
    times, frames = [], 0
    for i in range(runs):
        target = folder / f"joined-{i}.mp4"
        t0 = time.perf_counter()
        frames = join_parts(source, parts, target, options.crf, options.preset)
        times.append(time.perf_counter() - t0)
    return {"parts": len(parts), "frames": frames, "seconds": statistics.median(times), "runs": times}


# -- report ---------------------------------------------------------------------------------------
def waited(limit_s: float) -> None:
    if limit_s > 0 and (seconds := wait_quiet(limit_s)) > 2.5:
        print(f"(waited {seconds:.0f} s for a quiet machine)", flush=True)


def busy(run_: Run) -> str:
    c = run_.cores
    return f"{c['own']:.2f} / {c['others']:.2f}" if c else "n/a"


def ratio(loop: float, seconds: float) -> str:
    return f"{loop / seconds:.2f}x" if seconds else "n/a"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each way, interleaved; medians reported")
    parser.add_argument("--style", default="toon")
    parser.add_argument("--long-seconds", type=float, default=60.0, help="length of the long clip (part 2)")
    parser.add_argument("--segment-seconds", type=float, default=10.0)
    parser.add_argument("--json", type=Path, help="write every figure here as JSON")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        metavar="S",
        help="before each way, wait up to S seconds for other programs to leave the cores idle (shared machines)",
    )
    args = parser.parse_args()
    clips = {name: MEDIA_DIR / file for name, file in CLIPS.items()}
    absent = [str(p) for p in clips.values() if not p.exists()]
    if absent:
        print(f"missing clips: {', '.join(absent)} (set STREAMER_MEDIA_DIR)", file=sys.stderr)
        return 2
    results: dict = {"cores": os.cpu_count(), "style": args.style, "repeat": args.repeat}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        frame640 = letterbox(next(iter(decoded(clips["webcam"]))), (640, 480))
        results["state_start"] = machine_state(frame640, args.style)

        # inputs
        in_dir = folder / "inputs"
        in_dir.mkdir()
        names = list(clips)
        inputs = []
        for i in range(ITEMS):
            name = names[i % len(names)]
            inputs.append(in_dir / f"{i + 1:02d}_{name}.mp4")
            shutil.copyfile(clips[name], inputs[-1])
        expected = {p.name: frame_count(p) for p in inputs}
        long_path = folder / "long" / f"long_{round(args.long_seconds)}s_640x360.mp4"
        long_path.parent.mkdir()
        long_frames = long_clip(long_path, list(clips.values()), args.long_seconds)
        tiny = folder / "tiny_1frame.mp4"
        tiny_clip(tiny, clips["anchor"])

        # 3 (first, while the machine is fresh): start-up of one process on a 1-frame clip, Ray's start-up
        startups = []
        for i in range(3):
            tiny_out = folder / f"tiny-{i}.mp4"
            seconds, done = run(
                [*STREAMER, "stylize", str(tiny), str(tiny_out), "--no-progress", *style_args(args.style)]
            )
            startups.append(seconds if done.returncode == 0 else float("nan"))
        results["tiny_stylize_s"] = startups
        results["ray_startup"] = ray_startup()

        # 1. eight items
        ways = {
            "loop": None,
            "batch": [],
            "batch --workers 2": ["--workers", "2"],
            "batch --ray": ["--ray"],
        }
        part1: dict[str, list[Run]] = {way: [] for way in ways}
        for r in range(args.repeat):
            loop_out = folder / f"loop-{r}"
            for way, extra in ways.items():
                waited(args.quiet_wait)
                out = folder / f"{way.replace(' ', '').replace('-', '_')}-{r}"
                if extra is None:
                    result = run_loop(inputs, out, args.style)
                else:
                    result = run_batch(way, [str(in_dir)], out, args.style, extra)
                check_outputs(result, inputs, out, expected, None if extra is None else loop_out)
                part1[way].append(result)
                print(f"[part 1, round {r + 1}] {way}: {result.seconds:.1f} s {result.error}", flush=True)
        results["part1"] = {way: [asdict(x) for x in runs] for way, runs in part1.items()}

        # 2. one long clip
        part2: dict[str, list[Run]] = {"whole": [], "segments": []}
        checks = []
        for r in range(args.repeat):
            outs = {}
            for way, extra in (("whole", []), ("segments", ["--segment-seconds", f"{args.segment_seconds:g}"])):
                waited(args.quiet_wait)
                out = folder / f"long-{way}-{r}"
                result = run_batch(way, [str(long_path)], out, args.style, ["--workers", "2", *extra])
                outs[way] = out / long_path.name
                result.frames = frame_count(outs[way]) if outs[way].exists() else 0
                part2[way].append(result)
                print(f"[part 2, round {r + 1}] {way}: {result.seconds:.1f} s {result.error}", flush=True)
            checks.append(compare_long(outs["whole"], outs["segments"]))
        results["part2"] = {way: [asdict(x) for x in runs] for way, runs in part2.items()}
        results["part2_checks"] = checks
        results["long_clip"] = {"frames": long_frames, "seconds": args.long_seconds, "size": LONG_SIZE}
        segmented = folder / "long-segments-0" / long_path.name
        join_folder = folder / "join"
        results["join"] = (
            time_join(long_path, segmented, args.segment_seconds, join_folder) if segmented.exists() else None
        )
        results["state_end"] = machine_state(frame640, args.style)

    # ---- tables
    def med(runs: list[Run]) -> float:
        return statistics.median(x.seconds for x in runs)

    s0, s1 = results["state_start"], results["state_end"]
    print(
        f"\n# streamer batch, {os.cpu_count()} CPU cores, style {args.style}, {args.repeat} run(s) of each way\n\n"
        f"Machine state: bare built-in network on one 640x480 frame (one thread), median of 10: "
        f"{s0['bare_network_ms']:.1f} ms at the start, {s1['bare_network_ms']:.1f} ms at the end; "
        f"load average {s0['load_average']:.2f} / {s1['load_average']:.2f}.\n"
    )
    loop_s = med(part1["loop"])
    total_frames = sum(expected.values())
    print(f"## 1. {ITEMS} items ({total_frames} frames)\n")
    print(
        "| way | seconds | frames | frames/s | speed-up over the loop | cores busy: run / others "
        "| outputs | bytes against the loop |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for way, runs in part1.items():
        s = med(runs)
        last = runs[-1]
        flag = "" if all(x.ok for x in runs) else f" (failed: {last.error})"
        print(
            f"| {way}{flag} | {s:.1f} | {last.frames} | {last.frames / s:.1f} | {ratio(loop_s, s)} | {busy(last)} "
            f"| {last.outputs_ok} | {last.same_as_loop or '(reference)'} |"
        )
    for way, runs in part1.items():
        if runs[-1].reported_seconds is not None:
            last = runs[-1]
            print(f"- {way}: the command's own total {last.reported_seconds:.1f} s; per-item fps {last.item_fps}")
    loop_procs = part1["loop"][-1].per_process
    overheads = [p["wall"] - p["reported"] for p in loop_procs if p["reported"] is not None]
    ray = results["ray_startup"]
    if "error" in ray:
        print(f"- bare Ray start-up failed: {ray['error']}")
    else:
        print(
            f"- bare Ray start-up in a fresh process: {ray['process']:.1f} s "
            f"(import {ray['import']:.1f}, ray.init {ray['init']:.1f}, shutdown {ray['shutdown']:.1f})"
        )

    print(f"\n## 2. One long clip ({long_frames} frames, 640x360, gop 30, AAC tone), --workers 2\n")
    whole_s = med(part2["whole"])
    print("| way | seconds | frames | frames/s | speed-up over whole | cores busy: run / others |")
    print("|---|---|---|---|---|---|")
    for way, runs in part2.items():
        s = med(runs)
        last = runs[-1]
        flag = "" if all(x.ok for x in runs) else f" (failed: {last.error})"
        print(f"| {way}{flag} | {s:.1f} | {last.frames} | {last.frames / s:.1f} | {ratio(whole_s, s)} | {busy(last)} |")
    for way, runs in part2.items():
        last = runs[-1]
        if last.reported_seconds is not None:
            print(f"- {way}: the command's own total {last.reported_seconds:.1f} s; per-item fps {last.item_fps}")
    for check in checks:
        print(f"- outputs: {check}")

    print("\n## 3. Overheads\n")
    print(
        f"- one `streamer stylize` on a 1-frame 640x480 clip, end to end: median "
        f"{statistics.median(startups):.2f} s (runs {', '.join(f'{x:.2f}' for x in startups)})"
    )
    if overheads:
        print(
            f"- loop: process wall time minus the stylization time it reports, per clip: median "
            f"{statistics.median(overheads):.2f} s, total {sum(overheads):.1f} s over {len(overheads)} clips"
        )
    join = results["join"]
    if join:
        print(
            f"- join of {join['parts']} parts ({join['frames']} frames, audio copied), `join_parts` direct: "
            f"median {join['seconds']:.2f} s ({join['frames'] / join['seconds']:.0f} frames/s)"
        )
    best = min((w for w in part1 if w != "loop"), key=lambda w: med(part1[w]))
    node_fps = part1[best][-1].frames / med(part1[best])
    long_fps = max(part2[w][-1].frames / med(part2[w]) for w in part2)
    print(f"- per-node throughput (this 2-core node): {node_fps:.1f} frames/s ({best}), {long_fps:.1f} on 640x360")
    hours = ARCHIVE_FRAMES / node_fps / 3600
    print(f"- 100 h archive ({ARCHIVE_FRAMES / 1e6:.1f} M frames) on N such nodes: {hours:.0f} h / N")
    results["summary"] = {
        "loop_s": loop_s,
        "best_way": best,
        "node_fps": node_fps,
        "long_fps": long_fps,
        "loop_overhead_per_clip_s": statistics.median(overheads) if overheads else None,
    }
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
