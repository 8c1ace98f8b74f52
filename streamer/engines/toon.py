"""The built-in styles, written as ONNX graphs so every backend can run them.

`toon` (the default) is a clean cartoon, after the real-time video abstraction recipe (Winnemöller
et al., 2006) and XDoG line art (Winnemöller et al., 2012):
1. edge-preserving smoothing: self-guided filters, which flatten texture but keep edges;
2. flat tones without blotches: the luminance goes through a smooth staircase (flat steps joined
   by gentle ramps, continuous, never steeper than `quant_gain / (2 tanh(quant_gain / 2))` times
   the input), so a slow shade such as skin keeps no hard band; hue and chroma are kept;
3. line art: a difference of Gaussians on the once-smoothed luminance, thresholded softly (tanh);
   the threshold rises with the local fine texture (hair, beard, denim, stripes: `texture_source`),
   and a stroke gate keeps only ink that continues along some direction (oriented line filters at
   half size), so isolated specks are dropped while outlines stay whole;
4. a mild saturation boost for the cartoon palette.

The head network runs on aligned 288x288 crops; the background network on a downscaled frame, so
it smooths once, at half size, and draws finer lines.

`poster` is the first built-in look: harder tone bands and a luminance-relative line threshold
(posterized, painterly). Its graph is unchanged.

Both graphs take and return `image`/`stylized`: uint8 [N, H, W, 3] BGR, any N, H, W. Nothing is
learned and no weights are downloaded; each graph is built in memory in a few milliseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

OPSET = 17
INPUT_NAME = "image"
OUTPUT_NAME = "stylized"

# ITU-R BT.601 luma weights in B, G, R order (the channel order of the graph's input).
_LUMA_BGR = (0.114, 0.587, 0.299)


@dataclass(frozen=True)
class ToonParams:
    """Knobs of the `toon` look, in pixels of the image the graph runs on."""

    smooth_radius: int = 4
    smooth_eps: float = 0.004
    smooth_passes: int = 2
    smooth_subsample: int = 1  # first pass (it feeds the lines); >1: fast guided filter at 1/subsample
    flatten_subsample: int = 1  # the later passes (they only flatten colour)
    levels: int = 5  # tone steps over the luminance range
    quant_gain: float = 2.0  # steepness of the ramps between steps (0 would be no quantization)
    edge_sigma: float = 1.6  # the DoG's inner Gaussian; the outer one is 1.6 times wider
    edge_eps: float = 0.004  # DoG depth (luminance in [0, 1]) where ink starts
    edge_phi: float = 60.0  # tanh gain of the soft threshold; lower is softer
    texture_beta: float = 0.3  # how much fine texture raises the threshold
    texture_radius: int = 3
    # The texture measure: "removed", what the first smoothing took out (hair, beard, denim); or
    # "detail", what lies below the DoG's scale (also high-contrast fine patterns such as stripes,
    # which a subsampled smoothing keeps).
    texture_source: Literal["removed", "detail"] = "removed"
    stroke_radius: int = 2  # half-length of the stroke gate's line filters, at half size
    stroke_lo: float = 0.3  # oriented ink mean where a stroke starts to count
    stroke_hi: float = 0.6  # ... and where it counts fully
    ink: float = 1.0  # darkness of a full line (1: black)
    saturation: float = 1.2


HEAD_PARAMS = ToonParams()
BACKGROUND_PARAMS = ToonParams(
    smooth_passes=1,
    smooth_subsample=2,
    edge_sigma=1.0,
    edge_phi=80.0,
    texture_source="detail",
)


@dataclass(frozen=True)
class PosterParams:
    """Knobs of the `poster` look (the first built-in style), in pixels of the image."""

    smooth_radius: int = 4
    smooth_eps: float = 0.004
    smooth_passes: int = 2
    smooth_subsample: int = 1  # >1: fast guided filter, coefficients at 1/subsample size
    levels: int = 7
    quant_sharpness: float = 3.0  # tanh gain at a band's edge; higher is harder banding
    edge_sigma: float = 1.0
    edge_tau: float = 0.98
    edge_sharpness: float = 120.0
    saturation: float = 1.25


POSTER_HEAD_PARAMS = PosterParams()
POSTER_BACKGROUND_PARAMS = PosterParams(smooth_radius=4, smooth_subsample=2, edge_sigma=0.8)


def _gaussian(sigma: float, radius: int) -> np.ndarray:
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


def _dog_kernels(sigma: float) -> tuple[int, np.ndarray]:
    """(radius, 2 x K): Gaussians of sigma and 1.6 sigma, padded to one length K = 2 radius + 1."""
    s1, s2 = sigma, 1.6 * sigma
    radius = math.ceil(3 * s2)
    k1 = np.zeros(2 * radius + 1, np.float32)
    k1[radius - math.ceil(3 * s1) : radius + math.ceil(3 * s1) + 1] = _gaussian(s1, math.ceil(3 * s1))
    return radius, np.stack([k1, _gaussian(s2, radius)])


def stroke_kernels(radius: int, directions: int = 4) -> np.ndarray:
    """float32 [directions, 1, 2r+1, 2r+1]: anti-aliased line segments through the centre at angles
    k * pi / directions, each summing to 1 (the mean of what lies along that line)."""
    size = 2 * radius + 1
    kernels = np.zeros((directions, 1, size, size), np.float32)
    steps = np.linspace(-radius, radius, 8 * size)
    for d in range(directions):
        angle = math.pi * d / directions
        xs, ys = radius + steps * math.cos(angle), radius + steps * math.sin(angle)
        x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
        fx, fy = xs - x0, ys - y0
        for dx, dy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
            inside = (x0 + dx < size) & (y0 + dy < size)
            np.add.at(kernels[d, 0], (y0[inside] + dy, x0[inside] + dx), w[inside])
        kernels[d] /= kernels[d].sum()
    return kernels


class _GraphBuilder:
    """Tiny helper that names nodes and constants so a graph reads like its recipe."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self._helper = helper
        self._numpy_helper = numpy_helper
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0

    def _name(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}_{self._count}"

    def const(self, value: np.ndarray | float | list, dtype: type = np.float32) -> str:
        name = self._name("c")
        self.initializers.append(self._numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, **attrs: Any) -> str:
        out = self._name(op_type.lower())
        self.nodes.append(self._helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def box_mean(self, x: str, radius: int) -> str:
        """Mean over a (2r+1)^2 window, averaging only pixels inside the image.

        One 2-D pool: for the small radii used here ONNX Runtime runs it faster than two 1-D pools.
        """
        k = 2 * radius + 1
        return self.op("AveragePool", x, kernel_shape=[k, k], pads=[radius] * 4, count_include_pad=0)

    def guided_smooth(self, x: str, radius: int, eps: float, subsample: int = 1) -> str:
        """Self-guided filter (He et al.): flat where variance is low, untouched across edges.

        With `subsample` > 1 it is the fast guided filter (He & Sun, 2015): the coefficients are
        computed on a smaller copy and upsampled, then applied to the full-size image.
        """
        guide = x
        if subsample > 1:
            guide = self.op("AveragePool", x, kernel_shape=[subsample] * 2, strides=[subsample] * 2, ceil_mode=1)
            radius = max(1, round(radius / subsample))
        mean = self.box_mean(guide, radius)
        mean_sq = self.box_mean(self.op("Mul", guide, guide), radius)
        var = self.op("Sub", mean_sq, self.op("Mul", mean, mean))
        a = self.op("Div", var, self.op("Add", var, self.const(eps)))
        b = self.op("Sub", mean, self.op("Mul", a, mean))
        mean_a, mean_b = self.box_mean(a, radius), self.box_mean(b, radius)
        if subsample > 1:
            size = self.op("Shape", x)
            mean_a = self.op("Resize", mean_a, "", "", size, mode="linear")
            mean_b = self.op("Resize", mean_b, "", "", size, mode="linear")
        return self.op("Add", self.op("Mul", mean_a, x), mean_b)

    def luma(self, x: str) -> str:
        """N,3,H,W BGR -> N,1,H,W luminance (a weighted channel sum: cheaper than a 1x1 Conv)."""
        weights = self.const(np.array(_LUMA_BGR, np.float32).reshape(1, 3, 1, 1))
        return self.op("ReduceSum", self.op("Mul", x, weights), self.const([1], np.int64), keepdims=1)

    def channel(self, x: str, index: int) -> str:
        one = self.const([1], np.int64)
        return self.op("Slice", x, self.const([index], np.int64), self.const([index + 1], np.int64), one)

    def gaussian_pair(self, luma: str, sigma: float) -> tuple[str, str]:
        """Gaussian blurs of sigma and 1.6 sigma of a N,1,H,W map, as one pair of separable
        convolutions over an edge-padded copy (so the image border draws no line)."""
        radius, kernels = _dog_kernels(sigma)
        padded = self.op("Pad", luma, self.const([0, 0, radius, radius, 0, 0, radius, radius], np.int64), mode="edge")
        rows = self.op("Conv", padded, self.const(kernels.reshape(2, 1, 1, -1)))
        blurred = self.op("Conv", rows, self.const(kernels.reshape(2, 1, -1, 1)), group=2)
        return self.channel(blurred, 0), self.channel(blurred, 1)

    def ramp(self, x: str, lo: float, hi: float) -> str:
        """0 below `lo`, 1 above `hi`, linear between."""
        scaled = self.op("Mul", self.op("Sub", x, self.const(lo)), self.const(1.0 / (hi - lo)))
        return self.op("Clip", scaled, self.const(0.0), self.const(1.0))

    def prepare(self) -> tuple[str, str]:
        """The uint8 NHWC input as float in [0, 1]: (N,H,W,3, N,3,H,W)."""
        from onnx import TensorProto

        x = self.op("Cast", INPUT_NAME, to=TensorProto.FLOAT)
        x = self.op("Mul", x, self.const(1.0 / 255.0))
        return x, self.op("Transpose", x, perm=[0, 3, 1, 2])

    def luma_of_nhwc(self, x: str) -> str:
        """N,H,W,3 BGR -> N,1,H,W luminance (a matrix product: cheaper than `luma` on N,3,H,W)."""
        weights = self.const(np.array(_LUMA_BGR, np.float32).reshape(3, 1))
        return self.op("Transpose", self.op("MatMul", x, weights), perm=[0, 3, 1, 2])

    def model(self, color: str, name: str):
        """Close the graph: float N,3,H,W in [0, 1] -> uint8 NHWC output; a checked ModelProto."""
        import onnx
        from onnx import TensorProto, helper

        color = self.op("Add", self.op("Mul", color, self.const(255.0)), self.const(0.5))
        color = self.op("Clip", color, self.const(0.0), self.const(255.0))
        color = self.op("Transpose", color, perm=[0, 2, 3, 1])
        self.nodes.append(helper.make_node("Cast", [color], [OUTPUT_NAME], to=TensorProto.UINT8))
        dims: list[str | int] = ["N", "H", "W", 3]
        graph = helper.make_graph(
            self.nodes,
            name,
            [helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, dims)],
            [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.UINT8, dims)],
            self.initializers,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="streamer")
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


