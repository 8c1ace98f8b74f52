"""Fuzz `streamer stylize` and `streamer models import` with seeded mutations of valid inputs.

    .venv/bin/python benchmarks/fuzz.py --area media --cases 200 [--seed 1] [--json out.json]
    .venv/bin/python benchmarks/fuzz.py --area models --cases 60

media: small valid clips of every container the README lists (mp4, mov, mkv, webm, avi) and images
(jpg, png, bmp, webp, tiff), each mutated one way: bit flips, a truncation, a corrupted header,
absurd dimensions or frame rate written into an MP4/MOV's boxes, a container with no frames, an
empty file. Each case runs `streamer stylize IN OUT --no-progress` in its own process.

models: a DCT-Net frozen graph (.pb), a photo2cartoon checkpoint (.pt), an ONNX graph (.onnx) and,
where the reference weights are present, the White-box TFLite file, truncated or bit-flipped; plus a
.pt whose pickle would create a file when unpickled. Each case runs `streamer models import`.

A case passes when the command ends within the time limit with exit status 0, 2 or 3; prints no
traceback; on status 2 prints one error line and leaves nothing at the output (or in the model
store); on 0 or 3 leaves a complete, readable output; and leaves no temporary file. The summary
counts cases, passes, hangs, tracebacks and each other failure; `--json` keeps every case.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODELS_DIR = Path(os.environ.get("STREAMER_MODELS_DIR", REPO.parent / "shared" / "models"))
VIDEO_SEEDS = {  # container extension: (video codec, audio codec)
    ".mp4": ("libx264", "aac"),
    ".mov": ("libx264", "aac"),
    ".mkv": ("libx264", "libopus"),
    ".webm": ("libvpx-vp9", "libopus"),
    ".avi": ("mpeg4", None),
}
IMAGE_SEEDS = (".jpg", ".png", ".bmp", ".webp", ".tiff")
OK_STATUS = (0, 2, 3)


@dataclass
class Case:
    area: str
    seed_name: str
    mutation: str
    status: int | None = None
    seconds: float = 0.0
    verdict: str = ""  # "pass", or what was wrong
    message: str = ""
    details: dict = field(default_factory=dict)


# --- seeds -----------------------------------------------------------------------------------------


def make_media_seeds(folder: Path) -> list[Path]:
    """Small valid clips (one moving face, 160x120, 12 frames, with audio where the container takes
    it) and still images."""
    import cv2

    from streamer.capture.synthetic import Motion, SyntheticSource, write_clip

    source = SyntheticSource([Motion((80, 60), scale=0.35, sway=(10, 4), period=1.0)], size=(160, 120), duration=0.4)
    images = [f.image for f in source]
    seeds = []
    for extension, (video, audio) in VIDEO_SEEDS.items():
        path = folder / f"seed{extension}"
        write_clip(path, images, fps=30, codec=video, audio_codec=audio)
        seeds.append(path)
    for extension in IMAGE_SEEDS:
        path = folder / f"seed{extension}"
        cv2.imwrite(str(path), images[0])
        seeds.append(path)
    # A Matroska file cut before its first cluster: a header that declares the streams, no frames.
    matroska = (folder / "seed.mkv").read_bytes()
    empty_stream = folder / "no_frames.mkv"
    empty_stream.write_bytes(matroska[: matroska.find(b"\x1f\x43\xb6\x75")])
    seeds.append(empty_stream)
    return seeds


def make_model_seeds(folder: Path) -> list[tuple[Path, list[str]]]:
    """(model file, the `models import` arguments after the path) for each kind of model file."""
    import torch

    from streamer.engines.graphdef import write_frozen_graph
    from streamer.engines.models.photo2cartoon import Photo2Cartoon
    from streamer.engines.models.unet import CartoonUNet

    sys.path.insert(0, str(REPO))
    from tests.fakes import frozen_unet_constants

    torch.manual_seed(0)
    seeds: list[tuple[Path, list[str]]] = []
    pb = folder / "cartoon_h.pb"
    write_frozen_graph(pb, frozen_unet_constants(CartoonUNet(rgb=False, guided_eps=1e-2)))
    seeds.append((pb, ["--family", "dctnet", "--name", "fuzzpb"]))
    pt = folder / "photo2cartoon_weights.pt"
    torch.save({"genA2B": Photo2Cartoon().generator.state_dict()}, pt)
    seeds.append((pt, ["--style", "photo2cartoon"]))
    onnx = folder / "photo2cartoon_weights.onnx"
    onnx.write_bytes(_small_onnx_graph())
    seeds.append((onnx, ["--style", "photo2cartoon"]))
    tflite = MODELS_DIR / "whitebox_cartoon_gan_fp16.tflite"
    if tflite.exists():
        seeds.append((tflite, ["--family", "dctnet", "--name", "fuzztflite"]))
    return seeds


def _small_onnx_graph() -> bytes:
    """A valid ONNX graph of another architecture (one convolution): what a wrong export looks like."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((3, 3, 3, 3), np.float32) / 27, "weight")
    node = helper.make_node("Conv", ["image", "weight"], ["out"], pads=[1, 1, 1, 1])
    graph = helper.make_graph(
        [node],
        "small",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 256, 256])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 256, 256])],
        [weight],
    )
    return onnx.helper.make_model(graph).SerializeToString()


