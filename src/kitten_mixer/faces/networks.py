"""The finder's small networks: one proposes face squares all over a photo, one checks each
proposal and refines its square (with a twin that checks it through ImageNet-trained filters),
one looks at each face found at the model's own size, and one reads what the ImageNet-trained
filters see there."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

# The proposal network looks at 24-pixel windows, 4 pixels apart, on every level of a pyramid.
PROPOSAL_WINDOW = 24
PROPOSAL_STRIDE = 4
# The refining network sees each proposed square, with a little context, at 48 pixels. A wide
# margin showed it ears, which the training faces have cut, and cost real faces their scores.
REFINE_WINDOW = 48
REFINE_CONTEXT = 1.1
# The last check sees the face's crop square itself, at the size the model reads a face: large
# enough for eyes, nose and whiskers, which fur, marbling and letters lack.
VERIFY_WINDOW = 64
VERIFY_CONTEXT = 1.0


def _conv(c_in: int, c_out: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride), nn.ReLU(inplace=True))


class ProposalNet(nn.Module):
    """Fully convolutional: for every 24-pixel window (stride 4) a face logit and the window's
    correction to the face's square (dx, dy as shares of the window, log of the side ratio)."""

    def __init__(self) -> None:
        super().__init__()
        # 24 -> 22 -> 11 -> 9 -> 7 -> 3 -> 1: valid convolutions, so the map lines up exactly.
        self.features = nn.Sequential(
            _conv(3, 16), nn.MaxPool2d(2), _conv(16, 24), _conv(24, 32), nn.MaxPool2d(2),
            _conv(32, 64))
        self.head = nn.Conv2d(64, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1], [N, 3, H, W] -> [N, 4, (H - 24) // 4 + 1, (W - 24) // 4 + 1]."""
        return self.head(self.features(x - 0.5))


class RefineNet(nn.Module):
    """For one proposed square seen with context: a face logit, the square's correction (dx, dy,
    log side ratio) and the head's tilt (sine and cosine of the angle)."""

    def __init__(self) -> None:
        super().__init__()
        # 48 -> 46 -> 23 -> 21 -> 10 -> 8 -> 4 -> 2
        self.features = nn.Sequential(
            _conv(3, 24), nn.MaxPool2d(2), _conv(24, 48), nn.MaxPool2d(2), _conv(48, 96),
            nn.MaxPool2d(2), _conv(96, 128))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(128 * 2 * 2, 192),
                                  nn.ReLU(inplace=True), nn.Linear(192, 6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1], [N, 3, 48, 48] -> [N, 6]."""
        return self.head(self.features(x - 0.5))


class VerifyNet(nn.Module):
    """For one face found, seen as its crop square at 64 pixels: a face logit (and the square's
    correction, learned alongside as a help to the features but not used)."""

    def __init__(self) -> None:
        super().__init__()
        # 64 -> 31 -> 29 -> 14 -> 12 -> 6 -> 4 -> 2: a strided first layer keeps it as cheap to
        # train as the 48-pixel check.
        self.features = nn.Sequential(
            _conv(3, 32, 4, 2), _conv(32, 48), nn.MaxPool2d(2), _conv(48, 64), nn.MaxPool2d(2),
            _conv(64, 96), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(96 * 2 * 2, 128),
                                  nn.ReLU(inplace=True), nn.Linear(128, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1], [N, 3, 64, 64] -> [N, 4]."""
        return self.head(self.features(x - 0.5))


# The fourth check: the first three stages of EfficientNet-Lite1, trained on ImageNet, as
# (expansion, kernel, stride, channels in, channels out) of each block after its stem (a 3x3
# convolution, stride 2, 3 -> 32 channels). Its batch norms are folded into the convolutions.
LITE_STEM = 32
LITE_BLOCKS = ((1, 3, 1, 32, 16), (6, 3, 2, 16, 24), (6, 3, 1, 24, 24), (6, 3, 1, 24, 24),
               (6, 5, 2, 24, 40), (6, 5, 1, 40, 40), (6, 5, 1, 40, 40))
# It reads the mean of the maps after these blocks (at 32, 16 and 8 pixels: edges and colour,
# then texture, then parts), through a hidden layer of this width.
LITE_TAPS = (1, 3, 6)
LITE_HIDDEN = 64
# The checking network's twin reads the maps after these blocks (at 12 and 6 pixels of its
# 48-pixel window), the first pooled to the second's size.
TWIN_TAPS = (3, 6)


def _same(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """`x` padded as TensorFlow's "same" convolutions pad (the odd pixel at the bottom and the
    right), which the ImageNet weights were trained with."""
    pad = []
    for size in (x.shape[-1], x.shape[-2]):
        total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
        pad += [total // 2, total - total // 2]
    return F.pad(x, pad)


class _Inverted(nn.Module):
    """One of EfficientNet-Lite's inverted bottlenecks: widen (1x1), filter each channel alone
    (k x k), narrow (1x1), and add the input where the shape allows."""

    def __init__(self, expansion: int, kernel: int, stride: int, c_in: int, c_out: int) -> None:
        super().__init__()
        wide = c_in * expansion
        self.expand = nn.Conv2d(c_in, wide, 1) if expansion != 1 else None
        self.depthwise = nn.Conv2d(wide, wide, kernel, stride, groups=wide)
        self.project = nn.Conv2d(wide, c_out, 1)
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self.expand(x)) if self.expand is not None else x
        depthwise = self.depthwise
        y = F.relu6(depthwise(_same(y, depthwise.kernel_size[0], depthwise.stride[0])))
        y = self.project(y)
        return x + y if self.skip else y


class _LiteFilters(nn.Module):
    """EfficientNet-Lite1's first three stages: `from_imagenet` gives them their ImageNet
    weights, which then stay as they are; the networks built on them learn only a head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, LITE_STEM, 3, 2)
        self.blocks = nn.Sequential(*(_Inverted(*block) for block in LITE_BLOCKS))

    @classmethod
    def from_imagenet(cls):
        """This network with EfficientNet-Lite1's filters, their ImageNet weights and batch
        norms folded in, rounded as the finder's weights are saved (16-bit floats) and frozen;
        its head is not trained yet. Needs the weights' package (the `train` extra)."""
        from kitten_mixer.imagenet import imagenet_network

        lite, net = imagenet_network("lite1"), cls()
        with torch.no_grad():
            _fold(lite._conv_stem, lite._bn0, net.stem)
            for ours, theirs in zip(net.blocks, lite._blocks):
                if ours.expand is not None:
                    _fold(theirs._expand_conv, theirs._bn0, ours.expand)
                _fold(theirs._depthwise_conv, theirs._bn1, ours.depthwise)
                _fold(theirs._project_conv, theirs._bn2, ours.project)
            for value in net.state_dict().values():
                value.copy_(value.half().float())
        for value in [*net.stem.parameters(), *net.blocks.parameters()]:
            value.requires_grad_(False)
        return net.eval()

    def filters(self) -> dict[str, torch.Tensor]:
        """The ImageNet filters' weights by name: the state dict less the learned head."""
        return {key: value for key, value in self.state_dict().items()
                if not key.startswith("head.")}

    def maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Images in [0, 1], [N, 3, H, W] -> the maps after each block."""
        x = F.relu6(self.stem(_same(x * 2 - 1, 3, 2)))
        out = []
        for block in self.blocks:
            x = block(x)
            out.append(x)
        return out


class LiteCheck(_LiteFilters):
    """For one face found, seen as its crop square at 64 pixels: a face logit from the means of
    what ImageNet-trained filters (EfficientNet-Lite1's first three stages) see in it at three
    depths, read out by a small perceptron. The filters learned from a million photos of every
    kind; the finder's own networks, from cat faces and what was made to refuse."""

    def __init__(self) -> None:
        super().__init__()
        width = sum(LITE_BLOCKS[tap][-1] for tap in LITE_TAPS)
        self.head = nn.Sequential(nn.Linear(width, LITE_HIDDEN), nn.ReLU(),
                                  nn.Linear(LITE_HIDDEN, 1))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1], [N, 3, H, W] -> the mean maps after each tapped block, side by side,
        [N, 88]."""
        maps = self.maps(x)
        return torch.cat([maps[tap].mean(dim=(2, 3)) for tap in LITE_TAPS], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1], [N, 3, 64, 64] -> [N, 1]."""
        return self.head(self.features(x))


class LiteRefine(_LiteFilters):
    """The checking network's twin on ImageNet's filters: for one proposed square seen as
    `RefineNet` sees it (48 pixels, a little context), a face logit, the square's correction and
    the head's tilt, from the maps after blocks 3 (pooled to 6x6) and 6 (6x6) through a small
    convolutional head. The finder averages its face logit with the checking network's: two
    networks that learned from the same windows through different filters, which doubt
    different things."""

    def __init__(self) -> None:
        super().__init__()
        width = sum(LITE_BLOCKS[tap][-1] for tap in TWIN_TAPS)
        self.head = nn.Sequential(nn.Conv2d(width, 96, 3), nn.ReLU(inplace=True), nn.Flatten(),
                                  nn.Linear(96 * 4 * 4, 192), nn.ReLU(inplace=True),
                                  nn.Linear(192, 6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1], [N, 3, 48, 48] -> [N, 6], as `RefineNet`'s."""
        maps = self.maps(x)
        fine, coarse = (maps[tap] for tap in TWIN_TAPS)
        return self.head(torch.cat([F.avg_pool2d(fine, 2), coarse], dim=1))


def _fold(conv: nn.Conv2d, norm: nn.BatchNorm2d, into: nn.Conv2d) -> None:
    """`into` set to the convolution `conv` followed by the batch norm `norm` (in eval mode)."""
    scale = norm.weight / (norm.running_var + norm.eps).sqrt()
    into.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
    into.bias.copy_(norm.bias - norm.running_mean * scale)