def _staircase(g: _GraphBuilder, luma: str, levels: int, gain: float) -> str:
    """Smooth staircase: u = levels * L, n = floor(u), t = u - n - 1/2;
    out = (n + 1/2 + tanh(gain t) / (2 tanh(gain / 2))) / levels. Flat near each step, continuous
    (t = +-1/2 meet the neighbouring steps exactly), slope at most gain / (2 tanh(gain / 2))."""
    u = g.op("Mul", luma, g.const(float(levels)))
    n = g.op("Floor", u)
    t = g.op("Sub", g.op("Sub", u, n), g.const(0.5))
    riser = g.op("Mul", g.op("Tanh", g.op("Mul", t, g.const(gain))), g.const(0.5 / math.tanh(gain / 2)))
    return g.op("Mul", g.op("Add", g.op("Add", n, riser), g.const(0.5)), g.const(1.0 / levels))


def _stroke_gate(g: _GraphBuilder, ink: str, params: ToonParams) -> str:
    """How much of each pixel's ink belongs to a stroke: the best oriented mean of the ink around
    it (four line filters on a half-size copy), ramped between `stroke_lo` and `stroke_hi`."""
    half = g.op("AveragePool", ink, kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)
    radius = params.stroke_radius
    oriented = g.op("Conv", half, g.const(stroke_kernels(radius)), pads=[radius] * 4)
    best = g.op("ReduceMax", oriented, axes=[1], keepdims=1)
    gate = g.ramp(best, params.stroke_lo, params.stroke_hi)
    return g.op("Resize", gate, "", "", g.op("Shape", ink), mode="linear")


