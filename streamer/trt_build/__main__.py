"""streamer-trt-build STYLE [--precision fp16|fp32] [--head-size S] [--max-faces N]
                         [--background-min WxH] [--background-opt WxH] [--background-max WxH] [--out DIR]

(also `python -m streamer.trt_build`, and `python -m trt_build` from a checkout)

Builds the TensorRT engines of a style (its head and background networks) for this GPU. Live and
file runs use an engine only when its key (ONNX hash, TensorRT version, GPU, precision, shapes)
matches, and otherwise fall back to torch or ONNX Runtime and say so; they never build one.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from streamer.errors import InvalidInputError, ModelError, StreamerError


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    if w % 16 or h % 16 or w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"{text}: both sides must be positive multiples of 16")
    return w, h


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="streamer-trt-build", description=__doc__.split("\n\n")[2])
    p.add_argument("style")
    p.add_argument("--precision", choices=["fp16", "fp32"], default="fp16")
    p.add_argument("--head-size", type=int, help="head crop side (default: the style's own)")
    p.add_argument("--max-faces", type=int, default=4, help="largest head batch (default: 4)")
    p.add_argument("--background-min", type=_size, default=(320, 176))
    p.add_argument("--background-opt", type=_size, default=(640, 368))
    p.add_argument("--background-max", type=_size, default=(1920, 1088))
    p.add_argument("--out", type=Path, help="engine folder (default: the style's folder in the model store)")
    p.add_argument("--force", action="store_true", help="rebuild even when the key matches")
    return p.parse_args(argv)


def targets(args: argparse.Namespace, workdir: Path):
    """(style folder default, [Target]) for the style; a built-in style's graphs are written to `workdir`."""
    from streamer.engines import store
    from streamer.engines.families import FAMILIES
    from streamer.engines.registry import CATALOG
    from streamer.engines.toon import BUILTIN_STYLES, builtin_models
    from streamer.trt_build.build import Target

    def shape(w: int, h: int, n: int = 1) -> list[int]:
        return [n, h, w, 3]

    background = {"image": [shape(*args.background_min), shape(*args.background_opt), shape(*args.background_max)]}
    if args.style in BUILTIN_STYLES:
        size = args.head_size or 288
        files = {}
        for role, model in builtin_models(args.style).items():
            files[role] = workdir / f"{args.style}_{role}.onnx"
            files[role].write_bytes(model.SerializeToString())
    else:
        manifest = store.read_manifest(args.style)
        if manifest is None:
            hint = "; see `streamer models list`" if args.style in CATALOG else ""
            raise InvalidInputError(f"style {args.style!r} is not installed{hint}")
        size = args.head_size or FAMILIES[manifest.family].layout.size
        files = {role: path for role in ("head", "background") if (path := manifest.path(role)) is not None}
    head = {"image": [shape(size, size, 1), shape(size, size, 1), shape(size, size, args.max_faces)]}
    return [Target(role, path, head if role == "head" else background) for role, path in files.items()]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        from streamer.engines.backends.tensorrt import current_environment
        from streamer.engines.registry import tensorrt_engine_path
        from streamer.trt_build.build import uint8_io_problem

        with tempfile.TemporaryDirectory() as tmp:
            todo = targets(args, Path(tmp))
            for target in todo:
                problem = uint8_io_problem(target.onnx)
                if problem:
                    raise ModelError(
                        f"{target.onnx.name} cannot be built: {problem}; import the style again to re-export it"
                    )
            current_environment()  # one clear line when TensorRT or the GPU is missing
            from streamer.trt_build.build import build_engine

            for target in todo:
                default = tensorrt_engine_path(args.style, target.role, args.precision)
                engine = (args.out / default.name) if args.out else default
                build_engine(target, engine, args.precision, engine.parent / "timing.cache", args.force)
                print(f"{target.role}: {engine}")
    except StreamerError as exc:
        print(f"trt_build: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
