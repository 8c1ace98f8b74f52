"""photo2cartoon's generator: `ResnetGenerator(ngf=32, img_size=256, light=True)` (U-GAT-IT style).

Written from the architecture of minivision-ai/photo2cartoon so that its checkpoint's `genA2B` loads
one to one (406 tensors, 3,831,079 parameters):
- two hourglass modules, two stride-2 convolutions and four residual blocks encode the face;
- class-activation attention (global average and max pooling through `gap_fc`/`gmp_fc`) and an MLP
  (`FC`) give the style vector;
- four residual blocks with Soft-AdaLIN (a learned blend of content and style statistics, then a
  mix of instance and layer normalization) decode; two nearest-neighbour x2 upsamplings with LIN
  and two more hourglasses return to 256x256, and a 7x7 convolution with tanh gives the image.
Notes kept for fidelity: LIN/adaLIN use the unbiased variance, nn.InstanceNorm2d the biased one;
the 1x1 `ConvBlock4` of every ConvBlock exists (the checkpoint has it) but never runs; `rho` and the
`w_*` blends are not clamped at inference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

PARAMETER_COUNT = 3_831_079


def _norm_act(channels: int) -> list[nn.Module]:
    return [nn.InstanceNorm2d(channels), nn.ReLU()]


class ConvBlock(nn.Module):
    """Pre-activation block whose three convolutions' outputs (C/2, C/4, C/4) are concatenated."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        half, quarter = dim // 2, dim // 4
        self.ConvBlock1 = nn.Sequential(*_norm_act(dim), nn.ReflectionPad2d(1), nn.Conv2d(dim, half, 3, bias=False))
        self.ConvBlock2 = nn.Sequential(
            *_norm_act(half), nn.ReflectionPad2d(1), nn.Conv2d(half, quarter, 3, bias=False)
        )
        self.ConvBlock3 = nn.Sequential(
            *_norm_act(quarter), nn.ReflectionPad2d(1), nn.Conv2d(quarter, quarter, 3, bias=False)
        )
        # Only used when input and output widths differ, which never happens here; kept for loading.
        self.ConvBlock4 = nn.Sequential(*_norm_act(dim), nn.Conv2d(dim, dim, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.ConvBlock1(x)
        x2 = self.ConvBlock2(x1)
        x3 = self.ConvBlock3(x2)
        return x + torch.cat([x1, x2, x3], dim=1)


class HourGlassBlock(nn.Module):
    """Four levels down (average pooling) and up (nearest x2) with a ConvBlock skip at each level."""

    NAMES = (
        "ConvBlock1_1",
        "ConvBlock1_2",
        "ConvBlock2_1",
        "ConvBlock2_2",
        "ConvBlock3_1",
        "ConvBlock3_2",
        "ConvBlock4_1",
        "ConvBlock4_2",
        "ConvBlock5",
        "ConvBlock6",
        "ConvBlock7",
        "ConvBlock8",
        "ConvBlock9",
    )
    ConvBlock5: ConvBlock  # set with the others in __init__

    def __init__(self, dim: int) -> None:
        super().__init__()
        for name in self.NAMES:
            setattr(self, name, ConvBlock(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for level in range(1, 5):
            skips.append(getattr(self, f"ConvBlock{level}_1")(x))
            x = getattr(self, f"ConvBlock{level}_2")(F.avg_pool2d(x, 2))
        x = self.ConvBlock5(x)
        for level, up in zip((4, 3, 2, 1), ("ConvBlock6", "ConvBlock7", "ConvBlock8", "ConvBlock9"), strict=True):
            x = F.interpolate(getattr(self, up)(x), scale_factor=2, mode="nearest") + skips[level - 1]
        return x


class HourGlass(nn.Module):
    def __init__(self, dim: int, use_res: bool = True) -> None:
        super().__init__()
        self.use_res = use_res
        self.HG = nn.Sequential(
            HourGlassBlock(dim), ConvBlock(dim), nn.Conv2d(dim, dim, 1, bias=False), *_norm_act(dim)
        )
        self.Conv1 = nn.Conv2d(dim, 3, 1)
        if use_res:
            self.Conv2 = nn.Conv2d(dim, dim, 1)
            self.Conv3 = nn.Conv2d(3, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.HG(x)
        rgb = self.Conv1(features)
        return x + self.Conv2(features) + self.Conv3(rgb) if self.use_res else rgb


class ResnetBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=False),
            *_norm_act(dim),
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=False),
            nn.InstanceNorm2d(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


def _instance_layer_mix(x: torch.Tensor, rho: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """rho * instance-normalized x + (1 - rho) * layer-normalized x, both with unbiased variance."""
    inst = (x - x.mean(dim=(2, 3), keepdim=True)) / torch.sqrt(x.var(dim=(2, 3), keepdim=True) + eps)
    layer = (x - x.mean(dim=(1, 2, 3), keepdim=True)) / torch.sqrt(x.var(dim=(1, 2, 3), keepdim=True) + eps)
    return rho * inst + (1 - rho) * layer


class AdaLIN(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.rho = nn.Parameter(torch.full((1, dim, 1, 1), 0.9))

    def forward(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        return _instance_layer_mix(x, self.rho) * gamma[:, :, None, None] + beta[:, :, None, None]


def _mlp(dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))


class SoftAdaLIN(nn.Module):
    """AdaLIN whose gamma/beta blend content-derived and style-derived values by learned weights."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = AdaLIN(dim)
        self.w_gamma = nn.Parameter(torch.zeros(1, dim))
        self.w_beta = nn.Parameter(torch.zeros(1, dim))
        self.c_gamma, self.c_beta = _mlp(dim), _mlp(dim)
        self.s_gamma, self.s_beta = nn.Linear(dim, dim), nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        gamma = (1 - self.w_gamma) * self.s_gamma(style) + self.w_gamma * self.c_gamma(content)
        beta = (1 - self.w_beta) * self.s_beta(style) + self.w_beta * self.c_beta(content)
        return self.norm(x, gamma, beta)


class ResnetSoftAdaLINBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.pad1, self.conv1, self.norm1 = nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=False), SoftAdaLIN(dim)
        self.pad2, self.conv2, self.norm2 = nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=False), SoftAdaLIN(dim)

    def forward(self, x: torch.Tensor, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.norm1(self.conv1(self.pad1(x)), content, style))
        out = self.norm2(self.conv2(self.pad2(out)), content, style)
        return out + x


class LIN(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.rho = nn.Parameter(torch.zeros(1, dim, 1, 1))
        self.gamma = nn.Parameter(torch.ones(1, dim, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, dim, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Plain broadcasting (no expand): keeps channel counts known to the ONNX exporter.
        return _instance_layer_mix(x, self.rho) * self.gamma + self.beta


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="nearest"),
        nn.ReflectionPad2d(1),
        nn.Conv2d(cin, cout, 3, bias=False),
        LIN(cout),
        nn.ReLU(),
    )


class ResnetGenerator(nn.Module):
    """RGB in [-1, 1], N x 3 x 256 x 256 (any multiple of 16) -> the cartoon in [-1, 1]."""

    def __init__(self, ngf: int = 32) -> None:
        super().__init__()
        wide = ngf * 4
        self.ConvBlock1 = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7, bias=False), *_norm_act(ngf))
        self.HourGlass1 = HourGlass(ngf)
        self.HourGlass2 = HourGlass(ngf)
        self.DownBlock1 = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(ngf, 2 * ngf, 3, 2, bias=False), *_norm_act(2 * ngf)
        )
        self.DownBlock2 = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(2 * ngf, wide, 3, 2, bias=False), *_norm_act(wide)
        )
        for i in range(1, 5):
            setattr(self, f"EncodeBlock{i}", ResnetBlock(wide))
        self.gap_fc = nn.Linear(wide, 1)
        self.gmp_fc = nn.Linear(wide, 1)
        self.conv1x1 = nn.Conv2d(2 * wide, wide, 1)
        self.relu = nn.ReLU()
        self.FC = nn.Sequential(nn.Linear(wide, wide), nn.ReLU(), nn.Linear(wide, wide), nn.ReLU())
        for i in range(1, 5):
            setattr(self, f"DecodeBlock{i}", ResnetSoftAdaLINBlock(wide))
        self.UpBlock1 = _up(wide, 2 * ngf)
        self.UpBlock2 = _up(2 * ngf, ngf)
        self.HourGlass3 = HourGlass(ngf)
        self.HourGlass4 = HourGlass(ngf, use_res=False)
        self.ConvBlock2 = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(3, 3, 7, bias=False), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.HourGlass2(self.HourGlass1(self.ConvBlock1(x)))
        x = self.DownBlock2(self.DownBlock1(x))
        content = []
        for i in range(1, 5):
            x = getattr(self, f"EncodeBlock{i}")(x)
            content.append(x.mean(dim=(2, 3)))
        # Class-activation attention: channels re-weighted by the two classifiers' weights.
        gap = x * self.gap_fc.weight[:, :, None, None]
        gmp = x * self.gmp_fc.weight[:, :, None, None]
        x = self.relu(self.conv1x1(torch.cat([gap, gmp], dim=1)))
        style = self.FC(x.mean(dim=(2, 3)))
        for i, features in zip(range(1, 5), reversed(content), strict=True):
            x = getattr(self, f"DecodeBlock{i}")(x, features, style)
        x = self.HourGlass4(self.HourGlass3(self.UpBlock2(self.UpBlock1(x))))
        return self.ConvBlock2(x)


class Photo2Cartoon(nn.Module):
    """uint8 [N, 256, 256, 3] BGR head on white -> uint8 cartoon, the engine contract."""

    def __init__(self) -> None:
        super().__init__()
        self.generator = ResnetGenerator()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        # Cast first and last: TensorRT takes uint8 network inputs and outputs only through a Cast.
        x = image.to(next(self.generator.parameters()).dtype).permute(0, 3, 1, 2).flip(1) / 127.5 - 1.0
        y = self.generator(x).flip(1)
        y = ((y.clamp(-1.0, 1.0) + 1.0) * 127.5).round()
        return y.permute(0, 2, 3, 1).contiguous().to(torch.uint8)
