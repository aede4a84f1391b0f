"""Show what a decoder's noise inputs draw (`"noise"` in the model config): test faces decoded
from their codes with the fixed draw the model uses in the app, then with three fresh draws,
then the difference of two fresh draws, four times as strong. Prints how much the pixels move
from draw to draw (docs/experiments.md, section 4.5).

    python scripts/noise_draws.py runs/resize-gan-r1-refine16-noise-strong \\
        docs/images/sharp/noise-draws.png

The figure holds decoded faces only, never the photos (which may not be redistributed).
"""

from __future__ import annotations

import argparse

import torch

from kitten_mixer.evaluation.evaluate import random_pairs
from kitten_mixer.images import enlarge, image_grid, tensor_to_images
from kitten_mixer.mixer import KittenMixer
from kitten_mixer.training.experiment import training_splits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="a saved-model or run folder whose decoder reads noise")
    parser.add_argument("output", help="the PNG to write")
    parser.add_argument("--data", default="../shared/data/cats.zip",
                        help="the photos the model was trained on (default: %(default)s)")
    parser.add_argument("--faces", type=int, default=4, help="test faces, one a row")
    args = parser.parse_args()

    mixer = KittenMixer.load(args.model)
    model = mixer.model
    if not model.config.noise:
        raise SystemExit(f"{args.model}: its decoder reads no noise")
    test = training_splits(mixer.config, args.data, mixer.image_size)["test"].images
    chosen = torch.tensor(random_pairs(args.faces, len(test), seed=1))[:, 0]
    with torch.no_grad():
        codes = model.posterior(test[chosen].float() / 255)[0]
        fixed = model.decode(codes)
        model.train()  # fresh noise for every face
        torch.manual_seed(0)
        try:
            draws = [model.decode(codes) for _ in range(3)]
        finally:
            model.eval()
    spread = torch.stack(draws).std(0)
    print(f"a pixel's standard deviation across fresh draws: mean {spread.mean() * 255:.2f} "
          f"intensity levels, largest {spread.max() * 255:.1f} (of 255)")
    difference = ((draws[0] - draws[1]) * 4 + 0.5).clamp(0, 1)
    columns = [fixed, *draws, difference]
    cells = [enlarge(image, 3) for row in zip(*[tensor_to_images(c) for c in columns])
             for image in row]
    image_grid(cells, columns=len(columns)).save(args.output, optimize=True)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
