"""Make a trained run a self-contained model to ship: weights, gallery, map, sampler and genes.

`kitten-mixer ship` and `kitten-mixer genes` run this. It sits above the mixer (it encodes the
photos with the model it ships), while the formats it writes (kitten_mixer.shipping) sit below
the mixer, which loads them.

The shipped folder holds what is computed from the photos, never the photos: float16 weights,
the latent codes of varied test-split cats with their places on a 2-D map, a Gaussian
mixture fitted to the training codes, and the training codes' main directions (genes).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from kitten_mixer.data import training_splits
from kitten_mixer.mixer import KittenMixer
from kitten_mixer.shipping.gallery import Gallery, latent_map, pick_varied, save_gallery
from kitten_mixer.shipping.genes import DEFAULT_GENES, Genes, find_genes, save_genes
from kitten_mixer.shipping.sampler import fit_gaussian_mixture, save_sampler
from kitten_mixer.storage import save_model


def ship_model(run: str | os.PathLike, data: str | os.PathLike, target: str | os.PathLike,
               label: str, gallery_size: int = 120, components: int = 10,
               genes: int = DEFAULT_GENES) -> KittenMixer:
    """Write the model of `run`, with its gallery, map, sampler and genes, into `target`."""
    mixer = KittenMixer.load(run)
    splits = training_splits(mixer.config, data, mixer.image_size)
    target = Path(target)
    if target.exists():
        shutil.rmtree(target)
    info = {k: v for k, v in mixer.config.items() if k not in ("format", "architecture")}
    save_model(mixer.model, target, dtype=torch.float16, label=label, **info)

    shipped = KittenMixer.load(target)  # everything below from the float16 weights shipped
    train_codes = shipped.posterior(splits["train"].images)[0]
    save_sampler(target, fit_gaussian_mixture(train_codes, components))
    save_genes(target, find_genes(shipped.decode_tensor, train_codes, genes))
    test = splits["test"]
    test_codes = shipped.posterior(test.images)[0]
    chosen = pick_varied(test_codes, gallery_size)
    codes = test_codes[chosen]
    save_gallery(target, Gallery([test.names[i] for i in chosen], codes, latent_map(codes)))
    return KittenMixer.load(target)


def write_model_genes(model: str | os.PathLike, data: str | os.PathLike,
                      count: int = DEFAULT_GENES) -> Genes:
    """Find the genes of a saved model from the training split of the photos it was trained
    on (`data`), and save them in its folder."""
    mixer = KittenMixer.load(model)
    train = training_splits(mixer.config, data, mixer.image_size)["train"]
    genes = find_genes(mixer.decode_tensor, mixer.posterior(train.images)[0], count)
    save_genes(model, genes)
    return genes
