"""A perceptual loss: how far a reconstruction is from its photo in the features of a frozen
ImageNet network, rather than pixel by pixel.

A pixel likelihood rewards the average of every face a code could be, which is a blur; a
distance between deep features rewards a face with the photo's kind of fur and edges (DFC-VAE,
and the perceptual term under VQGAN's and Stable Diffusion's critics). The network is
EfficientNet-Lite1 or Lite2 (never Lite0, the realism yardstick). Its features are taken after
the stem and after several blocks, each divided by its channel norm at every position (LPIPS
without the learned heads), and their squared differences are summed over channels and
averaged over positions and depths.

Photo and reconstruction go through the network alike, enlarged to a side drawn afresh every
step, shifted by the same few pixels and mirrored together: a fixed sampling grid of the
network would otherwise print itself into the faces as faint stripes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from kitten_mixer.imagenet import imagenet_network, stages

NETWORKS = ("lite1", "lite2")
# The depths compared: after the stem, and after these blocks (of 21), from the 32-pixel maps
# of a 128-pixel input down to the 4-pixel ones.
BLOCKS = (1, 4, 7, 13, 20)


@dataclass
class PerceptualConfig:
    """The perceptual term of a training run (ExperimentConfig.perceptual; None: none)."""

    network: str = "lite2"  # "lite1" or "lite2"
    weight: float = 1.0  # per pixel value: the term adds weight * distance * values (3 * 64 *
    #                      64), on the scale of the likelihood's per-image sum over them: 1
    #                      weighs it as a mean L1 beside the distance
    smallest: int = 112  # the side photo and reconstruction are enlarged to, drawn per step
    largest: int = 160  # from smallest to largest
    shift: int = 7  # then moved by the same 0 to shift pixels, edges repeated
    flip: bool = True  # and mirrored together, half of them

    def __post_init__(self) -> None:
        if self.network not in NETWORKS:
            raise ValueError(f"perceptual: network must be one of {NETWORKS} (Lite0 is the "
                             f"realism yardstick and never in a loss), not {self.network!r}")
        if self.weight < 0 or not 32 <= self.smallest <= self.largest or self.shift < 0:
            raise ValueError("perceptual: weight and shift must be at least 0, and "
                             "32 <= smallest <= largest")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PerceptualConfig:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown perceptual settings: {sorted(unknown)}")
        return cls(**data)


def normalised(features: torch.Tensor) -> torch.Tensor:
    """Each position's feature vector divided by its length."""
    return features / (features.square().sum(1, keepdim=True) + 1e-10).sqrt()


def same_view(x: torch.Tensor, y: torch.Tensor, config: PerceptualConfig
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Photos `x` and reconstructions `y` (in [0, 1]) enlarged, shifted and mirrored alike,
    scaled to [-1, 1]; drawn from torch's generator, so that a resumed run draws the same."""
    side = int(torch.randint(config.smallest, config.largest + 1, ()).item())
    dy, dx = torch.randint(0, config.shift + 1, (2,)).tolist()
    flip = torch.rand(len(x)) < 0.5 if config.flip else None
    views = []
    for images in (x, y):
        images = F.interpolate(images.float(), size=(side, side), mode="bilinear",
                               align_corners=False)
        if config.shift:
            s = config.shift
            images = F.pad(images, (s, s, s, s), mode="replicate")[
                ..., dy:dy + side, dx:dx + side]
        if flip is not None and flip.any():
            images = torch.where(flip.to(images.device)[:, None, None, None],
                                 images.flip(3), images)
        views.append(images * 2 - 1)
    return views[0], views[1]


class PerceptualLoss(nn.Module):
    """The perceptual term of each reconstruction against its photo: [N]."""

    def __init__(self, config: PerceptualConfig):
        super().__init__()
        self.config = config
        self.network = imagenet_network(config.network)  # frozen, in eval mode
        # This epoch's sum of distances and their count, on the device: no sync a step.
        self.tally = torch.zeros(2, dtype=torch.float64)

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.network.eval()  # its batch norms keep their ImageNet statistics
        return self

    def distance(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """The mean over depths of the normalised features' squared distance (summed over
        channels, averaged over positions), per image: [N]."""
        photo, drawn = same_view(x, x_hat, self.config)
        with torch.no_grad():
            targets = stages(self.network, photo, BLOCKS)
        outputs = stages(self.network, drawn, BLOCKS)
        parts = [(normalised(o.float()) - normalised(t.float())).square().sum(1).mean((1, 2))
                 for o, t in zip(outputs, targets)]
        return torch.stack(parts).mean(0)

    def forward(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """The term to add to the loss of each image: weight * distance * values, [N]."""
        distance = self.distance(x, x_hat)
        self.tally = self.tally.to(distance.device) + torch.stack(
            [distance.detach().double().sum(), distance.new_tensor(len(distance)).double()])
        return self.config.weight * distance * x[0].numel()

    def summary(self) -> dict[str, float]:
        """This epoch's mean distance, for the history; then a new tally."""
        total, count = self.tally.tolist()
        self.tally = torch.zeros(2, dtype=torch.float64)
        return {"perceptual": round(total / count, 5) if count else float("nan")}
