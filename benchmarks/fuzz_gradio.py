"""Fuzz the Gradio page (`streamer demo`) with seeded uploads, sent to its API as gradio_client sends them.

    .venv/bin/python benchmarks/fuzz_gradio.py --cases 60 [--seed 1] [--json out.json]
    .venv/bin/python benchmarks/fuzz.py --area gradio --cases 60

One `streamer demo` subprocess (127.0.0.1, a free port, an empty model store, the built-in style)
takes every case on `/stylize_video`. Its caps are lowered (`--max-upload-mb 1 --max-video-seconds
3` by default; this runner's flags of the same names change them) so that a case too large or too
long costs a megabyte and a few frames, not 200 MB and 5 minutes.

The cases take turns through these kinds, each made from a seeded random choice:
not a video (random bytes, text, a still image renamed .mp4), truncated and bit-flipped clips
(mp4, mkv, webm), too long (a clip at 2 fps past the cap), too large (a valid clip padded past
the cap), an empty file, a valid clip under a wrong extension (.txt, .png, .avi) and a valid clip.

A case passes when the call ends within the time limit and either
- is refused with one sentence: the page's error (one line, no traceback, no folder of the
  server's), or for a file over the cap Gradio's HTTP 413 with its one sentence; or
- (only valid clips, truncated or bit-flipped ones) returns a video that decodes;
and the demo's log gained no traceback meanwhile. Not a video, too long, too large and empty must be
refused; a valid clip under any name must come back. At the end the demo must still be running
and stylize a valid clip. The summary counts cases, passes, hangs, tracebacks and other failures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAX_UPLOAD_MB = 1.0
MAX_VIDEO_SECONDS = 3.0
CONTAINERS = {".mp4": ("libx264", "aac"), ".mkv": ("libx264", "libopus"), ".webm": ("libvpx-vp9", "libopus")}
MUST_REFUSE = ("random bytes", "text", "image renamed", "too long", "too large", "empty file")
MUST_SUCCEED = ("valid", "wrong extension")


@dataclass
class Case:
    """One upload and its verdict (the fields of benchmarks/fuzz.py's cases, so the runners share a
    summary)."""

    area: str
    seed_name: str
    mutation: str
    status: int | None = None  # 0: a video came back; 1: refused; None: no answer in time
    seconds: float = 0.0
    verdict: str = ""  # "pass", or what was wrong
    message: str = ""
    details: dict = field(default_factory=dict)


# --- seeds and mutations ---------------------------------------------------------------------------


def make_seeds(folder: Path, max_video_seconds: float) -> dict[str, Path]:
    """Small valid clips of each container (a moving face, 160x120, 12 frames, with audio), a still
    image, and a clip at 2 fps that runs two seconds past `max_video_seconds`."""
    import cv2

    from streamer.capture.synthetic import Motion, SyntheticSource, write_clip

    source = SyntheticSource([Motion((80, 60), scale=0.35, sway=(10, 4), period=1.0)], size=(160, 120), duration=0.4)
    images = [f.image for f in source]
    seeds = {}
    for extension, (video, audio) in CONTAINERS.items():
        seeds[extension] = folder / f"seed{extension}"
        write_clip(seeds[extension], images, fps=30, codec=video, audio_codec=audio)
    seeds["image"] = folder / "still.png"
    cv2.imwrite(str(seeds["image"]), images[0])
    long_frames = int((max_video_seconds + 2) * 2)
    seeds["long"] = folder / "long.mp4"
    write_clip(seeds["long"], [cv2.resize(images[i % len(images)], (64, 48)) for i in range(long_frames)], fps=2)
    return seeds


def _flip(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 32)):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def _pad(data: bytes, rng: random.Random, max_upload_mb: float) -> bytes:
    """A valid clip followed by random bytes, past the cap by up to a half."""
    size = int(max_upload_mb * 2**20 * rng.uniform(1.01, 1.5))
    return data + rng.randbytes(max(0, size - len(data)))


# kind -> (file name, content) from the seeds, a random source and the cap
Mutator = Callable[[dict[str, Path], random.Random, float], tuple[str, bytes]]


def _clip(seeds: dict[str, Path], rng: random.Random) -> Path:
    return seeds[rng.choice(sorted(CONTAINERS))]


MUTATORS: dict[str, Mutator] = {
    "random bytes": lambda seeds, rng, mb: ("random.mp4", rng.randbytes(rng.randint(1, 200_000))),
    "text": lambda seeds, rng, mb: (rng.choice(["notes.mp4", "notes.mov"]), b"not a video\n" * rng.randint(1, 5000)),
    "image renamed": lambda seeds, rng, mb: ("photo.mp4", seeds["image"].read_bytes()),
    "truncated": lambda seeds, rng, mb: (
        (clip := _clip(seeds, rng)).name,
        clip.read_bytes()[: int(clip.stat().st_size * rng.uniform(0.05, 0.97))],
    ),
    "bit flips": lambda seeds, rng, mb: ((clip := _clip(seeds, rng)).name, _flip(clip.read_bytes(), rng)),
    "too long": lambda seeds, rng, mb: ("long.mp4", seeds["long"].read_bytes()),
    "too large": lambda seeds, rng, mb: ("large.mp4", _pad(seeds[".mp4"].read_bytes(), rng, mb)),
    "empty file": lambda seeds, rng, mb: ("empty.mp4", b""),
    "wrong extension": lambda seeds, rng, mb: (
        f"clip{rng.choice(['.txt', '.png', '.avi'])}",
        seeds[".mp4"].read_bytes(),
    ),
    "valid": lambda seeds, rng, mb: ((clip := _clip(seeds, rng)).name, clip.read_bytes()),
}


# --- the demo --------------------------------------------------------------------------------------


class DemoProcess:
    """`streamer demo` in a subprocess on a free port, its output in `log`; `new_log()` is what it
    printed since the last call."""

    def __init__(self, work: Path, env: dict[str, str], max_upload_mb: float, max_video_seconds: float) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = work / "demo.log"
        self._read = 0
        env = {**env, "STREAMER_HOME": str(work / "home"), "GRADIO_ANALYTICS_ENABLED": "False"}
        args = ["--port", str(self.port), "--style", "toon"]
        args += ["--max-upload-mb", f"{max_upload_mb:g}", "--max-video-seconds", f"{max_video_seconds:g}"]
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streamer", "demo", *args], stdout=out, stderr=subprocess.STDOUT, env=env
            )

    def wait_up(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamer demo exited ({self.process.returncode}): {self.new_log()[-2000:]}")
            try:
                urllib.request.urlopen(self.url, timeout=2).close()
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"streamer demo did not answer within {timeout:g} s")

    def new_log(self) -> str:
        text = self.log.read_bytes()[self._read :]
        self._read += len(text)
        return text.decode(errors="replace")

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- running and judging ---------------------------------------------------------------------------


def one_sentence(message: str) -> bool:
    """One line, no traceback, no second sentence and no folder of the server's temporary files."""
    text = message.strip()
    return (
        bool(text)
        and "\n" not in text
        and "Traceback" not in text
        and tempfile.gettempdir() + "/" not in text
        and not re.search(r"[.!?]\s+[A-Z]", text)
    )


