"""The engine contract every style meets, whatever network or backend is behind it.

An engine stylizes two kinds of work, separately so they can run side by side (two threads on a
CPU, two CUDA streams on a GPU):
- heads: a batch of aligned square crops, uint8 [N, S, S, 3] BGR, laid out by `layout`;
- background: one whole (usually downscaled) frame, uint8 [H, W, 3] BGR.
Both return arrays of the same shape and dtype. Pre- and post-processing (normalization, colour
order) live inside each style's graph, so every style has this same interface.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from streamer.engines.runner import Runner


@dataclass(frozen=True)
class HeadLayout:
    """A family's head crop: its side in pixels and where the 5 alignment points go.

    `template` is 5x2 (x, y) in crop pixels: eye centres (image left, then right), nose tip, mouth
    corners (image left, then right).
    """

    size: int
    template: np.ndarray

    def scaled(self, size: int) -> HeadLayout:
        return HeadLayout(size, self.template * (size / self.size))


# DCT-Net's 288x288 head template, used by DCT-Net styles and the built-in style.
DCTNET_LAYOUT = HeadLayout(
    288,
    np.array(
        [[111.78, 137.63], [179.74, 137.25], [145.98, 176.28], [118.06, 216.06], [174.34, 215.75]],
        np.float32,
    ),
)


def feathered_head_mask(layout: HeadLayout) -> np.ndarray:
    """A float32 SxS mask in [0, 1]: 1 over the face, fading to exactly 0 before the crop border.

    An ellipse placed from the template (eyes and mouth), so it follows any layout, with a wide
    linear fade (then blurred) that hides the seam between stylized head and stylized background.
    """
    size = layout.size
    eyes = layout.template[:2].mean(axis=0)
    mouth = layout.template[3:].mean(axis=0)
    eye_mouth = float(np.linalg.norm(mouth - eyes))
    centre = eyes + np.array([0.0, 0.1 * eye_mouth])
    axes = np.array([1.45 * eye_mouth, 1.49 * eye_mouth])
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    radius = np.sqrt(((xx - centre[0]) / axes[0]) ** 2 + ((yy - centre[1]) / axes[1]) ** 2)
    feather = 0.35
    mask = np.clip((1.0 + feather / 2 - radius) / feather, 0.0, 1.0)
    mask = cv2.GaussianBlur(mask, (0, 0), size / 96)
    # Whatever the template, the mask reaches 0 before the edge of the warped crop.
    border = np.minimum.reduce([xx, yy, size - 1 - xx, size - 1 - yy]) / (0.04 * size)
    return (mask * np.clip(border, 0.0, 1.0)).astype(np.float32)


@dataclass(frozen=True)
class EngineCapabilities:
    """What an engine can do, declared for the pipeline to read.

    `device` and `precision` are the head network's; `takes_tensors`: both networks take uint8
    NHWC tensors on that one device (`Runner.infer_tensor`), so the frame stylizer can keep a frame
    on the device from upload to download; `cuda_graphs`: each new input shape is captured once (so
    warm-up should cover every head batch size); `segments_heads`: the family wants each head crop
    on white, cut out by a person segmentation mask that the pipeline provides; `any_head_size`:
    the head network is fully convolutional and takes crops of any side that is a multiple of 16
    (smaller keyframes, mouth patches).
    """

    device: str
    precision: str
    takes_tensors: bool
    cuda_graphs: bool
    segments_heads: bool
    any_head_size: bool = False


class StyleEngine:
    """A style on a backend: a head runner and a background runner with the shared contract above.

    `background_multiple` pads the background to a multiple of that many pixels (edge replicated)
    for networks with strided layers, and crops the result back. `segments_heads` declares that the
    head network wants crops on white (see `EngineCapabilities`); the engine holds no segmenter.
    A `fallback_background` runner (`set_fallback_background`) is a cheaper background network
    kept beside the style's own, for a live stream whose budget the style's own does not fit.
    """

    def __init__(
        self,
        style: str,
        head_runner: Runner,
        background_runner: Runner | None,
        layout: HeadLayout,
        head_mask: np.ndarray | None = None,
        background_multiple: int = 1,
        segments_heads: bool = False,
    ) -> None:
        self.style = style
        self.segments_heads = segments_heads
        self.notes: list[str] = []  # what the user should know (e.g. a backend fallback)
        self.layout = layout
        self.head_mask = feathered_head_mask(layout) if head_mask is None else head_mask
        self._heads = head_runner
        self._head_in = head_runner.inputs[0].name
        self._head_out = head_runner.outputs[0].name
        self._background: Runner | None = None
        self._fallback: Runner | None = None
        self.replace_background(background_runner, background_multiple)
        # Whose network stylizes the background (a head-only family's is the built-in style's).
        self.background_of: str | None = style if background_runner is not None else None

    @property
    def head_runner(self) -> Runner:
        return self._heads

    @property
    def background_runner(self) -> Runner | None:
        """None when the background is left as it is."""
        return self._background

    @property
    def capabilities(self) -> EngineCapabilities:
        heads, background = self._heads, self._background
        tensors = heads.takes_tensors and (
            background is None or (background.takes_tensors and background.device == heads.device)
        )
        return EngineCapabilities(
            device=heads.device,
            precision=heads.precision,
            takes_tensors=tensors,
            cuda_graphs=heads.cuda_graphs,
            segments_heads=self.segments_heads,
            any_head_size=heads.inputs[0].shape[1:3] == (None, None),
        )

    @property
    def backend(self) -> str:
        """The head runner's backend, device and precision, e.g. "onnxruntime (cpu, int8)"."""
        device = self._heads.device.split(":")[0]
        return f"{self._heads.backend} ({device}, {self._heads.precision})"

    def stylize_heads(self, crops: np.ndarray) -> np.ndarray:
        """uint8 [N, S, S, 3] aligned BGR crops -> stylized crops of the same shape.

        A network exported with a fixed batch of 1 is run once per head.
        """
        if crops.shape[0] == 0:
            return crops.copy()
        if self._heads.inputs[0].shape[0] == 1 and crops.shape[0] > 1:
            return np.concatenate([self.stylize_heads(crops[i : i + 1]) for i in range(crops.shape[0])])
        return self._heads.infer({self._head_in: np.ascontiguousarray(crops)})[self._head_out]

    def replace_background(self, runner: Runner | None, multiple: int = 1) -> None:
        """Stylize backgrounds with `runner` instead (None: leave the background as it is)."""
        old = self._background
        if old is not None and old is not runner and old is not self._heads:
            old.close()
        self._background = runner
        self.background_multiple = multiple

    @property
    def stylizes_background(self) -> bool:
        return self._background is not None

    @property
    def fallback_background(self) -> Runner | None:
        """The cheaper background network kept beside the style's own (None: there is none)."""
        return self._fallback

    def set_fallback_background(self, runner: Runner | None) -> None:
        """Keep `runner` (padding multiple 1) beside the style's own background network."""
        if self._fallback is not None and self._fallback is not runner:
            self._fallback.close()
        self._fallback = runner

    def background_network(self, fallback: bool = False) -> tuple[Runner | None, int]:
        """The background network and the multiple its input is padded to: the fallback network
        (multiple 1) when asked for and there is one, else the style's own (None: left as captured)."""
        if fallback and self._fallback is not None:
            return self._fallback, 1
        return self._background, self.background_multiple

    def stylize_background(self, image: np.ndarray, fallback: bool = False) -> np.ndarray:
        """uint8 [H, W, 3] BGR -> stylized image of the same shape (the image itself without a runner);
        `fallback`: with the fallback background network (the style's own where there is none)."""
        runner, m = self.background_network(fallback)
        if runner is None:
            return image
        h, w = image.shape[:2]
        pad_h, pad_w = (-h) % m, (-w) % m
        if pad_h or pad_w:
            image = cv2.copyMakeBorder(image, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
        out = runner.infer({runner.inputs[0].name: np.ascontiguousarray(image)[None]})[runner.outputs[0].name][0]
        return out[:h, :w]

    def close(self) -> None:
        self._heads.close()
        if self._background is not None and self._background is not self._heads:
            self._background.close()
        if self._fallback is not None:
            self._fallback.close()

    def __enter__(self) -> StyleEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
