"""Genes: the main directions of a model's latent space, to tune one cat along.

The top principal components of the training cats' codes, with the codes' mean and their
spread (standard deviation) along each. A gene's value is counted in spreads: moving a cat
+1 along gene 1 adds one standard deviation of the training cats along the first direction.
A gene is named for what it visibly does only where a measure of the decoded faces shows it
on every cat tried (`name_genes`); the others are just numbered. They are saved beside the
model as `genes.safetensors`. Their mean is also the centre that morphs and mixes along the
arc bend about (`KittenMixer.centre`).

    kitten-mixer genes src/kitten_mixer/weights/default --data ../shared/data/cats.zip
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch

from kitten_mixer.errors import ModelFileError, MorphError
from kitten_mixer.shipping.gallery import pick_varied
from kitten_mixer.storage import ModelFolder, read_tensors, write_tensors

# Enough directions to play with; beyond about ten each one moves the faces less visibly.
DEFAULT_GENES = 10
# How far (in spreads, either way) a gene moves the cats whose faces are measured to name it.
NAMING_REACH = 2.0
# A name needs at least this change of its measure (pixels in [0, 1]) on average.
NAMING_EFFECT = 0.05


def _lightness(faces: torch.Tensor) -> torch.Tensor:
    return faces.mean((1, 2, 3))


def _warmth(faces: torch.Tensor) -> torch.Tensor:
    return (faces[:, 0] - faces[:, 2]).mean((1, 2))


def _light_from_the_left(faces: torch.Tensor) -> torch.Tensor:
    half = faces.shape[-1] // 2
    return faces[..., :half].mean((1, 2, 3)) - faces[..., half:].mean((1, 2, 3))


# What a gene may be named for: a measure of decoded faces [N, 3, H, W] -> [N] that grows with
# it. The app has a text for each name.
MEASURES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "lightness": _lightness, "warmth": _warmth, "light_from_the_left": _light_from_the_left}


@dataclass
class Genes:
    """mean [D]: the training codes' mean; directions [K, D]: orthonormal, the largest spread
    first; spread [K]: the codes' standard deviation along each direction."""

    mean: torch.Tensor
    directions: torch.Tensor
    spread: torch.Tensor
    names: list[str] = field(default_factory=list)  # one per gene: a MEASURES key, or ""

    def __post_init__(self):
        self.names = list(self.names) or [""] * len(self.directions)

    def __len__(self) -> int:
        return len(self.directions)

    def offset(self, values: Mapping[int, float]) -> torch.Tensor:
        """The shift [D] that moves a code by `values[i]` spreads along gene i (from 0)."""
        shift = torch.zeros(self.directions.shape[1], dtype=torch.float64)
        for gene, value in values.items():
            if not 0 <= gene < len(self):
                raise MorphError(f"gene {gene} does not exist: this model has genes 0 to "
                                 f"{len(self) - 1}")
            value = float(value)
            if not torch.isfinite(torch.tensor(value)):
                raise MorphError(f"gene {gene}: {value} is not a finite number")
            shift += value * float(self.spread[gene]) * self.directions[gene].double()
        return shift

    def tune(self, code: torch.Tensor, values: Mapping[int, float]) -> torch.Tensor:
        """The code moved by `values[i]` spreads along gene i: gene {0: 1.5, 3: -1}."""
        return (code.double() + self.offset(values)).float()

    def values(self, code: torch.Tensor) -> torch.Tensor:
        """Where a code lies along each gene, in spreads from the mean: [K]."""
        return (self.directions.double() @ (code.double() - self.mean.double())) \
            / self.spread.double()


def fit_genes(codes: torch.Tensor, count: int = DEFAULT_GENES) -> Genes:
    """The top `count` principal components of codes [N, D] (exact SVD, float64).

    Each direction's sign is fixed so that its largest entry is positive: the same codes always
    give the same genes.
    """
    x = codes.double()
    count = min(count, *x.shape)
    mean = x.mean(0)
    _, singular, vt = torch.linalg.svd(x - mean, full_matrices=False)
    directions = vt[:count]
    signs = torch.sign(directions.gather(1, directions.abs().argmax(1, keepdim=True)))
    directions = directions * signs
    spread = singular[:count] / max(1, len(x) - 1) ** 0.5
    return Genes(mean.float(), directions.float(), spread.float())


def name_genes(genes: Genes, decode: Callable[[torch.Tensor], torch.Tensor],
               codes: torch.Tensor, reach: float = NAMING_REACH) -> Genes:
    """The genes with names where a measure shows what they do (see MEASURES).

    Each cat of `codes` is moved `reach` spreads back and forth along every gene, decoded
    (`decode`: codes to faces [N, 3, H, W] in [0, 1]) and measured. A measure names the gene
    that changes it most, provided that gene changes it the same way for every cat, by
    NAMING_EFFECT or more on average; the named gene is turned to point where its measure grows.
    A gene takes one name at most.
    """
    effects = torch.zeros(len(MEASURES), len(genes), len(codes), dtype=torch.float64)
    for gene in range(len(genes)):
        back, forth = (decode(torch.stack([genes.tune(code, {gene: value}) for code in codes]))
                       for value in (-reach, reach))
        for i, measure in enumerate(MEASURES.values()):
            effects[i, gene] = (measure(forth) - measure(back)).double()
    directions, names = genes.directions.clone(), [""] * len(genes)
    for i, name in enumerate(MEASURES):
        unanimous = (effects[i] > 0).all(1) | (effects[i] < 0).all(1)
        size = effects[i].mean(1).abs() * unanimous * torch.tensor([not n for n in names])
        gene = int(size.argmax())
        if size[gene] >= NAMING_EFFECT:
            names[gene] = name
            directions[gene] *= torch.sign(effects[i, gene].mean()).float()
    return Genes(genes.mean, directions, genes.spread, names)


def find_genes(decode: Callable[[torch.Tensor], torch.Tensor], codes: torch.Tensor,
               count: int = DEFAULT_GENES, named_on: int = 120) -> Genes:
    """The genes of training codes [N, D], named by how they change the faces of `named_on`
    varied cats among them."""
    return name_genes(fit_genes(codes, count), decode, codes[pick_varied(codes, named_on)])


def save_genes(path: str | os.PathLike, genes: Genes) -> None:
    """Write the genes into a saved-model folder."""
    write_tensors(ModelFolder(path).genes, {"mean": genes.mean, "directions": genes.directions,
                                            "spread": genes.spread},
                  {"names": json.dumps(genes.names)})


def load_genes(path: str | os.PathLike) -> Genes:
    """The genes saved in a saved-model folder."""
    file = ModelFolder(path).genes
    tensors, metadata = read_tensors(file,
                                     "this model has no genes; `kitten-mixer genes` finds them")
    try:
        names = json.loads(metadata.get("names", "[]"))
        genes = Genes(tensors["mean"], tensors["directions"], tensors["spread"], names)
    except (KeyError, json.JSONDecodeError) as e:
        raise ModelFileError(f"{file}: damaged genes file (no {e})") from None
    k, d = genes.directions.shape if genes.directions.ndim == 2 else (0, 0)
    if not k or genes.mean.shape != (d,) or genes.spread.shape != (k,) \
            or not (genes.spread > 0).all() or len(genes.names) != k \
            or not all(name in ("", *MEASURES) for name in genes.names):
        raise ModelFileError(f"{file}: damaged genes file (its mean, directions, spreads and "
                             "names do not match)")
    return genes