def build_toon_model(params: ToonParams = HEAD_PARAMS):
    """The `toon` look as an `onnx.ModelProto` (see the module docstring for its contract)."""
    g = _GraphBuilder()
    pixels, x = g.prepare()

    smooth = g.guided_smooth(x, params.smooth_radius, params.smooth_eps, params.smooth_subsample)
    line_luma = g.luma(smooth)  # lines come from the once-smoothed picture: crisper than the flat one
    for _ in range(params.smooth_passes - 1):
        smooth = g.guided_smooth(smooth, params.smooth_radius, params.smooth_eps, params.flatten_subsample)
    luma = g.luma(smooth) if params.smooth_passes > 1 else line_luma
    chroma = g.op("Sub", smooth, luma)
    toned = _staircase(g, luma, params.levels, params.quant_gain)

    # Lines: ink where the DoG dips below -threshold; the threshold grows with the fine texture
    # around, so hair and fabric do not fill with specks.
    fine, coarse = g.gaussian_pair(line_luma, params.edge_sigma)
    dog = g.op("Sub", fine, coarse)
    threshold = g.const(params.edge_eps)
    if params.texture_beta:
        finer = fine if params.texture_source == "detail" else g.luma_of_nhwc(pixels)
        texture = g.box_mean(g.op("Abs", g.op("Sub", finer, line_luma)), params.texture_radius)
        threshold = g.op("Add", g.op("Mul", texture, g.const(params.texture_beta)), threshold)
    depth = g.op("Sub", g.op("Neg", dog), threshold)
    ink = g.op("Relu", g.op("Tanh", g.op("Mul", depth, g.const(params.edge_phi))))
    if params.stroke_radius:
        ink = g.op("Mul", ink, _stroke_gate(g, ink, params))

    color = g.op("Add", toned, g.op("Mul", chroma, g.const(params.saturation)))
    color = g.op("Mul", color, g.op("Sub", g.const(1.0), g.op("Mul", ink, g.const(params.ink))))
    return g.model(color, "toon")


