"""The finder's small networks: one proposes face squares all over a photo, one checks each
proposal and refines its square, and one looks at each face found at the model's own size."""

from __future__ import annotations

import torch
from torch import nn

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
