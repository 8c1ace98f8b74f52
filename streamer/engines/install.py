"""`streamer models import` and `verify`: convert, check and store styles.

Import: read the official file(s), load them into the family's PyTorch module (a wrong or damaged
file fails here, naming the first bad tensor), export ONNX, check that ONNX Runtime's output matches
PyTorch's on a test image, then move the result into the store in one rename. Nothing is stored
unless every step passed.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from streamer.engines import store
from streamer.errors import InvalidInputError, ModelError

# Largest difference (grey levels) allowed between PyTorch and ONNX Runtime on the check image:
# the same fp32 maths in a different order, rounded to uint8.
EXPORT_TOLERANCE = 2
STYLE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def _check_image(size: int) -> np.ndarray:
    from streamer import samples as data

    photo = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    return cv2.resize(photo, (size, size), interpolation=cv2.INTER_AREA)[None]


def _export_checked(module, path: Path, size: int, dynamic: bool) -> None:
    """Export `module` to `path` (for `size` crops, or any size when `dynamic`) and compare ONNX
    Runtime's output with PyTorch's."""
    import torch

    from streamer.engines.backends.onnxruntime import OnnxRuntimeRunner
    from streamer.engines.convert import export_onnx

    export_onnx(module, path, size=None if dynamic else size)
    image = _check_image(size)
    with torch.inference_mode():
        expected = module(torch.from_numpy(image)).numpy()
    with OnnxRuntimeRunner(path) as runner:
        got = runner.infer({"image": image})["stylized"]
    worst = int(np.abs(got.astype(int) - expected.astype(int)).max())
    if worst > EXPORT_TOLERANCE:
        raise ModelError(f"the exported {path.name} differs from PyTorch by {worst} grey levels")


def _check_onnx_runs(path: Path, size: int) -> None:
    """Run a stored ONNX graph on the check image; `ModelError` unless it answers in shape."""
    from streamer.engines.backends.onnxruntime import OnnxRuntimeRunner

    try:
        with OnnxRuntimeRunner(path) as runner:
            out = runner.infer({"image": _check_image(size)})["stylized"]
    except InvalidInputError as exc:
        raise ModelError(f"{path.name}: {exc}") from exc
    if out.shape != (1, size, size, 3):
        raise ModelError(f"{path.name} returned shape {out.shape}, expected {(1, size, size, 3)}")


def _store_network(module, role: str, folder: Path, spec) -> dict[str, str]:
    """Write one network's files (ONNX, its int8 version for CPUs, PyTorch weights); role -> file name."""
    name = f"{role}.onnx"
    files = {role: name}
    if hasattr(module, "SerializeToString"):  # an official ONNX graph, already checked and wrapped
        (folder / name).write_bytes(module.SerializeToString())
        _check_onnx_runs(folder / name, spec.layout.size)
    else:
        import torch

        if not all(bool(torch.isfinite(p).all()) for p in module.parameters()):
            raise ModelError(f"the {role} network's weights hold NaN or infinite values (a damaged file)")
        _export_checked(module, folder / name, spec.layout.size, dynamic=spec.has_background)
        torch.save(module.state_dict(), folder / f"{role}.pt")  # for the torch backend
        files[f"{role}_torch"] = f"{role}.pt"
    if spec.int8:
        try:
            quantize_int8(folder / name, folder / f"{role}.int8.onnx", spec.layout.size)
        except (AssertionError, ValueError, RuntimeError) as exc:  # ONNX Runtime's quantizer on odd weights
            raise ModelError(f"the {role} network cannot be quantized to int8 ({exc}): a damaged file?") from exc
        _check_onnx_runs(folder / f"{role}.int8.onnx", spec.layout.size)
        files[f"{role}_int8"] = f"{role}.int8.onnx"
    return files


# A convolution with fewer input or output channels than this reads or writes colours (3 channels).
COLOUR_CHANNELS_BELOW = 8


