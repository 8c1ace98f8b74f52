"""Styles a user can pick with `--style`, and how to open one on a backend.

The catalog lists every known style, installed or not, with the files it needs and where to get
them; styles imported with `streamer models import` (custom ones included) come from the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from streamer.engines import store
from streamer.engines.base import DCTNET_LAYOUT, StyleEngine, feathered_head_mask
from streamer.errors import DeviceUnavailableError, InvalidInputError, ModelError

BACKENDS = ("auto", "tensorrt", "torch", "onnxruntime")
DEVICES = ("auto", "cpu", "cuda")
DEFAULT_STYLE = "toon"

_MODELSCOPE = "https://modelscope.cn/models/damo/"
_DCTNET_FILES = ("cartoon_h.pb", "cartoon_bg.pb", "alpha.jpg")


@dataclass(frozen=True)
class StyleSpec:
    name: str
    family: str
    description: str
    files: tuple[str, ...] = ()
    source: str = ""
    licence: str = ""


def _dctnet(name: str, model_id: str, description: str) -> StyleSpec:
    source = f"{_MODELSCOPE}{model_id} (the model folder)"
    return StyleSpec(name, "dctnet", description, _DCTNET_FILES, source, "see the model card")


CATALOG: dict[str, StyleSpec] = {
    spec.name: spec
    for spec in (
        StyleSpec("toon", "builtin", "flat tones and clean line art; no weights needed"),
        _dctnet("anime", "cv_unet_person-image-cartoon_compound-models", "DCT-Net anime"),
        _dctnet("3d", "cv_unet_person-image-cartoon-3d_compound-models", "DCT-Net 3D"),
        _dctnet("handdrawn", "cv_unet_person-image-cartoon-handdrawn_compound-models", "DCT-Net hand-drawn"),
        _dctnet("sketch", "cv_unet_person-image-cartoon-sketch_compound-models", "DCT-Net sketch"),
        _dctnet("artstyle", "cv_unet_person-image-cartoon-artstyle_compound-models", "DCT-Net art style"),
        _dctnet("design", "cv_unet_person-image-cartoon-sd-design_compound-models", "DCT-Net design (SD variant)"),
        _dctnet(
            "illustration",
            "cv_unet_person-image-cartoon-sd-illustration_compound-models",
            "DCT-Net illustration (SD variant)",
        ),
        StyleSpec(
            "photo2cartoon",
            "photo2cartoon",
            "photo2cartoon (Minivision): heads only; the background gets the built-in style",
            ("photo2cartoon_weights.pt", "or photo2cartoon_weights.onnx"),
            "https://github.com/minivision-ai/photo2cartoon (README: pretrained model links)",
            "MIT (code); see the repository for the weights",
        ),
        StyleSpec(
            "whitebox",
            "dctnet",
            "White-box Cartoonization (same U-Net as DCT-Net), from its TFLite export",
            ("whitebox_cartoon_gan_fp16.tflite",),
            "https://github.com/margaretmz/Cartoonizer-with-TFLite (android/app/src/main/ml/)",
            "CC BY-NC-SA 4.0 (non-commercial)",
        ),
    )
}


def style_names() -> list[str]:
    return sorted(set(CATALOG) | {m.style for m in store.installed_styles()})


def _missing_files_error(style: str) -> ModelError:
    spec = CATALOG[style]
    return ModelError(
        f"style {style!r} is not installed: get {', '.join(spec.files)} from {spec.source}, "
        f"then run: streamer models import PATH --style {style}"
    )


def _toon_runner(params, threads: int):
    from streamer.engines.backends.onnxruntime import OnnxRuntimeRunner
    from streamer.engines.toon import build_toon_model

    return OnnxRuntimeRunner(build_toon_model(params).SerializeToString(), threads=threads)


def _toon_engine(backend: str, threads: int) -> StyleEngine:
    from streamer.engines.toon import BACKGROUND_PARAMS, HEAD_PARAMS

    if backend not in ("auto", "onnxruntime"):
        raise InvalidInputError(f"the built-in style runs on onnxruntime; --backend {backend} is not available for it")
    return StyleEngine(
        "toon", _toon_runner(HEAD_PARAMS, threads), _toon_runner(BACKGROUND_PARAMS, threads), DCTNET_LAYOUT
    )


def tensorrt_engine_path(style: str, role: str, precision: str) -> Path:
    """Where `python -m trt_build` puts the engine of a style's head or background network."""
    return store.models_dir() / style / "tensorrt" / f"{role}.{precision}.engine"


def _usable_tensorrt_engine(style: str, role: str, onnx_sha256: str, precision: str) -> tuple[Path | None, str]:
    """The engine to use for `role`, or None and the reason it cannot be used."""
    from streamer.engines.backends import tensorrt as trt_backend

    try:
        version, gpu, capability = trt_backend.current_environment()
    except DeviceUnavailableError as exc:
        return None, str(exc)
    path = tensorrt_engine_path(style, role, precision)
    stored = trt_backend.read_key(path) if path.exists() else None
    if stored is None:
        return None, f"no {precision} engine built for {style} {role}"
    wanted = trt_backend.engine_key(onnx_sha256, version, gpu, capability, precision, {})
    reason = trt_backend.key_mismatch(stored, wanted)
    return (None, f"the {style} {role} engine is stale ({reason})") if reason else (path, "")


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def resolve_backend(backend: str, device: str) -> tuple[str, str]:
    """`auto` -> the best backend present, and the device: torch on a CUDA GPU, else ONNX Runtime."""
    if device == "auto":
        device = "cuda" if _cuda_available() else "cpu"
    if device == "cuda" and not _cuda_available() and backend != "onnxruntime":
        raise DeviceUnavailableError("--device cuda was asked for, but no CUDA GPU is usable (torch sees none)")
    if backend == "auto":
        backend = "torch" if device == "cuda" else "onnxruntime"
    return backend, device


