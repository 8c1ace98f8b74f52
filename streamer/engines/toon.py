"""The built-in `toon` style, written as an ONNX graph so every backend can run it.

It follows the real-time video abstraction recipe (Winnemöller et al., 2006):
1. edge-preserving smoothing: self-guided filters, which flatten texture but keep edges;
2. soft luminance quantization: flat tone bands whose borders are smooth ramps, so a slowly
   changing shade does not flicker between two bands from frame to frame;
3. line art: a difference of Gaussians on the smoothed luminance, thresholded softly;
4. a small saturation boost for the cartoon palette.

The graph takes and returns `image`/`stylized`: uint8 [N, H, W, 3] BGR, any N, H, W. Nothing is
learned and no weights are downloaded; the graph is built in memory in a few milliseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

OPSET = 17
INPUT_NAME = "image"
OUTPUT_NAME = "stylized"

# ITU-R BT.601 luma weights in B, G, R order (the channel order of the graph's input).
_LUMA_BGR = (0.114, 0.587, 0.299)


@dataclass(frozen=True)
class ToonParams:
    """Knobs of the look, in pixels of the image the graph runs on."""

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


HEAD_PARAMS = ToonParams()
BACKGROUND_PARAMS = ToonParams(smooth_radius=4, smooth_subsample=2, edge_sigma=0.8)


def _gaussian(sigma: float, radius: int) -> np.ndarray:
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


class _GraphBuilder:
    """Tiny helper that names nodes and constants so the graph reads like the recipe above."""

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


def build_toon_model(params: ToonParams = HEAD_PARAMS):
    """The `toon` look as an `onnx.ModelProto` (see the module docstring for its contract)."""
    import onnx
    from onnx import TensorProto, helper

    g = _GraphBuilder()
    x = g.op("Cast", INPUT_NAME, to=TensorProto.FLOAT)
    x = g.op("Mul", x, g.const(1.0 / 255.0))
    x = g.op("Transpose", x, perm=[0, 3, 1, 2])  # N,3,H,W

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

    # Lines: difference of two Gaussians (sigma, 1.6 sigma), both as separable convolutions over
    # an edge-padded luminance so the image border draws no line.
    s1, s2 = params.edge_sigma, 1.6 * params.edge_sigma
    radius = math.ceil(3 * s2)
    k1 = np.zeros(2 * radius + 1, np.float32)
    k1[radius - math.ceil(3 * s1) : radius + math.ceil(3 * s1) + 1] = _gaussian(s1, math.ceil(3 * s1))
    kernels = np.stack([k1, _gaussian(s2, radius)])  # 2 x K
    padded = g.op("Pad", luma, g.const([0, 0, radius, radius, 0, 0, radius, radius], np.int64), mode="edge")
    rows = g.op("Conv", padded, g.const(kernels.reshape(2, 1, 1, -1)))
    blurred = g.op("Conv", rows, g.const(kernels.reshape(2, 1, -1, 1)), group=2)
    fine = g.op("Slice", blurred, g.const([0], np.int64), g.const([1], np.int64), g.const([1], np.int64))
    coarse = g.op("Slice", blurred, g.const([1], np.int64), g.const([2], np.int64), g.const([1], np.int64))
    dog = g.op("Sub", fine, g.op("Mul", coarse, g.const(params.edge_tau)))
    lines = g.op(
        "Clip",
        g.op("Add", g.op("Tanh", g.op("Mul", dog, g.const(params.edge_sharpness))), g.const(1.0)),
        g.const(0.0),
        g.const(1.0),
    )

    color = g.op("Add", toned, g.op("Mul", chroma, g.const(params.saturation)))
    color = g.op("Mul", color, lines)
    color = g.op("Add", g.op("Mul", color, g.const(255.0)), g.const(0.5))
    color = g.op("Clip", color, g.const(0.0), g.const(255.0))
    color = g.op("Transpose", color, perm=[0, 2, 3, 1])
    g.nodes.append(helper.make_node("Cast", [color], [OUTPUT_NAME], to=TensorProto.UINT8))

    dims: list[str | int] = ["N", "H", "W", 3]
    graph = helper.make_graph(
        g.nodes,
        "toon",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, dims)],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.UINT8, dims)],
        g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="streamer")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
