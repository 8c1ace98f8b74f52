"""Model families: how each kind of network is built, fed and converted from its official files.

- `dctnet`: DCT-Net's U-Net generator + guided filter, for heads (288x288 template crop) and for
  the background (the frame padded to a multiple of 16). Official files: `cartoon_h.pb`,
  `cartoon_bg.pb` and `alpha.jpg` (the head blend mask); TFLite files of the same U-Net (e.g.
  White-box Cartoonization's) also import, used for both heads and background.
- `photo2cartoon`: a 256x256 head network whose input is the head on a white background; it has
  no background network, so the background uses the built-in style.

Converting needs torch; running the result (ONNX) does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from streamer.engines.base import DCTNET_LAYOUT, HeadLayout
from streamer.errors import ModelError

# DCT-Net's own graphs expect BGR and use eps 1e-2 in their guided filter; White-box's TFLite
# export was trained on RGB and uses 5e-3. Stored per style in its manifest.
DCTNET_OPTIONS = {"rgb": False, "guided_eps": 1e-2}
TFLITE_UNET_OPTIONS = {"rgb": True, "guided_eps": 5e-3}


@dataclass(frozen=True)
class Family:
    name: str
    layout: HeadLayout
    input_description: str
    has_background: bool
    background_multiple: int

    segment_heads: bool = False
    int8: bool = False  # also store an int8 version for CPUs


DCTNET = Family(
    "dctnet",
    DCTNET_LAYOUT,
    "288x288 head crop / frame padded to x16; BGR 0-255, scaled to [-1,1] inside",
    True,
    16,
    int8=True,
)
# photo2cartoon crops the 68-point landmark box grown by 0.8h above, 0.3h below and 0.3w at the sides,
# squared, level eyes, at 256x256. These are the 5 points' places in that crop, measured with MediaPipe
# landmarks on two frontal portraits (so they approximate the original's dlib-based crop).
PHOTO2CARTOON_LAYOUT = HeadLayout(
    256,
    np.array([[98.8, 117.3], [157.8, 117.3], [128.3, 157.2], [101.2, 172.2], [156.7, 172.2]], np.float32),
)
PHOTO2CARTOON = Family(
    "photo2cartoon",
    PHOTO2CARTOON_LAYOUT,
    "256x256 head on white (person segmented); RGB, scaled to [-1,1]; no background network",
    False,
    16,
    segment_heads=True,
)
FAMILIES = {f.name: f for f in (DCTNET, PHOTO2CARTOON)}


def unet_module(options: dict):
    from streamer.engines.models.unet import CartoonUNet

    return CartoonUNet(rgb=bool(options["rgb"]), guided_eps=float(options["guided_eps"]))


@dataclass
class Converted:
    """A family's modules ready to export, by role, plus options and an optional head mask."""

    modules: dict
    options: dict
    mask: np.ndarray | None
    sources: list[Path]


def _unet_from(path: Path, options: dict):
    """The U-Net module of `path`; `options["guided_eps"]` is updated from the file when it says."""
    from streamer.engines import convert

    if path.suffix.lower() == ".tflite":
        weights, eps = convert.unet_weights_from_tflite(path)
    else:
        weights, eps = convert.unet_weights_from_graphdef(path)
    if eps is not None:
        options["guided_eps"] = eps
    module = unet_module(options)
    convert.load_strict(module, weights, path.name)
    return module


def convert_dctnet(path: Path) -> Converted:
    """A DCT-Net model folder (cartoon_h.pb [+ cartoon_bg.pb, alpha.jpg]), one .pb, or one .tflite."""
    if path.is_dir():
        # Older downloads of the anime style name them cartoon_anime_h.pb / cartoon_anime_bg.pb.
        head = next((p for p in (path / "cartoon_h.pb", path / "cartoon_anime_h.pb") if p.exists()), None)
        if head is None:
            raise ModelError(f"{path} has no cartoon_h.pb (DCT-Net's head model)")
        background = head.with_name(head.name.replace("_h.pb", "_bg.pb"))
        alpha = path / "alpha.jpg"
        sources = [p for p in (head, background, alpha) if p.exists()]
        options = dict(DCTNET_OPTIONS)
        modules = {"head": _unet_from(head, options)}
        modules["background"] = _unet_from(background, options) if background.exists() else modules["head"]
        mask = read_mask(alpha, DCTNET.layout.size) if alpha.exists() else None
        return Converted(modules, options, mask, sources)
    suffix = path.suffix.lower()
    if suffix not in (".pb", ".tflite"):
        raise ModelError(f"{path.name}: a DCT-Net-family model is a .pb, a .tflite, or a folder holding cartoon_h.pb")
    options = dict(TFLITE_UNET_OPTIONS if suffix == ".tflite" else DCTNET_OPTIONS)
    module = _unet_from(path, options)
    return Converted({"head": module, "background": module}, options, None, [path])


def convert_photo2cartoon(path: Path) -> Converted:
    """photo2cartoon's checkpoint (.pt, `genA2B`) or its official ONNX export (.onnx)."""
    from streamer.engines import convert

    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return Converted({"head": convert.wrap_photo2cartoon_onnx(path)}, {}, None, [path])
    if suffix not in (".pt", ".pth"):
        raise ModelError(f"{path.name}: a photo2cartoon model is photo2cartoon_weights.pt or its .onnx export")
    from streamer.engines.models.photo2cartoon import Photo2Cartoon

    module = Photo2Cartoon()
    convert.load_strict(module.generator, convert.photo2cartoon_weights(path), path.name)
    return Converted({"head": module}, {}, None, [path])


CONVERTERS = {"dctnet": convert_dctnet, "photo2cartoon": convert_photo2cartoon}


def read_mask(path: Path, size: int) -> np.ndarray:
    """A grey image as a float32 size x size mask in [0, 1]."""
    image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ModelError(f"{path.name} is not a readable image (expected the head blend mask)")
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def torch_module(manifest, role: str):
    """The family's PyTorch module with the weights stored for `role` (saved at import, loaded
    with weights_only=True). Styles imported from an ONNX file have none."""
    import torch

    from streamer.engines import convert

    path = manifest.path(f"{role}_torch")
    if path is None:
        raise ModelError(
            f"style {manifest.style!r} was imported from an ONNX file; the torch backend needs the PyTorch weights "
            "(import the .pt checkpoint), or use --backend onnxruntime"
        )
    if manifest.family == "dctnet":
        module = unet_module(manifest.options)
    else:
        from streamer.engines.models.photo2cartoon import Photo2Cartoon

        module = Photo2Cartoon()
    state = torch.load(path, map_location="cpu", weights_only=True)
    convert.load_strict(module, {k: v.numpy() for k, v in state.items()}, path.name)
    return module
