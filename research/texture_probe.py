"""Print whether a texture statistic made without a learned network could teach the decoder fur
(docs/archive/experiments.md, section 4.7): beside each kind of image's KID, the per-image distance
from its photo that such a loss would make the decoder minimise.

A pixel loss wants the exact fur, which the code does not pin down, so it gets the average: a
blur. A texture loss compares statistics that do not depend on where each hair lies, so any
plausible fur would satisfy it. Two such statistics, each per image against its own photo:

- patch SW: the sliced Wasserstein distance between the two images' sets of 5x5 patches of
  their finer detail (the image less its 1-pixel Gaussian blur), over 64 random directions
  (Heitz et al. 2021 use it on network features; here on pixels);
- spectrum: the mean absolute difference of the two images' log amplitude spectra (what a
  frequency loss such as the focal frequency loss compares).

A loss is only worth training if it ranks images as KID does: if it calls sharpened or noised
reconstructions closer to the photos while KID calls them less real, it would push the decoder
towards sharpening and noise. Everything is on the validation split, which nothing is chosen
on in the sharp-cats work, against the shipped model unless told otherwise:

    python research/texture_probe.py
    python research/texture_probe.py --model runs/my-run

KID uses the features of `kitten-mixer evaluate` (EfficientNet-Lite0 at 128 px: pip install
-e ".[eval]"); every image is rounded to 8 bits as a PNG would be.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from kitten_mixer.data import training_splits
from kitten_mixer.evaluation import metrics
from kitten_mixer.evaluation.features import efficientnet_features
from kitten_mixer.mixer import KittenMixer

DEFAULT_MODEL = "src/kitten_mixer/weights/default"


def patch_sliced_wasserstein(photos: torch.Tensor, images: torch.Tensor, sigma: float = 1.0,
                             size: int = 5, directions: int = 64, seed: int = 0) -> torch.Tensor:
    """Per image: the sliced Wasserstein distance (squared, mean over directions) between the
    size x size patches of the photo's detail finer than a `sigma`-pixel blur and the image's."""
    def patches(x: torch.Tensor) -> torch.Tensor:
        detail = x - metrics.gaussian_blur(x, sigma)
        return F.unfold(detail, size, padding=size // 2)  # [N, C*size*size, H*W]

    a, b = patches(photos), patches(images)
    axes = torch.randn(a.shape[1], directions, generator=torch.Generator().manual_seed(seed))
    axes = axes / axes.norm(dim=0)
    project = lambda p: torch.einsum("ncl,ck->nkl", p, axes).sort(dim=-1).values  # noqa: E731
    return (project(a) - project(b)).square().mean(dim=(1, 2))


def spectrum_distance(photos: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """Per image: the mean absolute difference of the log amplitude spectra (per channel)."""
    def log_amplitude(x: torch.Tensor) -> torch.Tensor:
        return torch.log(torch.fft.rfft2(x, norm="ortho").abs() + 1e-3)

    return (log_amplitude(photos) - log_amplitude(images)).abs().mean(dim=(1, 2, 3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data/cats.zip",
                        help="the photos the model was trained on (default: %(default)s)")
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help="saved-model or run folder (default: the shipped model)")
    args = parser.parse_args()

    mixer = KittenMixer.load(args.model)
    splits = training_splits(mixer.config, args.data, (64, 64))
    photos = splits["val"].images.float() / 255
    train = splits["train"].images
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
    others = train[pick[:len(photos)]].float() / 255
    noise = torch.randn(photos.shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reconstructions = mixer.decode_tensor(mixer.posterior(photos)[0]).float()
    unsharp = reconstructions + reconstructions - metrics.gaussian_blur(reconstructions, 1.0)
    features = efficientnet_features()
    real = features(photos)

    print(f"{len(photos)} validation photos; KID to them (EfficientNet-Lite0, 128 px); "
          f"patch SW x 1e4 and spectrum: the mean over images of each image's distance from "
          f"its own photo, lower is closer\n")
    print("| images | KID | sharpness | PSNR | patch SW | spectrum |\n|---|---|---|---|---|---|")
    rows = [
        ("other photos (train split), each against a validation photo", others),
        ("photos blurred, sigma 0.5 px", metrics.gaussian_blur(photos, 0.5)),
        ("photos blurred, sigma 1.0 px", metrics.gaussian_blur(photos, 1.0)),
        ("photos plus noise, sd 3% of the range", photos + 0.03 * noise),
        ("reconstructions", reconstructions),
        ("reconstructions, unsharp mask sigma 1.0 x1", unsharp),
        ("reconstructions plus noise, sd 3%", reconstructions + 0.03 * noise),
    ]
    for name, images in rows:
        images = (images.clamp(0, 1) * 255).round() / 255
        kid = metrics.kernel_inception_distance(real, features(images))[0]
        sw = patch_sliced_wasserstein(photos, images).mean().item() * 1e4
        spectrum = spectrum_distance(photos, images).mean().item()
        print(f"| {name} | {kid:.3f} | {metrics.sharpness_ratio(photos, images):.3f} | "
              f"{metrics.psnr(photos, images):.2f} | {sw:.2f} | {spectrum:.3f} |", flush=True)


if __name__ == "__main__":
    main()