def build_poster_model(params: PosterParams = POSTER_HEAD_PARAMS):
    """The `poster` look as an `onnx.ModelProto` (see the module docstring for its contract)."""
    g = _GraphBuilder()
    _, x = g.prepare()

    smooth = x
    for _ in range(params.smooth_passes):
        smooth = g.guided_smooth(smooth, params.smooth_radius, params.smooth_eps, params.smooth_subsample)

    luma_w = g.const(np.array(_LUMA_BGR, np.float32).reshape(1, 3, 1, 1))
    luma = g.op("Conv", smooth, luma_w)  # N,1,H,W
    chroma = g.op("Sub", smooth, luma)

    # Soft quantization: q + (step/2) * tanh(gain * (L - q) / (step/2)).
    levels = float(params.levels)
    nearest = g.op("Div", g.op("Floor", g.op("Add", g.op("Mul", luma, g.const(levels)), g.const(0.5))), g.const(levels))
    half_step = 0.5 / levels
    ramp = g.op("Tanh", g.op("Mul", g.op("Sub", luma, nearest), g.const(params.quant_sharpness / half_step)))
    toned = g.op("Add", nearest, g.op("Mul", ramp, g.const(half_step)))

    # Lines: difference of two Gaussians (sigma, 1.6 sigma), thresholded relative to luminance.
    fine, coarse = g.gaussian_pair(luma, params.edge_sigma)
    dog = g.op("Sub", fine, g.op("Mul", coarse, g.const(params.edge_tau)))
    lines = g.op(
        "Clip",
        g.op("Add", g.op("Tanh", g.op("Mul", dog, g.const(params.edge_sharpness))), g.const(1.0)),
        g.const(0.0),
        g.const(1.0),
    )

    color = g.op("Add", toned, g.op("Mul", chroma, g.const(params.saturation)))
    color = g.op("Mul", color, lines)
    return g.model(color, "poster")


BUILTIN_STYLES = ("toon", "poster")


def builtin_models(style: str) -> dict[str, Any]:
    """{"head": ModelProto, "background": ModelProto} of a built-in style (a name in BUILTIN_STYLES)."""
    if style == "poster":
        head, background = build_poster_model(POSTER_HEAD_PARAMS), build_poster_model(POSTER_BACKGROUND_PARAMS)
        return {"head": head, "background": background}
    if style == "toon":
        return {"head": build_toon_model(HEAD_PARAMS), "background": build_toon_model(BACKGROUND_PARAMS)}
    raise KeyError(f"no built-in style {style!r}; built in: {', '.join(BUILTIN_STYLES)}")
