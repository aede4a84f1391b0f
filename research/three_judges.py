"""Judge models whose training saw ImageNet features three ways, and look for stripes.

A perceptual loss (training/perceptual.py) teaches the decoder what EfficientNet-Lite1 or Lite2
sees. Lite0, the realism yardstick, is of the same family, so a model could fit the family's
features rather than draw cats. For each model this prints, on the test split of the data:

  PSNR, SSIM, sharpness   of reconstructions and of 50/50 arc mixes (over the photos')
  KID lite0               reconstructions, arc mixes and new kittens (the yardstick)
  KID lite1, lite2        reconstructions and arc mixes in the loss networks' own features:
                          falling much faster than Lite0's means fitting the loss network
  critic AUC              a patch critic trained from scratch (no pretrained features) on
                          photos against the model's reconstructions (or arc mixes) of the
                          train split, scored on held-out test photos and fakes: the chance a
                          photo scores above a fake; 0.5 cannot tell, lower is more real
  stripes                 the largest ratio, over all frequencies but the lowest, of the
                          images' mean amplitude spectrum to the photos': a stripe or grid
                          the decoder prints stands out as a peak above 1
  fixed texture           how much fine detail is the same in every image: the RMS of the
                          images' mean high-pass (grey less its 5x5 mean) over the photos'.
                          Aligned faces share some (eyes, nose); a decoder that draws one
                          texture into every face, wherever the cat, scores far above 1
  smoothness              largest over mean step of arc morphs (1 is even)

The arcs bend about the model's centre of real cats' codes (`KittenMixer.centre`, the genes'
mean), as the package's morphs do; --origin bends them about the origin, as every morph did
before the centre (the rows of docs/results.md measured before it).

and, with --figure, writes a picture of 16 reconstructions and 8 arc morphs of test faces at
4x zoom, one column block per model (no photo in it: they are not ours to publish).

    python research/three_judges.py src/kitten_mixer/weights/default runs/perceptual
    python research/three_judges.py MODEL... --networks lite1 --figure /tmp/judges.png
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from critic_probe import train_critic  # noqa: E402

from kitten_mixer.data import training_splits  # noqa: E402
from kitten_mixer.evaluation import metrics  # noqa: E402
from kitten_mixer.evaluation.evaluate import random_pairs, sampler_for  # noqa: E402
from kitten_mixer.evaluation.features import efficientnet_features  # noqa: E402
from kitten_mixer.images import enlarge, image_grid, tensor_to_images  # noqa: E402
from kitten_mixer.mixer import KittenMixer  # noqa: E402
from kitten_mixer.morph import latent_path  # noqa: E402
from kitten_mixer.training.perceptual import fine_detail  # noqa: E402

MIXES = 500
# The training photos beside the checkout, where the research scripts look by default.
DATA = str(Path(__file__).resolve().parents[2] / "shared" / "data" / "cats.zip")


def model_and_splits(folder: str | None, data: str) -> tuple[KittenMixer, dict]:
    """A saved model (None: the shipped one) and its data split as it was trained on."""
    mixer = KittenMixer.load(folder)
    return mixer, training_splits(mixer.config, data, (64, 64))
MORPHS = 50
KITTENS = 1000
# The critic: narrower and shorter than the adversarial stage's (64 channels, thousands of
# steps), so that judging a model takes minutes on a CPU; every model meets the same one.
CRITIC_CHANNELS = 32


def spectrum_ratio(photos: torch.Tensor, images: torch.Tensor) -> tuple[torch.Tensor,
                                                                        torch.Tensor]:
    """The images' mean amplitude spectrum over the photos', and each frequency's radius in
    cycles per image: two [H, W] tensors."""
    h, w = photos.shape[2:]
    u = torch.fft.fftfreq(h, 1 / h)[:, None]
    v = torch.fft.fftfreq(w, 1 / w)[None, :]
    ratio = metrics.amplitude_spectrum(images) / metrics.amplitude_spectrum(photos).clamp(min=1e-8)
    return ratio, torch.sqrt(u**2 + v**2)


def stripes(photos: torch.Tensor, images: torch.Tensor) -> float:
    """The largest ratio of the images' amplitude to the photos' at any frequency of at least
    2 cycles per image (the lowest ones hold the face's layout, not a pattern)."""
    ratio, radius = spectrum_ratio(photos, images)
    return float(ratio[radius >= 2].max())


def fixed_texture(photos: torch.Tensor, images: torch.Tensor) -> float:
    """The RMS of the images' mean fine detail over that of the photos (fixed_texture's doc
    above): the part of a drawn texture that does not depend on the cat."""
    def mean_detail(x: torch.Tensor) -> torch.Tensor:
        return fine_detail(metrics.grey(x)).mean(0)

    return float(mean_detail(images).square().mean().sqrt()
                 / mean_detail(photos).square().mean().sqrt())


def arc_codes(means: torch.Tensor, pairs: list[tuple[int, int]],
              centre: torch.Tensor | None = None) -> torch.Tensor:
    """The 50/50 arc mix (about `centre`; None: the origin) of each pair's codes:
    [len(pairs), D]."""
    return torch.cat([latent_path(means[a], means[b], [0.5], "slerp", centre)
                      for a, b in pairs])


def arc_mixes(mixer: KittenMixer, means: torch.Tensor, count: int, seed: int,
              centre: torch.Tensor | None = None) -> torch.Tensor:
    codes = arc_codes(means, random_pairs(count, len(means), seed), centre)
    return mixer.decode_tensor(codes).float().clamp(0, 1)


def critic_aucs(mixer: KittenMixer, train: torch.Tensor, photos: torch.Tensor,
                rec: torch.Tensor, mixes: torch.Tensor, steps: int,
                centre: torch.Tensor | None) -> list[float]:
    """AUCs of fresh patch critics (critic_probe's: the adversarial stage's, R1, DiffAugment)
    trained on the train split's photos (uint8) against its reconstructions, then against its
    arc mixes, scored on the test photos against `rec` and `mixes` after `steps`. Seeded:
    every model meets the same critic."""
    settings = argparse.Namespace(channels=CRITIC_CHANNELS, layers=3, lr=4e-4, r1=0.01,
                                  steps=steps, batch_size=64, seed=0)
    with torch.no_grad():
        train_means = mixer.posterior(train.float() / 255)[0]
        train_rec = mixer.decode_tensor(train_means).float().clamp(0, 1)
        train_mixes = arc_mixes(mixer, train_means, len(train), 1, centre)
    aucs = []
    for fakes, held_fakes in ((train_rec, rec), (train_mixes, mixes)):
        fakes, held_fakes = ((x * 255).round() / 255 for x in (fakes, held_fakes))  # 8 bits
        aucs.append(train_critic(train, fakes, photos, held_fakes, mixer.model,
                                 settings)[-1][1])
    return aucs


def judge(folder: str, data: str, networks: list[str], steps: int,
          features: dict, real: dict, origin: bool = False) -> tuple[dict[str, float], list]:
    mixer, splits = model_and_splits(folder, data)
    centre = None if origin else mixer.centre
    test, train = splits["test"].images, splits["train"].images
    photos = test.float() / 255
    with torch.no_grad():
        means = mixer.posterior(photos)[0]
        rec = mixer.decode_tensor(means).float().clamp(0, 1)
        mixes = arc_mixes(mixer, means, MIXES, 0, centre)
        sampler = sampler_for(mixer)
        kittens = mixer.decode_tensor(sampler.sample(KITTENS, seed=0)).float().clamp(0, 1) \
            if sampler is not None else None
        smooth = [metrics.morph_smoothness(mixer.decode_tensor(
            latent_path(means[a], means[b], torch.linspace(0, 1, 11), "slerp", centre)))
            for a, b in random_pairs(MORPHS, len(means), 2)]
    for name in features:
        if name not in real:
            real[name] = features[name](photos)
    kid = {name: [metrics.kernel_inception_distance(real[name], features[name](images))[0]
                  for images in (rec, mixes)] for name in features}
    row = {"PSNR": metrics.psnr(photos, rec), "SSIM": metrics.ssim(photos, rec),
           "sharp rec": metrics.sharpness_ratio(photos, rec),
           "sharp mix": metrics.sharpness_ratio(photos, mixes),
           "KID0 rec": kid["lite0"][0], "KID0 mix": kid["lite0"][1],
           "KID0 kittens": metrics.kernel_inception_distance(
               real["lite0"], features["lite0"](kittens))[0] if kittens is not None else None,
           **{f"KID{name[-1]} {what}": kid[name][i] for name in networks
              for i, what in enumerate(("rec", "mix"))},
           **dict(zip(("AUC rec", "AUC mix"), critic_aucs(mixer, train, photos, rec, mixes, steps,
                                                           centre)
                                               if steps else (None, None))),
           "stripes rec": stripes(photos, rec), "stripes mix": stripes(photos, mixes),
           "fixed rec": fixed_texture(photos, rec), "fixed mix": fixed_texture(photos, mixes),
           "smoothness": sum(smooth) / len(smooth)}
    pictures = [enlarge(image, 4) for image in tensor_to_images(rec[:16])]
    pairs = random_pairs(8, len(means), 3)
    with torch.no_grad():
        for a, b in pairs:
            frames = mixer.decode_tensor(latent_path(means[a], means[b],
                                                     torch.linspace(0, 1, 8), "slerp", centre))
            pictures += [enlarge(image, 4) for image in tensor_to_images(frames)]
    return row, pictures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+", help="saved-model or run folders")
    parser.add_argument("--data", default=DATA)
    parser.add_argument("--networks", nargs="+", default=["lite2"], choices=["lite1", "lite2"],
                        help="the loss networks whose own KID is reported")
    parser.add_argument("--critic-steps", type=int, default=500,
                        help="0: no critic (its AUCs left out)")
    parser.add_argument("--figure", type=Path, help="write the models' pictures here (PNG)")
    parser.add_argument("--origin", action="store_true",
                        help="bend the arcs about the origin, not the model's centre")
    args = parser.parse_args()
    features = {name: efficientnet_features(network=name) for name in ["lite0", *args.networks]}
    real: dict = {}
    rows, figures = {}, []
    for folder in args.models:
        began = time.perf_counter()
        rows[folder], pictures = judge(folder, args.data, args.networks, args.critic_steps,
                                       features, real, args.origin)
        figures.append(pictures)
        print(f"{folder}: {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
    columns = list(next(iter(rows.values())))
    print("| model | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for folder, row in rows.items():
        cells = ["-" if v is None else f"{v:.3f}" for v in row.values()]
        print(f"| {folder} | " + " | ".join(cells) + " |")
    if args.figure:
        # 16 reconstructions (2 rows of 8) and 8 morphs of 8 frames, per model side by side.
        blocks = [image_grid(pictures, columns=8) for pictures in figures]
        image_grid(blocks, columns=len(blocks)).save(args.figure)
        print(f"figure: {args.figure}", file=sys.stderr)


if __name__ == "__main__":
    main()
