"""Make a trained run the package's default model, with a gallery of cats to mix.

    python scripts/ship_model.py runs/my-run --data ../shared/data/cats.zip --label "..."

Writes src/kitten_mixer/weights/default/: the weights in float16 (half the size, the same
cats), config.json with a `label`, and gallery.safetensors with the latent codes of varied
cats of the test split (codes only: the photos are not ours to redistribute).
"""

from __future__ import annotations

import argparse
import shutil

import torch

from kitten_mixer import KittenMixer, load_faces
from kitten_mixer.gallery import Gallery, pick_varied, save_gallery
from kitten_mixer.mixer import DEFAULT_MODEL
from kitten_mixer.saving import save_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", help="a trained run folder (or any saved-model folder)")
    parser.add_argument("--data", required=True, help="the photos the run was trained on")
    parser.add_argument("--gallery", type=int, default=120, help="cats in the gallery")
    parser.add_argument("--label", required=True, help="what this model is, for people")
    args = parser.parse_args()

    mixer = KittenMixer.load(args.run)
    config = mixer.config
    split = config.get("experiment", {})
    faces = load_faces(args.data, mixer.image_size).split(split.get("val_fraction", 0.1),
                                                          split.get("test_fraction", 0.1))
    test = faces["test"]
    codes = torch.cat([mixer.encode(list(batch.permute(0, 2, 3, 1).numpy()))
                       for batch in test.images.split(256)])
    chosen = pick_varied(codes, args.gallery)

    if DEFAULT_MODEL.exists():
        shutil.rmtree(DEFAULT_MODEL)
    info = {k: v for k, v in config.items() if k not in ("format", "architecture")}
    save_model(mixer.model, DEFAULT_MODEL, dtype=torch.float16, label=args.label, **info)
    shipped = KittenMixer.load()  # re-encode with the float16 weights the package ships
    gallery_codes = shipped.encode(
        [test.images[i].permute(1, 2, 0).numpy() for i in chosen])
    save_gallery(DEFAULT_MODEL, Gallery([test.names[i] for i in chosen], gallery_codes))
    print(f"shipped {args.run} to {DEFAULT_MODEL} with {len(chosen)} gallery cats")


if __name__ == "__main__":
    main()
