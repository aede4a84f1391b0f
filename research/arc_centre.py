"""Where the arc between two cats bends about: the origin, the centre of real cats' codes, or
the centre with the codes whitened. No training: one model, three ways to walk.

A morph's arc (morph.latent_path, "slerp") keeps its middle as far from its centre as the two
cats are. A VAE's codes need not lie around the origin; seen from the origin, the arc then
stretches the codes' shared mean along with what is particular to each cat. This prints, for
the 50/50 mixes of 500 random pairs:

  along the centre        the mixes' component along the direction of the codes' mean, and
                          real test codes' (a real cat's is typical; far above it, no cat's)
  from the centre         the mixes' mean distance from the codes' mean, and real codes'
  log density             under the model's sampler (a Gaussian mixture of training codes)

and, on the test pairs of the judges (seed 0), on another draw of test pairs (seed 1) and on
validation pairs, each arc's KID in EfficientNet-Lite0's and Lite1's features, the mixes'
sharpness over the photos', the spread of their mean colours (reconstructions' for scale),
and the smoothness of 50 morphs of 11 steps along it (largest over mean step; 1 is even).
The centre is the mean of the training codes (the genes' mean, `KittenMixer.centre`); the
whitening is that of their covariance, its smallest variances floored at a thousandth of the
largest.

    python research/arc_centre.py [MODEL]      # the shipped model by default
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from three_judges import DATA, model_and_splits  # noqa: E402

from kitten_mixer.evaluation import metrics  # noqa: E402
from kitten_mixer.evaluation.evaluate import random_pairs  # noqa: E402
from kitten_mixer.evaluation.features import efficientnet_features  # noqa: E402
from kitten_mixer.morph import latent_path  # noqa: E402

MIXES, MORPHS = 500, 50


class Arc:
    """The arc about `centre` in coordinates `forward` (codes less the centre, times it)."""

    def __init__(self, centre: torch.Tensor | None, forward: torch.Tensor | None = None):
        self.centre, self.forward = centre, forward
        self.back = None if forward is None else torch.linalg.pinv(forward)

    def path(self, a: torch.Tensor, b: torch.Tensor, ts: list[float]) -> torch.Tensor:
        if self.forward is None:
            return latent_path(a, b, ts, "slerp", self.centre)
        a, b = ((x - self.centre) @ self.forward for x in (a, b))
        return latent_path(a, b, ts, "slerp") @ self.back + self.centre


def arcs(train_codes: torch.Tensor) -> dict[str, Arc]:
    centre = train_codes.mean(0)
    variance, directions = torch.linalg.eigh(torch.cov((train_codes - centre).T.double()))
    whiten = (directions / variance.clamp(min=variance.max() * 1e-3).sqrt()).float()
    return {"origin": Arc(None), "centre": Arc(centre), "whitened": Arc(centre, whiten)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", nargs="?", help="saved-model folder (default: the shipped one)")
    parser.add_argument("--data", default=DATA)
    args = parser.parse_args()
    began = time.perf_counter()
    mixer, splits = model_and_splits(args.model, args.data)
    with torch.no_grad():
        train = torch.cat([mixer.posterior(chunk.float() / 255)[0]
                           for chunk in splits["train"].images.split(1024)])
    ways = arcs(train)
    centre = ways["centre"].centre
    along = centre / centre.norm()
    sampler = mixer.sampler
    lite = {name: efficientnet_features(network=name) for name in ("lite0", "lite1")}

    for split, seed in (("test", 0), ("test", 1), ("val", 0)):
        photos = splits[split].images.float() / 255
        with torch.no_grad():
            codes = mixer.posterior(photos)[0]
            rec = mixer.decode_tensor(codes).float().clamp(0, 1)
        real = {name: features(photos) for name, features in lite.items()}
        pairs = random_pairs(MIXES, len(codes), seed)
        print(f"\n{split} pairs, seed {seed}: real codes {(codes @ along).mean():.2f} "
              f"+- {(codes @ along).std():.2f} along the centre, "
              f"{(codes - centre).norm(dim=1).mean():.2f} from it, log density "
              f"{sampler.log_likelihood(codes).mean():.1f}; reconstructions' colour spread "
              f"{rec.mean((2, 3)).std(0).mean():.3f}\n")
        print("| arc | along the centre | from the centre | log density | KID Lite0 | KID Lite1 "
              "| sharpness | colour spread | smoothness (worst) |")
        print("|---|---|---|---|---|---|---|---|---|")
        for name, arc in ways.items():
            mixes = torch.cat([arc.path(codes[a], codes[b], [0.5]) for a, b in pairs])
            with torch.no_grad():
                images = mixer.decode_tensor(mixes).float().clamp(0, 1)
                smooth = [metrics.morph_smoothness(mixer.decode_tensor(
                    arc.path(codes[a], codes[b], torch.linspace(0, 1, 11).tolist())))
                    for a, b in pairs[:MORPHS]]
            kid = [metrics.kernel_inception_distance(real[n], lite[n](images))[0] for n in lite]
            print(f"| {name} | {(mixes @ along).mean():.2f} +- {(mixes @ along).std():.2f} "
                  f"| {(mixes - centre).norm(dim=1).mean():.2f} "
                  f"| {sampler.log_likelihood(mixes).mean():.1f} | {kid[0]:.3f} | {kid[1]:.3f} "
                  f"| {metrics.sharpness_ratio(photos, images):.3f} "
                  f"| {images.mean((2, 3)).std(0).mean():.3f} "
                  f"| {sum(smooth) / len(smooth):.3f} ({max(smooth):.2f}) |", flush=True)
    print(f"{time.perf_counter() - began:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