def quantize_int8(source: Path, target: Path, size: int, float_colour_convs: bool = True) -> None:
    """Static int8 quantization of the convolutions (QDQ), calibrated on sample photos.

    The convolutions that read or write the picture's three colour channels stay in float: int8
    kernels are slow with so few channels, and those layers set the colours (`float_colour_convs`
    off quantizes them too, for comparison in the benchmarks). On a CPU with AVX-512
    VNNI this halves the DCT-Net U-Net's time; see BENCHMARKS.md for its measured speed and
    difference from fp32.
    """
    import tempfile

    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from streamer import samples as data

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.camera()]
    samples = [cv2.resize(np.ascontiguousarray(np.atleast_3d(p)[:, :, ::-1]), (size, size)) for p in photos]
    samples = [s if s.ndim == 3 and s.shape[2] == 3 else cv2.cvtColor(s, cv2.COLOR_GRAY2BGR) for s in samples]

    class Samples(CalibrationDataReader):
        def __init__(self) -> None:
            self._items = iter(samples)

        def get_next(self):
            item = next(self._items, None)
            return None if item is None else {"image": item[None]}

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        graph = onnx.load(str(prepared)).graph
        weights = {w.name: w.dims for w in graph.initializer}  # Conv weights: [out, in, kh, kw]
        colour_convs = [
            n.name
            for n in graph.node
            if float_colour_convs
            and n.op_type == "Conv"
            and n.input[1] in weights
            and min(weights[n.input[1]][:2]) < COLOUR_CHANNELS_BELOW
        ]
        quantize_static(
            str(prepared),
            str(target),
            Samples(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["Conv"],
            nodes_to_exclude=colour_convs,
        )


@dataclass
class ImportResult:
    manifest: store.Manifest
    folder: Path


def import_style(path: Path, style: str, family: str | None = None, custom: bool = False) -> ImportResult:
    """Convert the model file(s) at `path` into the stored style `style` of `family`."""
    from streamer.engines.families import CONVERTERS, FAMILIES

    if not STYLE_NAME.match(style):
        raise InvalidInputError(f"style names are 1-40 lowercase letters, digits, '-' or '_'; got {style!r}")
    if not path.exists():
        raise InvalidInputError(f"model path not found: {path}")
    if family not in FAMILIES:
        raise InvalidInputError(f"unknown family {family!r}; use one of {', '.join(sorted(FAMILIES))}")
    spec = FAMILIES[family]
    converted = CONVERTERS[family](path)
    with store.Staging(style) as staging:
        files: dict[str, str] = {}
        first_role: dict[int, str] = {}  # one network serving both roles is stored once
        for role, module in converted.modules.items():
            if id(module) in first_role:
                same = first_role[id(module)]
                files.update({k.replace(same, role, 1): v for k, v in files.items() if k.split("_")[0] == same})
                continue
            first_role[id(module)] = role
            files.update(_store_network(module, role, staging.dir, spec))
        if converted.mask is not None:
            cv2.imwrite(str(staging.dir / "mask.png"), np.round(converted.mask * 255).astype(np.uint8))
            files["mask"] = "mask.png"
        manifest = store.Manifest(
            style=style,
            family=family,
            files=files,
            sha256={},
            source={p.name: store.sha256(p) for p in converted.sources},
            custom=custom,
            options=converted.options,
        )
        folder = staging.commit(manifest)
    return ImportResult(manifest, folder)


def verify_style(style: str) -> list[str]:
    """Problems with the stored style (empty when it is sound): checksums, then a test inference."""
    from streamer.engines.families import FAMILIES

    manifest = store.read_manifest(style)
    if manifest is None:
        return [f"{style} is not installed"]
    problems = store.file_problems(manifest)
    if problems:
        return problems
    size = FAMILIES[manifest.family].layout.size
    for name in sorted({n for n in manifest.files.values() if n.endswith(".onnx")}):
        try:
            _check_onnx_runs(store.models_dir() / style / name, size)
        except ModelError as exc:
            problems.append(str(exc))
    return problems


def remove_style(style: str) -> None:
    folder = store.models_dir() / style
    if not (folder / store.MANIFEST).exists():
        raise InvalidInputError(f"{style} is not installed")
    shutil.rmtree(folder)