def upload(client, path: Path, timeout: float) -> tuple[int | None, str]:
    """(0, the returned video's path) | (1, the refusal's sentence) | (None, "") when no answer came."""
    import concurrent.futures

    import gradio_client

    try:
        job = client.submit(gradio_client.handle_file(str(path)), "toon", api_name="/stylize_video")
        result = job.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        return None, ""
    except gradio_client.exceptions.AppError as exc:
        return 1, str(exc)
    return 0, result["video"] if isinstance(result, dict) else result


def upload_raw(url: str, path: Path, timeout: float) -> tuple[int | None, str]:
    """`path` posted to Gradio's upload route as the page posts it, past gradio_client's own size
    check (which refuses a file over the cap before sending it): (1, "HTTP 413: the sentence") when
    refused, (0, "") when stored, (None, "") when no answer came."""
    import httpx

    try:
        with open(path, "rb") as f:
            response = httpx.post(f"{url}gradio_api/upload", files={"files": (path.name, f)}, timeout=timeout)
    except httpx.TimeoutException:
        return None, ""
    if response.is_success:
        return 0, ""
    try:
        detail = str(response.json().get("detail", response.text))
    except ValueError:
        detail = response.text
    return 1, f"HTTP {response.status_code}: {detail}"


def _decodes(path: str) -> bool:
    import av

    try:
        with av.open(path) as container:
            return any(frame is not None for frame in container.decode(video=0))
    except (av.FFmpegError, OSError, IndexError):
        return False