class _CreatesAFile:
    """Unpickled without care, this creates the file at `path`: what a booby-trapped .pt would do."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def write_pickle_payload(path: Path, marker: Path) -> None:
    import torch

    torch.save({"genA2B": {"weight": _CreatesAFile(str(marker))}}, path)


# --- mutations -------------------------------------------------------------------------------------


def bit_flips(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 64)):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def truncation(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data))]


def header(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    start = rng.randrange(min(len(out), 1024))
    for i in range(start, min(len(out), start + rng.randint(16, 64))):
        out[i] = rng.randrange(256)
    return bytes(out)


def absurd_dimensions(data: bytes, rng: random.Random) -> bytes:
    """An MP4/MOV's sample entry width and height (and the track header's) set to 0 or 65535."""
    out = bytearray(data)
    for tag in (b"avc1", b"mp4v"):
        at = out.find(tag)
        if at >= 0:
            for offset in (28, 30):
                out[at + offset : at + offset + 2] = rng.choice([0, 65535, 1]).to_bytes(2, "big")
    at = out.find(b"tkhd")
    if at >= 0:  # version 0: width and height (16.16) are the box's last 8 bytes
        size = int.from_bytes(out[at - 4 : at], "big")
        end = at - 4 + size
        out[end - 8 : end] = rng.choice([0, 0xFFFF0000]).to_bytes(4, "big") * 2
    return bytes(out)


def absurd_rate(data: bytes, rng: random.Random) -> bytes:
    """An MP4/MOV's media time scale (mdhd) set to 1, 0 or the largest value."""
    out = bytearray(data)
    at = out.find(b"mdhd")
    if at >= 0:
        out[at + 16 : at + 20] = rng.choice([0, 1, 0xFFFFFFFF]).to_bytes(4, "big")
    return bytes(out)


MUTATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "bit flips": bit_flips,
    "truncation": truncation,
    "corrupted header": header,
}
MP4_MUTATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "absurd dimensions": absurd_dimensions,
    "absurd frame rate": absurd_rate,
}


# --- running and judging ---------------------------------------------------------------------------


def _streamer(args: list[str], env: dict[str, str], timeout: float) -> tuple[int | None, str, float]:
    t0 = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "streamer", *args], capture_output=True, text=True, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return None, err, time.perf_counter() - t0
    return done.returncode, done.stderr, time.perf_counter() - t0


def _judge_messages(case: Case, status: int | None, err: str) -> bool:
    """Sets the verdict for a hang, a traceback, a wrong status or a missing/extra error line;
    True when those are all fine."""
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("streamer: error:")]
    case.status, case.message = status, (errors[0] if errors else (lines[-1] if lines else ""))
    if status is None:
        case.verdict = "hang"
    elif "Traceback" in err:
        case.verdict = "traceback"
    elif status not in OK_STATUS:
        case.verdict = f"exit status {status}"
    elif status == 2 and len(errors) != 1:
        case.verdict = f"{len(errors)} error lines"
    else:
        return True
    return False


def _readable_output(path: Path) -> bool:
    import cv2
    import numpy as np

    if path.suffix.lower() in (*IMAGE_SEEDS, ".jpeg"):
        return cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR) is not None
    import av

    try:
        with av.open(str(path)) as container:
            return any(frame is not None for frame in container.decode(video=0))
    except (av.FFmpegError, OSError, IndexError):
        return False


def run_media_case(case: Case, data: bytes, suffix: str, work: Path, env: dict[str, str], timeout: float) -> None:
    folder = Path(tempfile.mkdtemp(dir=work))
    source = folder / f"in{suffix}"
    source.write_bytes(data)
    out_dir = folder / "out"
    out_dir.mkdir()
    output = out_dir / (f"out{suffix}" if suffix in IMAGE_SEEDS else "out.mp4")
    status, err, case.seconds = _streamer(["stylize", str(source), str(output), "--no-progress"], env, timeout)
    if not _judge_messages(case, status, err):
        return
    left = sorted(p.name for p in out_dir.iterdir())
    if status == 2 and left:
        case.verdict = f"status 2 but left {left}"
    elif status in (0, 3) and (left != [output.name] or not _readable_output(output)):
        case.verdict = f"status {status} but the output is not complete and alone: {left}"
    else:
        case.verdict = "pass"


