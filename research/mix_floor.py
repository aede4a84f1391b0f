"""How low can the KID of 50/50 mixes go? Real photos standing in for perfect mixes.

The judges' KID of arc mixes (three_judges.py) compares 500 decoded 50/50 mixes of random test
pairs with the test photos. Even a perfect mixer would not reach 0 there: a cat halfway
between two cats is a more ordinary cat than either, so the set of mixes is less varied than
the set of photos, and KID counts that difference as unreality. This puts a number on it with
no model at all: for each of the same 500 pairs, the train and validation photo (real by
definition) nearest to the pair's midpoint stands in for the perfect mix, and its KID against
the test photos is measured like the model's. Two midpoints, two answers:

  features    the photo nearest to the mean of the parents' Lite0 features (what the
              yardstick itself sees as between them)
  codes       the photo whose code (posterior mean of MODEL) is nearest to the pair's 50/50
              arc mix (about the model's centre, as its morphs bend): the model's own
              in-between, drawn as a real cat

beside the floor of KID itself (500 random train photos: 0 but for sampling), the parents
(one of them, at random: real and as varied as the photos) and the pixel blend of the two
(a ghost of two faces). The model's own arc mixes are printed for scale.

    python research/mix_floor.py src/kitten_mixer/weights/default
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from three_judges import DATA, MIXES, arc_codes, model_and_splits  # noqa: E402

from kitten_mixer.evaluation.evaluate import random_pairs  # noqa: E402
from kitten_mixer.evaluation.features import efficientnet_features  # noqa: E402
from kitten_mixer.evaluation.metrics import kernel_inception_distance  # noqa: E402


def nearest(pool: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Index into `pool` [P, d] of the row nearest each of `targets` [N, d]."""
    return torch.cdist(targets.double(), pool.double()).argmin(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="saved-model folder whose codes and mixes are used")
    parser.add_argument("--data", default=DATA)
    args = parser.parse_args()
    began = time.perf_counter()
    mixer, splits = model_and_splits(args.model, args.data)
    test = splits["test"].images.float() / 255
    pool = torch.cat([splits["train"].images, splits["val"].images]).float() / 255
    features = efficientnet_features(network="lite0")
    real, pool_features = features(test), features(pool)
    pairs = random_pairs(MIXES, len(test), 0)  # the judges' pairs
    a, b = torch.tensor(pairs).T
    with torch.no_grad():
        means = mixer.posterior(test)[0]
        pool_means = torch.cat([mixer.posterior(chunk)[0] for chunk in pool.split(512)])
        midpoints = arc_codes(means, pairs, mixer.centre)
        model_mixes = mixer.decode_tensor(midpoints).float().clamp(0, 1)
    either = torch.where(torch.rand(MIXES, generator=torch.Generator().manual_seed(0)) < 0.5,
                         a, b)
    stand_ins = {
        "random train photos (KID's own floor)":
            pool_features[torch.randperm(len(pool), generator=torch.Generator()
                                         .manual_seed(0))[:MIXES]],
        "one parent": real[either],
        "nearest photo to the parents' mean Lite0 features":
            pool_features[nearest(pool_features, (real[a] + real[b]) / 2)],
        "nearest photo to the model's 50/50 arc mix (codes)":
            pool_features[nearest(pool_means, midpoints)],
        "pixel blend of the parents (a ghost)": features((test[a] + test[b]) / 2),
        f"the model's arc mixes ({args.model})": features(model_mixes),
    }
    print("| stand-in for 500 50/50 mixes | KID Lite0 against the test photos | distinct |")
    print("|---|---|---|")
    for name, chosen in stand_ins.items():
        kid, std = kernel_inception_distance(real, chosen)
        distinct = len(torch.unique(chosen, dim=0))
        print(f"| {name} | {kid:.3f} +- {std:.3f} | {distinct} |")
    print(f"{time.perf_counter() - began:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
