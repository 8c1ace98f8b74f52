"""Build TensorRT engines from a style's ONNX graphs, with a timing cache and a full cache key.

Uses the TensorRT 10 Python API: ONNX parser, one optimization profile on the `image` input,
FP16 when asked, a timing cache kept beside the engines, and `IProgressMonitor` for progress.
The engine and its key are written under temporary names and renamed into place.

Unverified here: TensorRT cannot be installed in this project's CI, so this module has not been
run; `tests/test_tensorrt.py` exercises it wherever `tensorrt` imports and a GPU is present.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from streamer.engines.backends import tensorrt as trt_backend
from streamer.engines.store import sha256
from streamer.errors import ModelError

Shape = list[int]


@dataclass(frozen=True)
class Target:
    """One engine to build: which ONNX file, for which role, with which input shapes."""

    role: str
    onnx: Path
    shapes: dict[str, list[Shape]]  # input name -> [min, opt, max]


def uint8_io_problem(onnx_path: Path) -> str | None:
    """Why TensorRT would refuse this graph's uint8 input or output (None: it would not).

    TensorRT takes uint8 network inputs and outputs only through a Cast; every graph the styles
    store is exported that way (checked here, without TensorRT, before a build starts).
    """
    import onnx
    from onnx import TensorProto

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    producer = {out: node for node in graph.node for out in node.output}
    for value in graph.input:
        if value.type.tensor_type.elem_type == TensorProto.UINT8:
            readers = [n.op_type for n in graph.node if value.name in n.input and n.op_type != "Cast"]
            if readers:
                return f"its uint8 input {value.name!r} is read by {readers[0]}, not by a Cast"
    for value in graph.output:
        made_by = producer.get(value.name)
        if value.type.tensor_type.elem_type == TensorProto.UINT8 and made_by is not None and made_by.op_type != "Cast":
            return f"its uint8 output {value.name!r} is made by {made_by.op_type}, not by a Cast"
    return None


def _progress_monitor(trt, out):
    class Progress(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self._steps: dict[str, int] = {}
            self._start = time.monotonic()

        def phase_start(self, phase_name, parent_phase, num_steps):
            self._steps[phase_name] = num_steps
            indent = "  " if parent_phase else ""
            print(f"{indent}{phase_name} ({num_steps} steps)", file=out, flush=True)

        def step_complete(self, phase_name, step):
            total = self._steps.get(phase_name, 0)
            print(
                f"\r  {phase_name}: {step + 1}/{total}  {time.monotonic() - self._start:.0f} s",
                end="",
                file=out,
                flush=True,
            )
            return True  # False would cancel the build

        def phase_finish(self, phase_name):
            print(file=out, flush=True)

    return Progress()


def build_engine(
    target: Target, engine_path: Path, precision: str, cache_path: Path, force: bool = False, out=sys.stderr
) -> bool:
    """Build `target` into `engine_path` unless an engine with the same key is there (returns False)."""
    import tensorrt as trt

    version, gpu, capability = trt_backend.current_environment()
    key = trt_backend.engine_key(sha256(target.onnx), version, gpu, capability, precision, target.shapes)
    if not force and engine_path.exists() and trt_backend.read_key(engine_path) == key:
        print(f"{engine_path.name}: up to date ({gpu}, TensorRT {version}, {precision})", file=out)
        return False

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(target.onnx.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ModelError(f"TensorRT cannot parse {target.onnx.name}: {errors}")
    config = builder.create_builder_config()
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    for name, (smin, sopt, smax) in target.shapes.items():
        profile.set_shape(name, smin, sopt, smax)
    config.add_optimization_profile(profile)
    cache = config.create_timing_cache(cache_path.read_bytes() if cache_path.exists() else b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    config.progress_monitor = _progress_monitor(trt, out)

    print(f"building {engine_path.name} from {target.onnx.name} ({precision}, {gpu}) ...", file=out, flush=True)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ModelError(f"TensorRT could not build an engine from {target.onnx.name} (see the log above)")
    engine_path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(cache_path, bytes(config.get_timing_cache().serialize()))
    _write_atomically(engine_path, bytes(serialized))
    _write_atomically(engine_path.with_suffix(".json"), json.dumps(key, indent=2).encode())
    return True


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
