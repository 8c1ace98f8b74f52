"""Soak `streamer live` and `streamer serve` side by side and watch for leaks and drift.

    .venv/bin/python benchmarks/soak.py --minutes 60 [--out DIR] [--sample-seconds 10] [--json]
        [--clip auto|generated|PATH] [--camera 320x240] [--serve-latency-budget-ms MS]

In one run:
- `streamer live --source CLIP --realtime --loop --sink file:OUT.mp4 --sink null --stats-json S.jsonl
  --duration SECONDS --quiet`: the real clip `shared/media/streamer_webcam_488p.mp4` (next to the
  repository) when present, else a generated face clip (`--clip generated` forces it);
- `streamer serve --ice-loopback` with one WebRTC client (aiortc, on a thread of this process) in
  mirror mode, streaming a generated camera (a moving face, 320x240 unless --camera says otherwise)
  and keeping what comes back: the stylized video and the stats records sent once a second over
  the DataChannel. The client leaves first; serve gets SIGINT once its session has ended.

Every `--sample-seconds` it records, for each of the two `streamer` processes, the resident memory
(VmRSS), the open descriptors (/proc/PID/fd), the threads and the CPU seconds used, and the latency
p50/p99 of the window since the last sample (from live's stats lines and from the stats the client
received; each per-second record has its own p50/p99, so a window's p50 is the median of them and
its p99 the largest: the worst second). It also records the machine's state: the CPU seconds used
by every other process (all busy time in /proc/stat less the two `streamer` processes and this one,
which runs the client), so that a busy machine can be told from a regression.

The verdict (`verdict`, a pure function of the samples) after a warm-up of min(120 s, 20% of the
run), comparing the first window after the warm-up with the last one (10 minutes each when the run
leaves at least 20 minutes after the warm-up, else a quarter of what is left each):
- memory: the median RSS of the last window is under 5% above that of the first;
- latency: the median p99 of the last window is at most 1.25x that of the first (or 10 ms more,
  whichever is larger). The scheduler holds latency near its budget by giving up quality, so a
  leak or a growing backlog shows as p99 climbing steadily past it, while the p99 of single
  windows jumps with the machine's other load; the median over a window damps those jumps, and
  25% leaves room for what is left of them. The 10 ms covers one rung's step at low latency;
- descriptors and threads: the most in the last window is at most the most in the first.
Besides: the recording decodes with PyAV, has as many frames as live's summary says it sent ("M
out") and spans the run (within max(1.5 s, 2%)); both processes exit with status 0 (live ends by
--duration, serve on SIGINT); the client got video and stats back. How many of the frames that
came back were stylized (one a second is judged), and how many seconds each process spent at
passthrough, are reported but not judged: on a busy machine the scheduler rightly gives quality up.

Writes samples.json (everything, the verdicts too) and soak.png (the curves) to --out (a new
temporary folder unless given; printed), prints a table of the verdicts, and exits 0 on pass, 1 on
fail. `--json` prints the whole result as JSON instead of the table.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
MEDIA_DIR = Path(os.environ.get("STREAMER_MEDIA_DIR", REPO.parent / "shared" / "media"))
REAL_CLIP = MEDIA_DIR / "streamer_webcam_488p.mp4"
PROCESSES = ("live", "serve")
PROCESS_FIELDS = (
    "rss_mb",
    "fds",
    "threads",
    "cpu_s",
    "latency_ms_p50",
    "latency_ms_p99",
    "records",
    "level",
    "passthrough",
)
MACHINE_FIELDS = ("cores", "other_cpu_s", "other_cores", "load1")

WARMUP_MAX_S = 120.0
WARMUP_FRACTION = 0.2
LONG_WINDOW_S = 600.0
RSS_GROWTH_LIMIT = 0.05
P99_RATIO_LIMIT = 1.25
P99_SLACK_MS = 10.0
RECORDING_SLACK_S = 1.5
RECORDING_SLACK_FRACTION = 0.02
STYLIZED_MEAN_DIFF = 6.0  # a picture farther than this (mean grey levels) from every sent frame was changed


# --- the verdict on the samples ------------------------------------------------------------------
def windows(samples: Sequence[dict]) -> tuple[float, float, float, float]:
    """(warm-up end, first window end, last window start, run end), in seconds of sample time.

    The run ends at the last sample; the warm-up is min(120 s, 20% of it); each window is 10 minutes
    when at least 20 are left after the warm-up, else a quarter of what is left."""
    end = samples[-1]["t"] if samples else 0.0
    warmup = min(WARMUP_MAX_S, WARMUP_FRACTION * end)
    left = end - warmup
    span = LONG_WINDOW_S if left >= 2 * LONG_WINDOW_S else left / 4
    return warmup, warmup + span, end - span, end


def _values(samples: Sequence[dict], process: str, key: str, start: float, stop: float) -> list[float]:
    """The non-null `key` of `process` in samples with start <= t <= stop."""
    out = []
    for sample in samples:
        record = sample.get(process)
        if start <= sample["t"] <= stop and record and record.get(key) is not None:
            out.append(float(record[key]))
    return out


def verdict(samples: Sequence[dict]) -> list[dict]:
    """The sampled criteria for each process: one dict per (criterion, process) with `criterion`,
    `process`, `passed`, `first`, `last` (the figures compared) and `detail` (one line).

    Pure: depends on the samples only (each {"t": s, "live": {...}, "serve": {...}}). A criterion
    with no value in either window fails (nothing to judge is not a pass)."""
    warmup, first_end, last_start, end = windows(samples)
    results = []
    for process in PROCESSES:

        def both(key: str, process: str = process) -> tuple[list[float], list[float]]:
            return (
                _values(samples, process, key, warmup, first_end),
                _values(samples, process, key, last_start, end),
            )

        first, last = both("rss_mb")
        if first and last:
            a, b = statistics.median(first), statistics.median(last)
            growth = b / a - 1
            results.append(
                _result(
                    "rss growth",
                    process,
                    growth < RSS_GROWTH_LIMIT,
                    a,
                    b,
                    f"{growth:+.1%} ({a:.0f} -> {b:.0f} MB; under {RSS_GROWTH_LIMIT:.0%})",
                )
            )
        else:
            results.append(_result("rss growth", process, False, None, None, "no samples to compare"))

        first, last = both("latency_ms_p99")
        if first and last:
            a, b = statistics.median(first), statistics.median(last)
            limit = max(P99_RATIO_LIMIT * a, a + P99_SLACK_MS)
            results.append(
                _result(
                    "p99 flat",
                    process,
                    b <= limit,
                    a,
                    b,
                    f"{a:.0f} -> {b:.0f} ms ({b / a:.2f}x; at most {limit:.0f} ms)",
                )
            )
        else:
            results.append(_result("p99 flat", process, False, None, None, "no latency in a window"))

        for key, name in (("fds", "descriptors"), ("threads", "threads")):
            first, last = both(key)
            if first and last:
                a, b = max(first), max(last)
                results.append(_result(f"{name} steady", process, b <= a, a, b, f"max {a:.0f} -> {b:.0f}"))
            else:
                results.append(_result(f"{name} steady", process, False, None, None, "no samples to compare"))
    return results


def _result(criterion: str, process: str, passed: bool, first, last, detail: str) -> dict:
    return {
        "criterion": criterion,
        "process": process,
        "passed": bool(passed),
        "first": first,
        "last": last,
        "detail": detail,
    }


# --- reading processes ---------------------------------------------------------------------------
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_state(pid: int) -> dict:
    """RSS (MB), open descriptors, threads and CPU seconds (user + system) of a live process."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = int(re.search(r"^VmRSS:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]
    threads = int(re.search(r"^Threads:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return {"rss_mb": round(rss_kb / 1024, 1), "fds": fds, "threads": threads, "cpu_s": cpu_seconds(pid)}


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds (0 when it is gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds all processors spent busy since boot (user, nice, system, irq, softirq, steal)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def window_latency(records: list[dict]) -> dict:
    """A window's latency from per-second stats records: p50 = median of their p50, p99 = the
    largest p99 (the worst second); None when no record had a latency. `level`: the highest
    quality level (0 = full quality) any record was at; `passthrough`: the records (seconds) at
    the last rung, where frames go out untouched."""
    p50 = [r["latency_ms_p50"] for r in records if r.get("latency_ms_p50") is not None]
    p99 = [r["latency_ms_p99"] for r in records if r.get("latency_ms_p99") is not None]
    levels = [r["level"] for r in records if r.get("level") is not None]
    return {
        "latency_ms_p50": round(statistics.median(p50), 1) if p50 else None,
        "latency_ms_p99": round(max(p99), 1) if p99 else None,
        "records": len(records),
        "level": max(levels) if levels else None,
        "passthrough": sum(r.get("rung") == "passthrough" for r in records),
    }


class StatsTail:
    """New complete JSON lines of a file each time it is read."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset = path, 0

    def read(self) -> list[dict]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1
        self.offset += end
        return [json.loads(line) for line in data[:end].splitlines() if line.strip()]


# --- the clips -------------------------------------------------------------------------------------
def face_source(seconds: float, size: tuple[int, int] = (640, 480)):
    """A moving face that loops seamlessly every 2 s (the synthetic camera of the tests)."""
    from streamer.capture.synthetic import Motion, SyntheticSource

    w, h = size
    k = min(w / 640, h / 480)
    motion = Motion((w / 2, h / 2), scale=1.3 * k, sway=(60 * k, 20 * k), tilt=8, period=2.0)
    return SyntheticSource([motion], size=size, duration=seconds)


def live_clip(choice: str, folder: Path, frames: list[np.ndarray]) -> tuple[Path, str]:
    """The clip live plays: `auto` (the real clip when present, else generated from `frames`, a
    2 s loop of the moving face, written twice), `generated`, or a path. Returns (path, a description)."""
    if choice == "auto" and REAL_CLIP.is_file():
        return REAL_CLIP, f"real clip {REAL_CLIP.name}"
    if choice in ("auto", "generated"):
        from streamer.capture.synthetic import write_clip

        path = folder / "face.mp4"
        write_clip(path, frames + frames, fps=30)
        h, w = frames[0].shape[:2]
        return path, f"generated face clip, {w}x{h}, {len(frames) * 2 / 30:g} s looped"
    path = Path(choice)
    if not path.is_file():
        raise SystemExit(f"soak: no clip at {path}")
    return path, f"clip {path.name}"


# --- the WebRTC client -----------------------------------------------------------------------------
class Client:
    """One mirror-mode peer of `streamer serve`, on its own thread with its own event loop: sends a
    looped generated camera, counts the video that comes back, judges one frame in 30 (about one a
    second, all through the run) for whether it was stylized, and keeps the stats records received."""

    def __init__(self, base: str, frames: list[np.ndarray]) -> None:
        self.base, self.frames = base, frames
        self.lock = threading.Lock()
        self.stats: list[dict] = []
        self._taken = 0
        self.video_count = 0
        self.judged = self.stylized = 0
        self._sent = [self._small(f) for f in frames]
        self.error: str | None = None
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-client", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Close the peer connection and end the thread."""
        self._stop.set()
        self._thread.join(timeout)

    def take_stats(self) -> list[dict]:
        """The stats records received since the last call."""
        with self.lock:
            new, self._taken = self.stats[self._taken :], len(self.stats)
        return new

    def _run(self) -> None:
        try:
            asyncio.run(self._session())
        except Exception as exc:  # reported in the result, not a traceback on a thread
            self.error = f"{type(exc).__name__}: {exc}"

    async def _session(self) -> None:
        import av
        from aiohttp import ClientSession
        from aiortc import RTCPeerConnection, RTCSessionDescription
        from aiortc.mediastreams import VideoStreamTrack

        frames = self.frames

        class Camera(VideoStreamTrack):
            """The generated clip, looped, paced at 30 fps by aiortc."""

            sent = 0

            async def recv(self):
                pts, time_base = await self.next_timestamp()
                frame = av.VideoFrame.from_ndarray(frames[self.sent % len(frames)], format="bgr24")
                frame.pts, frame.time_base = pts, time_base
                self.sent += 1
                return frame

        pc = RTCPeerConnection()
        pc.addTrack(Camera())
        channel = pc.createDataChannel("control")

        def on_message(message) -> None:
            data = json.loads(message)
            if "stats" in data:
                with self.lock:
                    self.stats.append(data["stats"])

        channel.on("message", on_message)
        pulls = []

        @pc.on("track")
        def on_track(track) -> None:
            async def pull() -> None:
                try:
                    while True:
                        frame = await track.recv()
                        if track.kind != "video":
                            continue
                        self.video_count += 1
                        if self.video_count % 30 == 0:
                            self.judged += 1
                            self.stylized += self.is_stylized(frame.to_ndarray(format="bgr24"))
                except Exception:
                    return

            pulls.append(asyncio.ensure_future(pull()))

        try:
            await pc.setLocalDescription(await pc.createOffer())
            async with ClientSession() as http:
                payload = {"type": "offer", "sdp": pc.localDescription.sdp, "mode": "mirror"}
                async with http.post(f"{self.base}/api/offer", json=payload) as response:
                    answer = await response.json()
                    if response.status != 200:
                        raise RuntimeError(f"offer refused with {response.status}: {answer}")
            await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
            self.connected.set()
            while not self._stop.is_set():
                await asyncio.sleep(0.2)
        finally:
            await pc.close()
            for task in pulls:
                task.cancel()

    @staticmethod
    def _small(image: np.ndarray) -> np.ndarray:
        return cv2.resize(image, (320, 240), interpolation=cv2.INTER_AREA).astype(np.int16)

    def is_stylized(self, image: np.ndarray) -> bool:
        """A frame that came back was changed: farther than codec noise from every frame sent
        (mean absolute difference, compared at 320x240)."""
        got = self._small(image)
        return min(float(np.abs(got - f).mean()) for f in self._sent) > STYLIZED_MEAN_DIFF


# --- the run ---------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, process: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                response.read()
                return
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"streamer serve ended with status {process.returncode} before serving") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamer serve did not answer {url} within {seconds:.0f} s") from None
            time.sleep(0.3)


def _pipeline_end(stats_path: Path, seconds: float) -> float | None:
    """The monotonic time live's run ends (its first stats line's arrival less its `t`, plus the
    duration), or None before that line is there. Polled twice a second, so within about 0.5 s."""
    try:
        with open(stats_path) as f:
            line = f.readline()
    except FileNotFoundError:
        return None
    if not line.endswith("\n"):
        return None
    return time.monotonic() - float(json.loads(line)["t"]) + seconds


def _wait_quiet(process: subprocess.Popen, seconds: float, period: float = 0.5, share: float = 0.05) -> bool:
    """Wait until `process` used under `share` of a core in each of two periods in a row (its
    sessions have ended: an idle server does nothing), True; False when `seconds` pass first."""
    deadline = time.monotonic() + seconds
    quiet, before = 0, cpu_seconds(process.pid)
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(period)
        now = cpu_seconds(process.pid)
        quiet, before = (quiet + 1 if now - before < share * period else 0), now
        if quiet >= 2:
            return True
    return False


def check_recording(path: Path, frames_out: int | None, run_seconds: float) -> dict:
    """Decode the recording with PyAV: valid (decodes to the end), complete (as many frames as live
    said it sent) and spanning the run (first to last frame plus one period, within max(1.5 s, 2%))."""
    import av

    result = {"path": str(path), "frames": 0, "frames_out": frames_out, "seconds": 0.0, "passed": False}
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            times = [float(f.pts * f.time_base) for f in container.decode(stream) if f.pts is not None]
            rate = float(stream.average_rate or 30)
    except Exception as exc:
        result["detail"] = f"does not decode: {type(exc).__name__}: {exc}"
        return result
    result["frames"] = len(times)
    result["seconds"] = round(max(times) - min(times) + 1 / rate, 2) if times else 0.0
    slack = max(RECORDING_SLACK_S, RECORDING_SLACK_FRACTION * run_seconds)
    complete = frames_out is not None and len(times) == frames_out
    spans = result["seconds"] >= run_seconds - slack
    result["passed"] = complete and spans
    result["detail"] = (
        f"{len(times)} frames (live recorded {frames_out}), {result['seconds']:.1f} s of {run_seconds:.0f} s "
        f"(at least {run_seconds - slack:.1f})"
    )
    return result


def run_soak(
    minutes: float,
    out: Path,
    sample_seconds: float = 10.0,
    clip: str = "auto",
    camera_size: tuple[int, int] = (320, 240),
    progress: Callable[[str], None] | None = None,
    serve_budget_ms: float | None = None,
) -> dict:
    """Run the soak for `minutes` and return the result (also written to out/samples.json, with the
    curves in out/soak.png): the samples, the verdicts, the recording check, the exit statuses,
    what the client got, and `passed`. `serve_budget_ms` is serve's --latency-budget-ms (its
    default when None)."""
    say = progress or (lambda text: None)
    out.mkdir(parents=True, exist_ok=True)
    seconds = minutes * 60
    camera = face_source(2.0, camera_size)
    camera_frames = [camera.render(i) for i in range(len(camera))]
    if camera_size == (640, 480):
        source, source_text = live_clip(clip, out, camera_frames)
    else:
        face = face_source(2.0)
        source, source_text = live_clip(clip, out, [face.render(i) for i in range(len(face))])
    recording, stats_path = out / "live.mp4", out / "live_stats.jsonl"
    for path in (recording, stats_path):
        path.unlink(missing_ok=True)
    port = _free_port()
    say(f"soak: {minutes:g} min; live plays the {source_text}; serve on port {port}; output in {out}")

    python = [sys.executable, "-m", "streamer"]
    logs = {name: open(out / f"{name}.log", "w") for name in PROCESSES}  # noqa: SIM115 (closed below)
    start = time.monotonic()
    live = subprocess.Popen(
        [
            *python,
            "live",
            "--source",
            str(source),
            "--realtime",
            "--loop",
            "--sink",
            f"file:{recording}",
            "--sink",
            "null",
            "--stats-json",
            str(stats_path),
            "--duration",
            f"{seconds:g}",
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=logs["live"],
        text=True,
        cwd=REPO,
    )
    serve = subprocess.Popen(
        [*python, "serve", "--ice-loopback", "--port", str(port)]
        + ([] if serve_budget_ms is None else ["--latency-budget-ms", f"{serve_budget_ms:g}"]),
        stdout=logs["serve"],
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    processes = {"live": live, "serve": serve}
    client = Client(f"http://127.0.0.1:{port}", camera_frames)
    live_tail = StatsTail(stats_path)
    samples: list[dict] = []
    statuses: dict[str, int | None] = {}
    live_stdout = ""
    session_ended, stop_wait_s = False, 0.0
    try:
        _wait_http(f"http://127.0.0.1:{port}/api/styles", serve, 120)
        client.start()
        client.connected.wait(60)

        def cpu_now() -> tuple[float, float]:
            ours = sum(cpu_seconds(p.pid) for p in processes.values()) + cpu_seconds(os.getpid())
            return machine_busy_seconds(), ours

        busy0, ours0 = cpu_now()
        last_t = 0.0
        next_sample = sample_seconds
        pipeline_end = None  # when live's --duration runs out, from its first stats line
        while live.poll() is None:
            time.sleep(max(0.0, min(0.5, start + next_sample - time.monotonic())))
            if pipeline_end is None:
                pipeline_end = _pipeline_end(stats_path, seconds)
            if pipeline_end is not None and time.monotonic() > pipeline_end:
                continue  # live is closing (no sample of its shutdown); wait for it to exit
            if time.monotonic() - start < next_sample:
                continue
            t = time.monotonic() - start
            while next_sample <= t:  # a slow start (the client connecting) skips the missed samples
                next_sample += sample_seconds
            sample: dict = {"t": round(t, 2)}
            try:
                for name, records in (("live", live_tail.read()), ("serve", client.take_stats())):
                    sample[name] = {**process_state(processes[name].pid), **window_latency(records)}
            except (OSError, AttributeError):  # live ended between the poll and the read
                break
            busy, ours = cpu_now()
            other = max(0.0, (busy - busy0) - (ours - ours0))
            sample["machine"] = {
                "cores": os.cpu_count(),
                "other_cpu_s": round(other, 2),
                "other_cores": round(other / (t - last_t), 2),
                "load1": round(os.getloadavg()[0], 2),
            }
            busy0, ours0, last_t = busy, ours, t
            samples.append(sample)
            live_d, serve_d = sample["live"], sample["serve"]
            say(
                f"t {t:6.0f} s  live {live_d['rss_mb']:.0f} MB {live_d['fds']} fds {live_d['threads']} thr "
                f"p99 {live_d['latency_ms_p99']}  serve {serve_d['rss_mb']:.0f} MB {serve_d['fds']} fds "
                f"{serve_d['threads']} thr p99 {serve_d['latency_ms_p99']}  "
                f"others {sample['machine']['other_cores']} cores"
            )
        live_stdout = live.communicate(timeout=120)[0]
        statuses["live"] = live.returncode
    finally:
        client.stop()
        # The client leaves first and the server is stopped once its session has ended (it is
        # idle again): a SIGINT in the middle of a session is another test.
        ended = time.monotonic()
        session_ended = _wait_quiet(serve, 30.0)
        stop_wait_s = round(time.monotonic() - ended, 1)
        for name, process in processes.items():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            statuses.setdefault(name, process.returncode)
        for log in logs.values():
            log.close()

    match = re.search(r"; (\d+) frames recorded to ", live_stdout)
    frames_out = int(match.group(1)) if match else None
    result = {
        "minutes": minutes,
        "sample_seconds": sample_seconds,
        "live_source": source_text,
        "serve_camera": f"generated face, {camera_size[0]}x{camera_size[1]}, 2 s looped",
        "serve_budget_ms": serve_budget_ms,
        "out": str(out),
        "windows": dict(zip(("warmup_end", "first_end", "last_start", "end"), windows(samples), strict=True)),
        "samples": samples,
        "verdicts": verdict(samples),
        "recording": check_recording(recording, frames_out, seconds),
        "live_summary": live_stdout.strip().splitlines()[-1] if live_stdout.strip() else "",
        "exit_status": statuses,
        "serve_stop": {"session_ended": session_ended, "waited_s": stop_wait_s},
        "client": {
            "video_frames": client.video_count,
            "stylized": client.stylized,
            "judged": client.judged,
            "stats": len(client.stats),
            "error": client.error,
        },
    }
    result["checks"] = {
        "recording valid and complete": result["recording"]["passed"],
        "exit status 0": all(status == 0 for status in statuses.values()),
        "client got video and stats": client.video_count > 0 and len(client.stats) > 0 and not client.error,
    }
    result["passed"] = all(v["passed"] for v in result["verdicts"]) and all(result["checks"].values())
    (out / "samples.json").write_text(json.dumps(result, indent=1))
    plot(samples, windows(samples), out / "soak.png", f"streamer soak, {minutes:g} min: {source_text}")
    return result


# --- the curves ------------------------------------------------------------------------------------
COLOURS = {"live": (200, 110, 20), "serve": (40, 40, 210), "machine": (60, 150, 60)}


def _ticks(low: float, high: float, count: int = 5, integer: bool = False) -> list[float]:
    """Round tick values covering [low, high] (whole numbers only when `integer`)."""
    if high <= low:
        high = low + 1
    raw = max((high - low) / count, 1.0 if integer else 0.0)
    step = 10 ** np.floor(np.log10(raw))
    step *= next(m for m in ((1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10)) if m * step >= raw)
    first = np.floor(low / step) * step
    return [float(first + i * step) for i in range(int(np.ceil((high - first) / step)) + 1)]


def _panel(
    canvas: np.ndarray,
    top: int,
    height: int,
    title: str,
    series: list[tuple[str, tuple[int, int, int], list[float], list[float | None], bool]],
    t_max: float,
    marks: Sequence[float],
) -> None:
    """One chart: `series` of (label, colour, times, values, dashed) on shared time axes."""
    left, right = 90, canvas.shape[1] - 30
    bottom = top + height - 40
    y0 = top + 28
    values = [v for _, _, _, vs, _ in series for v in vs if v is not None]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    pad = (high - low) * 0.1 or max(abs(high) * 0.05, 1.0)
    integer = all(float(v).is_integer() for v in values)
    if integer:
        pad = max(pad, 1.0)
    yt = _ticks(max(0.0, low - pad) if low >= 0 else low - pad, high + pad, integer=integer)
    lo, hi = yt[0], yt[-1]
    xt = _ticks(0, t_max / 60)
    font = cv2.FONT_HERSHEY_SIMPLEX

    def x_of(t: float) -> int:
        return int(left + (right - left) * t / max(xt[-1] * 60, 1e-9))

    def y_of(v: float) -> int:
        return int(bottom - (bottom - y0) * (v - lo) / (hi - lo))

    cv2.putText(canvas, title, (left, top + 18), font, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    for v in yt:
        y = y_of(v)
        cv2.line(canvas, (left, y), (right, y), (225, 225, 225), 1)
        label = f"{v:g}"
        size = cv2.getTextSize(label, font, 0.42, 1)[0]
        cv2.putText(canvas, label, (left - 8 - size[0], y + 4), font, 0.42, (60, 60, 60), 1, cv2.LINE_AA)
    for m in xt:
        x = x_of(m * 60)
        cv2.line(canvas, (x, y0), (x, bottom), (235, 235, 235), 1)
        label = f"{m:g}"
        size = cv2.getTextSize(label, font, 0.42, 1)[0]
        cv2.putText(canvas, label, (x - size[0] // 2, bottom + 16), font, 0.42, (60, 60, 60), 1, cv2.LINE_AA)
    cv2.putText(canvas, "minutes", (right - 60, bottom + 32), font, 0.42, (60, 60, 60), 1, cv2.LINE_AA)
    for t in marks:  # the warm-up end and the compared windows
        x = x_of(t)
        for y in range(y0, bottom, 8):
            cv2.line(canvas, (x, y), (x, min(y + 4, bottom)), (150, 150, 150), 1)
    cv2.rectangle(canvas, (left, y0), (right, bottom), (0, 0, 0), 1)
    legend_x = left + 10 + cv2.getTextSize(title, font, 0.55, 1)[0][0] + 20
    for label, colour, ts, vs, dashed in series:
        points = [(x_of(t), y_of(v)) for t, v in zip(ts, vs, strict=True) if v is not None]
        for a, b in itertools.pairwise(points):
            if not dashed:
                cv2.line(canvas, a, b, colour, 2, cv2.LINE_AA)
                continue
            pieces = max(1, int(np.hypot(b[0] - a[0], b[1] - a[1]) // 6))
            for k in range(0, pieces, 2):  # 6 px on, 6 px off
                p = (a[0] + (b[0] - a[0]) * k // pieces, a[1] + (b[1] - a[1]) * k // pieces)
                q = (a[0] + (b[0] - a[0]) * (k + 1) // pieces, a[1] + (b[1] - a[1]) * (k + 1) // pieces)
                cv2.line(canvas, p, q, colour, 2, cv2.LINE_AA)
        if len(points) == 1:
            cv2.circle(canvas, points[0], 3, colour, -1)
        for x in range(legend_x, legend_x + 22, 12 if dashed else 22):
            cv2.line(canvas, (x, top + 13), (min(x + (6 if dashed else 22), legend_x + 22), top + 13), colour, 2)
        cv2.putText(canvas, label, (legend_x + 28, top + 18), font, 0.45, colour, 1, cv2.LINE_AA)
        legend_x += 40 + cv2.getTextSize(label, font, 0.45, 1)[0][0]


def plot(samples: Sequence[dict], marks: Sequence[float], path: Path, title: str) -> None:
    """Draw the curves (RSS, descriptors, threads, latency p50/p99, the other processes' CPU) to a PNG."""
    panel_h, width = 210, 1200
    header = 70
    canvas = np.full((header + 5 * panel_h, width, 3), 255, np.uint8)
    cv2.putText(canvas, title, (20, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 2, cv2.LINE_AA)
    note = "grey dashes: end of the warm-up, end of the first window, start of the last window"
    cv2.putText(canvas, note, (20, 56), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (90, 90, 90), 1, cv2.LINE_AA)
    ts = [s["t"] for s in samples]
    t_max = max(ts) if ts else 1.0

    def of(process: str, key: str) -> list[float | None]:
        return [(s.get(process) or {}).get(key) for s in samples]

    panels = [
        ("resident memory (MB)", [(p, COLOURS[p], ts, of(p, "rss_mb"), False) for p in PROCESSES]),
        ("open descriptors", [(p, COLOURS[p], ts, of(p, "fds"), False) for p in PROCESSES]),
        ("threads", [(p, COLOURS[p], ts, of(p, "threads"), False) for p in PROCESSES]),
        (
            "latency (ms), p99 solid, p50 dashed",
            [
                item
                for p in PROCESSES
                for item in (
                    (f"{p} p99", COLOURS[p], ts, of(p, "latency_ms_p99"), False),
                    (f"{p} p50", COLOURS[p], ts, of(p, "latency_ms_p50"), True),
                )
            ],
        ),
        (
            "machine: cores used by other processes",
            [("others", COLOURS["machine"], ts, of("machine", "other_cores"), False)],
        ),
    ]
    for i, (name, series) in enumerate(panels):
        _panel(canvas, header + i * panel_h, panel_h, name, series, t_max, marks[:3])
    cv2.imwrite(str(path), canvas)


# --- the command -----------------------------------------------------------------------------------
def summary_table(result: dict) -> str:
    """The verdicts as a table, one line per criterion, and the overall verdict."""
    w = result["windows"]
    machine = [s["machine"]["other_cores"] for s in result["samples"] if s.get("machine")]
    lines = [
        f"soak: {result['minutes']:g} min; live: {result['live_source']}; serve client: {result['serve_camera']}",
        f"warm-up until {w['warmup_end']:.0f} s; windows {w['warmup_end']:.0f}-{w['first_end']:.0f} s "
        f"and {w['last_start']:.0f}-{w['end']:.0f} s; {len(result['samples'])} samples",
    ]
    if machine:
        lines.append(
            f"machine: {os.cpu_count()} cores; other processes used {statistics.mean(machine):.2f} cores "
            f"on average (most {max(machine):.2f})"
        )
    for process in PROCESSES:
        records = sum(s[process]["records"] for s in result["samples"] if s.get(process))
        passthrough = sum(s[process]["passthrough"] for s in result["samples"] if s.get(process))
        if records:
            lines.append(f"{process}: {passthrough} of {records} seconds at passthrough (quality given up to the load)")
    lines.append(f"{'criterion':<29} {'process':<8} {'verdict':<7} figures")
    for v in result["verdicts"]:
        lines.append(f"{v['criterion']:<29} {v['process']:<8} {'pass' if v['passed'] else 'FAIL':<7} {v['detail']}")
    client = result["client"]
    details = {
        "recording valid and complete": result["recording"].get("detail", ""),
        "exit status 0": ", ".join(f"{k} {v}" for k, v in result["exit_status"].items())
        + f" (serve stopped {result['serve_stop']['waited_s']:g} s after the client left"
        + ("" if result["serve_stop"]["session_ended"] else ", its session still running")
        + ")",
        "client got video and stats": f"{client['video_frames']} frames back "
        f"({client['stylized']} of {client['judged']} judged stylized), {client['stats']} stats"
        + (f"; {client['error']}" if client["error"] else ""),
    }
    for name, passed in result["checks"].items():
        lines.append(f"{name:<38} {'pass' if passed else 'FAIL':<7} {details[name]}")
    lines.append(result["live_summary"] or "live: no summary line")
    lines.append(f"verdict: {'PASS' if result['passed'] else 'FAIL'}; samples and curves in {result['out']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, required=True, help="how long live runs")
    parser.add_argument("--out", type=Path, help="folder for the samples, the curves and the recording")
    parser.add_argument("--sample-seconds", type=float, default=10.0, help="the sampling period (default 10)")
    parser.add_argument("--clip", default="auto", help="auto (the real clip if present), generated, or a path")
    parser.add_argument(
        "--camera", default="320x240", help="the client's camera size, WxH (default 320x240, as a small webcam)"
    )
    parser.add_argument(
        "--serve-latency-budget-ms", type=float, help="serve's --latency-budget-ms (default: serve's own)"
    )
    parser.add_argument("--json", action="store_true", help="print the whole result as JSON")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="streamer-soak-"))
    quiet = args.json
    result = run_soak(
        args.minutes,
        out,
        args.sample_seconds,
        args.clip,
        tuple(int(v) for v in args.camera.lower().split("x")),  # type: ignore[arg-type]
        progress=None if quiet else lambda text: print(text, flush=True),
        serve_budget_ms=args.serve_latency_budget_ms,
    )
    print(json.dumps(result, indent=1) if args.json else summary_table(result))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
