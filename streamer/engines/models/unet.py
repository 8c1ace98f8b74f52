"""The DCT-Net / White-box cartoonization generator: `unet_generator(channel=32, num_blocks=4)`.

Faithful to the TensorFlow original, so official weights reproduce official outputs:
- "SAME" padding as TensorFlow computes it: a stride-2 3x3 convolution on an even size pads one
  pixel at the bottom/right only (inputs here are always a multiple of 4: crops are 224/256/288 and
  backgrounds are padded to a multiple of 16);
- TensorFlow 1 `resize_bilinear` x2 (align_corners=False, half_pixel_centers=False): output pixel
  2i is input pixel i, 2i+1 the mean of i and i+1, the last edge repeated;
- LeakyReLU with slope 0.2;
- then a guided filter (r=1) guided by the input photo.

Parameter names follow the TF variable scopes (`Conv`, `Conv_1` ... `Conv_9`, `block_0..3/conv1|2`)
with `/` written as `.`; 1,467,075 parameters in all.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

PARAMETER_COUNT = 1_467_075


def tf1_upsample2x(x: torch.Tensor) -> torch.Tensor:
    """TensorFlow 1 bilinear x2 (no half-pixel centres) on N,C,H,W, with only slicing and means."""
    right = torch.cat([x[..., 1:], x[..., -1:]], dim=-1)
    x = torch.stack([x, (x + right) * 0.5], dim=-1).flatten(-2)
    below = torch.cat([x[..., 1:, :], x[..., -1:, :]], dim=-2)
    return torch.stack([x, (x + below) * 0.5], dim=-2).flatten(-3, -2)


class SameConv(nn.Conv2d):
    """A convolution with TensorFlow "SAME" padding (stride 2 pads bottom/right on even sizes)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1) -> None:
        super().__init__(cin, cout, kernel, stride=stride, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size[0], self.stride[0]
        if s == 1:
            p = (k - 1) // 2
            x = F.pad(x, (p, p, p, p))
        else:  # stride 2 on an even size: total padding k - 2, the extra pixel at the end
            total = k - s
            x = F.pad(x, (total // 2, total - total // 2, total // 2, total - total // 2))
        return F.conv2d(x, self.weight, self.bias, self.stride)


class ResBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = SameConv(channels, channels, 3)
        self.conv2 = SameConv(channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.leaky_relu(self.conv1(x), 0.2))


class UNetGenerator(nn.Module):
    """The generator proper: RGB-or-BGR image in [-1, 1] (N,3,H,W) -> same, before the guided filter."""

    def __init__(self, channel: int = 32, num_blocks: int = 4) -> None:
        super().__init__()
        c = channel
        self.Conv = SameConv(3, c, 7)
        self.Conv_1 = SameConv(c, c, 3, stride=2)
        self.Conv_2 = SameConv(c, 2 * c, 3)
        self.Conv_3 = SameConv(2 * c, 2 * c, 3, stride=2)
        self.Conv_4 = SameConv(2 * c, 4 * c, 3)
        self.blocks = nn.ModuleList(ResBlock(4 * c) for _ in range(num_blocks))
        self.Conv_5 = SameConv(4 * c, 2 * c, 3)
        self.Conv_6 = SameConv(2 * c, 2 * c, 3)
        self.Conv_7 = SameConv(2 * c, c, 3)
        self.Conv_8 = SameConv(c, c, 3)
        self.Conv_9 = SameConv(c, 3, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
        x0 = act(self.Conv(x))
        x1 = act(self.Conv_2(act(self.Conv_1(x0))))
        x2 = act(self.Conv_4(act(self.Conv_3(x1))))
        for block in self.blocks:
            x2 = block(x2)
        x2 = act(self.Conv_5(x2))
        x3 = act(self.Conv_7(act(self.Conv_6(tf1_upsample2x(x2) + x1))))
        x4 = act(self.Conv_8(tf1_upsample2x(x3) + x0))
        return self.Conv_9(x4)


def box_mean(x: torch.Tensor, r: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window, counting only pixels inside the image."""
    return F.avg_pool2d(x, 2 * r + 1, stride=1, padding=r, count_include_pad=False)


def guided_filter(guide: torch.Tensor, src: torch.Tensor, r: int, eps: float) -> torch.Tensor:
    """He et al.'s guided filter, per channel, guide and source both N,3,H,W."""
    mean_g, mean_s = box_mean(guide, r), box_mean(src, r)
    cov = box_mean(guide * src, r) - mean_g * mean_s
    var = box_mean(guide * guide, r) - mean_g * mean_g
    a = cov / (var + eps)
    b = mean_s - a * mean_g
    return box_mean(a, r) * guide + box_mean(b, r)


class CartoonUNet(nn.Module):
    """Generator + guided filter between uint8 BGR images, the engine contract of every style.

    uint8 [N, H, W, 3] BGR -> uint8 [N, H, W, 3] BGR. `rgb` says whether the network was trained on
    RGB (White-box) or BGR (DCT-Net); inputs are scaled to [-1, 1] either way; outputs are clipped
    to [-1, 1] and scaled back. H and W must be multiples of 4.
    """

    def __init__(self, rgb: bool, guided_eps: float, guided_radius: int = 1) -> None:
        super().__init__()
        self.generator = UNetGenerator()
        self.rgb = rgb
        self.guided_eps = guided_eps
        self.guided_radius = guided_radius

    def forward_normalized(self, x: torch.Tensor) -> torch.Tensor:
        """N,3,H,W in [-1, 1] (network channel order) -> filtered output, unclipped.

        The guided filter always runs in float32: its variances are differences of small means,
        which fp16 would cancel (a no-op for an fp32 network).
        """
        return guided_filter(x.float(), self.generator(x).float(), self.guided_radius, self.guided_eps)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        # Cast first and last: TensorRT takes uint8 network inputs and outputs only through a Cast.
        x = image.to(self.generator.Conv.weight.dtype).permute(0, 3, 1, 2) / 127.5 - 1.0
        if self.rgb:
            x = x.flip(1)
        y = self.forward_normalized(x)
        if self.rgb:
            y = y.flip(1)
        y = ((y.clamp(-1.0, 1.0) + 1.0) * 127.5).round()
        return y.permute(0, 2, 3, 1).contiguous().to(torch.uint8)


def tf_name_to_parameter(name: str) -> str | None:
    """`generator/block_2/conv1/weights` -> `generator.blocks.2.conv1.weight` (None: not a weight)."""
    parts = name.split("/")
    if parts[0] == "generator":
        parts = parts[1:]
    if len(parts) < 2 or parts[-1] not in ("weights", "biases"):
        return None
    kind = "weight" if parts[-1] == "weights" else "bias"
    if parts[0].startswith("block_"):
        return f"generator.blocks.{parts[0][6:]}.{parts[1]}.{kind}"
    return f"generator.{parts[0]}.{kind}"
