"""Cats that ship with a model: latent codes and ids, so a fresh machine has cats to mix."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from kitten_mixer.errors import ModelFileError
from kitten_mixer.storage import ModelFolder, read_tensors, write_tensors


@dataclass
class Gallery:
    """Cats as latent codes [N, latent_dims] with an id for each (the photo's file name), and
    optionally their places [N, 2] on a 2-D map of the latent space."""

    ids: list[str]
    codes: torch.Tensor
    map: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.ids)


def pick_varied(codes: torch.Tensor, count: int) -> list[int]:
    """Indices of `count` codes spread over the latent space (greedy farthest-point sampling).

    Starts from the code nearest the mean, so the first cat is a typical one.
    """
    count = min(count, len(codes))
    codes = codes.double()
    chosen = [int((codes - codes.mean(0)).norm(dim=1).argmin())]
    distance = (codes - codes[chosen[0]]).norm(dim=1)
    while len(chosen) < count:
        nxt = int(distance.argmax())
        chosen.append(nxt)
        distance = torch.minimum(distance, (codes - codes[nxt]).norm(dim=1))
    return chosen


def latent_map(codes: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """2-D places [N, 2] in [0, 1] for codes, near each other when the codes are (t-SNE)."""
    from sklearn.manifold import TSNE

    perplexity = max(2.0, min(30.0, (len(codes) - 1) / 3))
    places = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
        codes.double().numpy())
    places = torch.from_numpy(places).float()
    low, high = places.min(0).values, places.max(0).values
    return (places - low) / (high - low).clamp(min=1e-9)


def save_gallery(path: str | os.PathLike, gallery: Gallery) -> None:
    """Write the gallery into a saved-model folder."""
    if len(gallery.ids) != len(gallery.codes):
        raise ValueError("one id per code")
    tensors = {"codes": gallery.codes.float()}
    if gallery.map is not None:
        tensors["map"] = gallery.map.float()
    write_tensors(ModelFolder(path).gallery, tensors, {"ids": "\n".join(gallery.ids)})


def load_gallery(path: str | os.PathLike) -> Gallery:
    """The gallery shipped in a saved-model folder."""
    file = ModelFolder(path).gallery
    tensors, metadata = read_tensors(file, "this model ships no gallery of cats")
    ids = metadata.get("ids", "").split("\n")
    if "codes" not in tensors or len(ids) != len(tensors["codes"]):
        raise ModelFileError(f"{file}: the ids and codes do not match")
    return Gallery(ids, tensors["codes"], tensors.get("map"))
