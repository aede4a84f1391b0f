"""Print how well a patch discriminator, trained alone, learns to tell photos from a model's
reconstructions, on the whole image and on its finest band alone (docs/archive/experiments.md, 4.7).

In the adversarial stage the decoder only learns what the discriminator can see. 4.6 found the
faces' distance from photos (by KID) in the band finer than a 1.5-pixel blur, and a decoder
left to the discriminator in that band drew speckle. This asks whether the stage's critic can
see that band at all: the decoder is frozen, its reconstructions of the train split are the
fakes, and the stage's discriminator (`Adversary.discriminator_step`: hinge loss,
DiffAugment, R1 every 4 updates as in the shipped recipe) trains on photos against them. Two tasks:

- whole: photo against reconstruction;
- band: photo against the photo's coarse image (its 1.5-pixel blur) plus the
  reconstruction's finer detail, so that only that band tells them apart;
- noise: photo against the photo plus Gaussian noise of sd 3% of the range (KID 0.133 on
  the validation split, `research/texture_probe.py`): whether the critic sees speckle.

Every fake is rounded to 8 bits, as the photos are.

After each number of steps it prints the AUC on the validation split (held out: photos and
reconstructions the critic never saw): the chance that a photo scores above a fake, 0.5 for a
critic that cannot tell, 1.0 for one that always can.

    python research/critic_probe.py                       # the recipe's critic, 4,000 steps
    python research/critic_probe.py --channels 128 --layers 4 --steps 8000
"""

from __future__ import annotations

import argparse
import time

import torch

from kitten_mixer.data import training_splits
from kitten_mixer.device import autocast_context, autocast_dtype
from kitten_mixer.evaluation import metrics
from kitten_mixer.mixer import KittenMixer
from kitten_mixer.model import VAE
from kitten_mixer.training.adversarial import AdversarialConfig, Adversary, PatchDiscriminator

BAND = 1.5  # sigma (pixels) of the blur that splits coarse image from finer detail
CHECKS = (250, 500, 1000, 2000, 4000, 8000, 16000)
# bf16 where the CPU computes it natively (AVX-512 BF16 or AMX), as training does: a CPU that
# emulates it trains the critic several times slower than in float32.
CPU = torch.device("cpu")
AMP = autocast_dtype("auto", CPU)


def finest_band(photos: torch.Tensor, reconstructions: torch.Tensor) -> torch.Tensor:
    """The photos' coarse image with the reconstructions' finer detail."""
    return metrics.gaussian_blur(photos, BAND) + reconstructions \
        - metrics.gaussian_blur(reconstructions, BAND)


def auc(real: torch.Tensor, fake: torch.Tensor) -> float:
    """The chance that a photo's score is above a fake's (ties count half)."""
    diff = real[:, None] - fake[None, :]
    return ((diff > 0).float().mean() + 0.5 * (diff == 0).float().mean()).item()


def scores(critic: PatchDiscriminator, images: torch.Tensor) -> torch.Tensor:
    critic.eval()
    with torch.no_grad(), autocast_context(CPU, AMP):
        out = torch.cat([critic(batch).float().mean(dim=(1, 2, 3))
                         for batch in images.split(256)])
    critic.train()
    return out


def train_critic(photos: torch.Tensor, fakes: torch.Tensor, held_photos: torch.Tensor,
                 held_fakes: torch.Tensor, model: VAE, args: argparse.Namespace
                 ) -> list[tuple[int, float]]:
    """Train the stage's discriminator (its `Adversary`, with the recipe's settings) on random
    batches of photos (uint8) and fakes; its validation AUC after each step in CHECKS."""
    torch.manual_seed(args.seed)
    config = AdversarialConfig(channels=args.channels, layers=args.layers, lr=args.lr,
                               spectral_norm=False, r1=args.r1)
    adversary = Adversary(config, model)  # the model only names the decoder's last layer
    results = []
    for step in range(1, args.steps + 1):
        real = photos[torch.randint(len(photos), (args.batch_size,))].float().div(255)
        fake = fakes[torch.randint(len(fakes), (args.batch_size,))]
        with autocast_context(CPU, AMP):
            adversary.discriminator_step(real, fake)
        if step in CHECKS or step == args.steps:
            critic = adversary.discriminator
            results.append((step, auc(scores(critic, held_photos), scores(critic, held_fakes))))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="../shared/data/cats.zip")
    parser.add_argument("--model", default="src/kitten_mixer/weights/default",
                        help="saved-model or run folder whose reconstructions are the fakes")
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--lr", type=float, default=4e-4)
    parser.add_argument("--r1", type=float, default=0.01)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tasks", nargs="+", default=["whole", "band"],
                        choices=["whole", "band", "noise"])
    args = parser.parse_args()

    mixer = KittenMixer.load(args.model)
    splits = training_splits(mixer.config, args.data, (64, 64))
    train, held = splits["train"].images, splits["val"].images.float() / 255

    def reconstruct(images: torch.Tensor) -> torch.Tensor:
        """Faces (uint8, or floats in [0, 1]): their reconstructions, in [0, 1]."""
        return mixer.decode_tensor(mixer.posterior(images)[0]).float().clamp(0, 1)

    start = time.perf_counter()
    with torch.no_grad():
        train_rec = reconstruct(train)
        held_rec = reconstruct(held)
    print(f"{len(train)} train faces and {len(held)} validation faces reconstructed in "
          f"{time.perf_counter() - start:.0f} s; critic: channels {args.channels}, layers "
          f"{args.layers}, lr {args.lr}, r1 {args.r1}, batch {args.batch_size}\n")
    print("| task | steps | validation AUC |\n|---|---|---|")
    for task in args.tasks:
        if task == "whole":
            fakes, held_fakes = train_rec, held_rec
        elif task == "band":
            fakes = finest_band(train.float() / 255, train_rec)
            held_fakes = finest_band(held, held_rec)
        else:
            noise = torch.Generator().manual_seed(1)
            fakes, held_fakes = ((x + 0.03 * torch.randn(x.shape, generator=noise))
                                 for x in (train.float() / 255, held))
        start = time.perf_counter()
        fakes, held_fakes = ((x.clamp(0, 1) * 255).round() / 255 for x in (fakes, held_fakes))
        for step, value in train_critic(train, fakes, held, held_fakes, mixer.model, args):
            print(f"| {task} | {step} | {value:.3f} |", flush=True)
        print(f"<!-- {task}: {time.perf_counter() - start:.0f} s -->", flush=True)


if __name__ == "__main__":
    main()