PRECISIONS = ("auto", "fp32", "fp16", "int8")


def _runner(
    manifest: store.Manifest,
    role: str,
    backend: str,
    device: str,
    threads: int,
    notes: list[str],
    precision: str = "auto",
):
    path = manifest.path(role)
    if backend == "tensorrt":
        precision = "fp16"
        engine, reason = _usable_tensorrt_engine(manifest.style, role, manifest.sha256[role], precision)
        if engine is not None:
            from streamer.engines.backends.tensorrt import TensorRTRunner

            return TensorRTRunner(engine)
        backend = "torch" if _cuda_available() else "onnxruntime"
        device = "cuda" if _cuda_available() else "cpu"
        notes.append(
            f"TensorRT not used for {role}: {reason}; using {backend} ({device}). "
            f"Build it with: streamer-trt-build {manifest.style}"
        )
    if backend == "torch":
        from streamer.engines.backends.torch import TorchRunner
        from streamer.engines.families import torch_module

        if precision in ("auto", "int8"):
            precision = "fp16" if device == "cuda" else "fp32"
        return TorchRunner(
            torch_module(manifest, role),
            device=device,
            precision=precision,
            cuda_graphs=device == "cuda",
            threads=threads,
        )
    from streamer.engines.backends.onnxruntime import OnnxRuntimeRunner

    int8 = manifest.path(f"{role}_int8")
    if device == "cpu" and precision in ("auto", "int8") and int8 is not None:
        path = int8  # about twice as fast on CPUs; see BENCHMARKS.md for its accuracy
    elif precision == "int8":
        notes.append(f"no int8 {role} network for {manifest.style}; using fp32")
    return OnnxRuntimeRunner(path, threads=threads, device=device, precision="int8" if path == int8 else "fp32")


def open_engine(
    style: str = DEFAULT_STYLE,
    backend: str = "auto",
    threads: int = 1,
    device: str = "auto",
    precision: str = "auto",
    background_style: str = "same",
) -> StyleEngine:
    """Build the engine for `style` on `backend` and `device` (`auto`: the best present).

    `precision` auto is fp16 on a GPU, int8 (where stored) on a CPU. `background_style` is `same`,
    `toon` (the cheap built-in style: for CPUs) or `none` (the background stays as it is).

    Never builds a TensorRT engine: a missing or stale one falls back to torch or ONNX Runtime and
    says so in `engine.notes`. Errors name what is missing and how to get it.
    """
    if backend not in BACKENDS:
        raise InvalidInputError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
    if device not in DEVICES:
        raise InvalidInputError(f"unknown device {device!r}; available: {', '.join(DEVICES)}")
    if precision not in PRECISIONS:
        raise InvalidInputError(f"unknown precision {precision!r}; available: {', '.join(PRECISIONS)}")
    if background_style not in BACKGROUND_STYLES:
        raise InvalidInputError(f"--background-style must be one of {', '.join(BACKGROUND_STYLES)}")
    engine = _open_style(style, backend, threads, device, precision)
    if background_style == "toon" and style != "toon":
        from streamer.engines.toon import BACKGROUND_PARAMS

        engine.replace_background(_toon_runner(BACKGROUND_PARAMS, threads), multiple=1)
    elif background_style == "none":
        engine.replace_background(None)
    return engine


BACKGROUND_STYLES = ("same", "toon", "none")


def _open_style(style: str, backend: str, threads: int, device: str, precision: str) -> StyleEngine:
    if style == "toon":
        return _toon_engine(backend, threads)
    manifest = store.read_manifest(style)
    if manifest is None:
        if style in CATALOG:
            raise _missing_files_error(style)
        raise InvalidInputError(f"unknown style {style!r}; available: {', '.join(style_names())}")
    from streamer.engines.families import FAMILIES, read_mask

    family = FAMILIES[manifest.family]
    notes: list[str] = []
    if backend == "auto" and _usable_tensorrt_engine(style, "head", manifest.sha256["head"], "fp16")[0] is not None:
        chosen, device = "tensorrt", "cuda"
    else:
        chosen, device = resolve_backend(backend, device)
    head = _runner(manifest, "head", chosen, device, threads, notes, precision)
    background = (
        _runner(manifest, "background", chosen, device, threads, notes, precision)
        if manifest.path("background")
        else None
    )
    mask_path = manifest.path("mask")
    layout = family.layout
    mask = read_mask(mask_path, layout.size) if mask_path else feathered_head_mask(layout)
    if background is None:  # a head-only family: the background gets the built-in style
        from streamer.engines.toon import BACKGROUND_PARAMS

        background = _toon_runner(BACKGROUND_PARAMS, threads)
    engine = StyleEngine(style, head, background, layout, mask, family.background_multiple, family.segment_heads)
    engine.notes = notes
    return engine