def run_model_case(
    case: Case, data: bytes, name: str, arguments: list[str], work: Path, env: dict[str, str], timeout: float
) -> None:
    folder = Path(tempfile.mkdtemp(dir=work))
    model = folder / name
    model.write_bytes(data)
    home = folder / "home"
    env = {**env, "STREAMER_HOME": str(home)}
    status, err, case.seconds = _streamer(["models", "import", str(model), *arguments], env, timeout)
    if not _judge_messages(case, status, err):
        return
    stored = sorted(p.name for p in (home / "models").iterdir()) if (home / "models").is_dir() else []
    if status == 2 and stored:
        case.verdict = f"status 2 but stored {stored}"
    elif status not in (0, 2):
        case.verdict = f"exit status {status} from an import"
    else:
        case.verdict = "pass"


def fuzz_media(cases: int, rng: random.Random, work: Path, env: dict[str, str], timeout: float) -> list[Case]:
    seeds = make_media_seeds(work)
    results = []
    for index in range(cases):
        seed = seeds[index % len(seeds)]
        data = seed.read_bytes()
        choices = dict(MUTATIONS)
        if seed.suffix in (".mp4", ".mov") and seed.name.startswith("seed"):
            choices.update(MP4_MUTATIONS)
        if seed.name == "no_frames.mkv":
            choices = {"zero-length stream": lambda data, rng: data}
        elif index % 25 == 24:
            choices = {"empty file": lambda data, rng: b""}
        mutation = rng.choice(sorted(choices))
        case = Case("media", seed.name, mutation)
        run_media_case(case, choices[mutation](data, rng), seed.suffix, work, env, timeout)
        results.append(case)
    return results


def fuzz_models(cases: int, rng: random.Random, work: Path, env: dict[str, str], timeout: float) -> list[Case]:
    seeds = make_model_seeds(work)
    results = []
    for index in range(cases):
        path, arguments = seeds[index % len(seeds)]
        mutation = rng.choice(["truncation", "bit flips"])
        case = Case("models", path.name, mutation)
        run_model_case(case, MUTATIONS[mutation](path.read_bytes(), rng), path.name, arguments, work, env, timeout)
        results.append(case)
    payload_case = Case("models", "photo2cartoon_weights.pt", "pickle that creates a file")
    marker = work / "created-by-unpickling"
    payload = work / "payload.pt"
    write_pickle_payload(payload, marker)
    run_model_case(payload_case, payload.read_bytes(), payload.name, ["--style", "photo2cartoon"], work, env, timeout)
    if marker.exists():
        payload_case.verdict = "the pickle ran: it created a file"
    elif payload_case.verdict == "pass" and payload_case.status != 2:
        payload_case.verdict = f"a pickle payload was accepted (status {payload_case.status})"
    results.append(payload_case)
    return results


def summarize(results: list[Case]) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for case in results:
        row = table.setdefault(case.area, {"cases": 0, "pass": 0, "hangs": 0, "tracebacks": 0, "other failures": 0})
        row["cases"] += 1
        if case.verdict == "pass":
            row["pass"] += 1
        elif case.verdict == "hang":
            row["hangs"] += 1
        elif case.verdict == "traceback":
            row["tracebacks"] += 1
        else:
            row["other failures"] += 1
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--area", choices=["media", "models", "gradio", "server", "all"], default="all")
    parser.add_argument("--cases", type=int, default=100, help="cases per area (default: 100)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds a case may take (default: 120)")
    parser.add_argument("--json", type=Path, help="write every case and the summary here")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    results: list[Case] = []
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        work = Path(tmp)
        if args.area in ("media", "all"):
            results += fuzz_media(args.cases, rng, work, env, args.timeout)
        if args.area in ("models", "all"):
            results += fuzz_models(args.cases, rng, work, env, args.timeout)
        if args.area in ("gradio", "all"):  # uploads to a `streamer demo` (benchmarks/fuzz_gradio.py)
            results += __import__("fuzz_gradio").fuzz_gradio(args.cases, rng, work, env, args.timeout)
        if args.area in ("server", "all"):  # requests to a `streamer serve` (benchmarks/fuzz_server.py)
            results += __import__("fuzz_server").fuzz_server(args.cases, rng, min(args.timeout, 20.0))
    table = summarize(results)
    for area, row in table.items():
        print(f"{area}: " + ", ".join(f"{key} {value}" for key, value in row.items()))
    for case in results:
        if case.verdict != "pass":
            print(f"  FAIL {case.area} {case.seed_name} ({case.mutation}): {case.verdict}; {case.message}")
    if args.json:
        args.json.write_text(json.dumps({"summary": table, "cases": [asdict(c) for c in results]}, indent=1))
    return 0 if all(c.verdict == "pass" for c in results) else 1


if __name__ == "__main__":
    sys.exit(main())