def judge(case: Case, status: int | None, answer: str, log: str) -> None:
    case.status, case.message = status, answer
    if status is None:
        case.verdict = "hang"
    elif "Traceback" in log:
        case.verdict = "traceback"
        case.details["log"] = log[-3000:]
    elif status == 1 and not one_sentence(answer):
        case.verdict = "not one sentence"
    elif status == 1 and case.mutation in MUST_SUCCEED:
        case.verdict = "a valid clip was refused"
    elif status == 0 and case.mutation in MUST_REFUSE:
        case.verdict = "accepted"
    elif status == 0 and case.mutation != "too large" and not _decodes(answer):
        case.verdict = "the returned video does not decode"
    elif case.mutation == "too large" and status == 1 and not answer.startswith("HTTP 413"):
        case.verdict = "too large, but not refused as it arrived (HTTP 413)"
    else:
        case.verdict = "pass"


def fuzz_gradio(
    cases: int,
    rng: random.Random,
    work: Path,
    env: dict[str, str],
    timeout: float,
    max_upload_mb: float = MAX_UPLOAD_MB,
    max_video_seconds: float = MAX_VIDEO_SECONDS,
) -> list[Case]:
    """`cases` uploads to one `streamer demo` (kinds in turn, contents from `rng`), then the check that
    the demo still runs and stylizes a valid clip (one more case, "valid, after the others")."""
    import gradio_client

    folder = Path(tempfile.mkdtemp(dir=work))
    seeds = make_seeds(folder, max_video_seconds)
    demo = DemoProcess(folder, env, max_upload_mb, max_video_seconds)
    results = []
    try:
        demo.wait_up(120)
        client = gradio_client.Client(demo.url, verbose=False)
        demo.new_log()  # start-up lines
        kinds = list(MUTATORS)
        for index in range(cases):
            kind = kinds[index % len(kinds)]
            name, data = MUTATORS[kind](seeds, rng, max_upload_mb)
            path = folder / f"case{index}" / name
            path.parent.mkdir()
            path.write_bytes(data)
            case = Case("gradio", name, kind, details={"bytes": len(data)})
            t0 = time.perf_counter()
            if kind == "too large":
                status, answer = upload_raw(demo.url, path, timeout)
            else:
                status, answer = upload(client, path, timeout)
            case.seconds = round(time.perf_counter() - t0, 2)
            judge(case, status, answer, demo.new_log())
            results.append(case)
        after = Case("gradio", seeds[".mp4"].name, "valid, after the others")
        t0 = time.perf_counter()
        status, answer = upload(client, seeds[".mp4"], timeout)
        after.seconds = round(time.perf_counter() - t0, 2)
        judge(after, status, answer, demo.new_log())
        if after.verdict == "pass" and (status != 0 or demo.process.poll() is not None):
            after.verdict = "the demo stopped working"
        results.append(after)
    finally:
        demo.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=60, help="uploads (default: 60), then one valid one")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds an upload may take (default: 120)")
    parser.add_argument("--max-upload-mb", type=float, default=MAX_UPLOAD_MB, help="the demo's cap (default: 1)")
    parser.add_argument(
        "--max-video-seconds", type=float, default=MAX_VIDEO_SECONDS, help="the demo's cap (default: 3)"
    )
    parser.add_argument("--json", type=Path, help="write every case and the summary here")
    args = parser.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    print(f"streamer demo --max-upload-mb {args.max_upload_mb:g} --max-video-seconds {args.max_video_seconds:g}")
    with tempfile.TemporaryDirectory(prefix="fuzz-gradio-") as tmp:
        results = fuzz_gradio(
            args.cases,
            random.Random(args.seed),
            Path(tmp),
            env,
            args.timeout,
            args.max_upload_mb,
            args.max_video_seconds,
        )
    row = {"cases": len(results), "pass": 0, "hangs": 0, "tracebacks": 0, "other failures": 0}
    for case in results:
        key = {"pass": "pass", "hang": "hangs", "traceback": "tracebacks"}.get(case.verdict, "other failures")
        row[key] += 1
    print("gradio: " + ", ".join(f"{key} {value}" for key, value in row.items()))
    for case in results:
        if case.verdict != "pass":
            print(f"  FAIL {case.seed_name} ({case.mutation}): {case.verdict}; {case.message}")
    if args.json:
        args.json.write_text(json.dumps({"summary": {"gradio": row}, "cases": [asdict(c) for c in results]}, indent=1))
    return 0 if all(c.verdict == "pass" for c in results) else 1


if __name__ == "__main__":
    sys.exit(main())
