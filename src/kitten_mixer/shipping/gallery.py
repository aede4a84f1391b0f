"""Cats that ship with a model: latent codes and ids, so a fresh machine has cats to mix."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from kitten_mixer.errors import ModelFileError
from kitten_mixer.storage import atomic_write

GALLERY_FILE = "gallery.safetensors"


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


def save_gallery(folder: str | os.PathLike, gallery: Gallery) -> None:
    """Write the gallery beside a saved model."""
    if len(gallery.ids) != len(gallery.codes):
        raise ValueError("one id per code")
    tensors = {"codes": gallery.codes.detach().float().cpu().contiguous()}
    if gallery.map is not None:
        tensors["map"] = gallery.map.detach().float().cpu().contiguous()
    atomic_write(Path(folder) / GALLERY_FILE, lambda tmp: save_file(
        tensors, str(tmp), metadata={"ids": "\n".join(gallery.ids)}))


def load_gallery(folder: str | os.PathLike | None) -> Gallery:
    """The gallery shipped beside a saved model."""
    path = Path(folder or ".") / GALLERY_FILE
    if folder is None or not path.is_file():
        raise ModelFileError(f"{folder}: this model ships no gallery of cats ({GALLERY_FILE})")
    try:
        with safe_open(str(path), framework="pt") as f:
            ids = (f.metadata() or {}).get("ids", "").split("\n")
        tensors = load_file(str(path))
    except Exception as e:
        raise ModelFileError(f"{path}: damaged gallery file ({e})") from None
    if "codes" not in tensors or len(ids) != len(tensors["codes"]):
        raise ModelFileError(f"{path}: the ids and codes do not match")
    return Gallery(ids, tensors["codes"], tensors.get("map"))
