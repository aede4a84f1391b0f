"""Shared fixtures: small generated photos, tiny models, and the real faces when present."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from kitten_mixer import VAE, VAEConfig

REPO = Path(__file__).resolve().parents[1]
CATS_ZIP = REPO.parent / "shared" / "data" / "cats.zip"

# A network small enough to train a few epochs in a second or two.
TINY = {"image_h": 16, "image_w": 16, "latent_dims": 8, "hidden_channels": [3, 8, 16]}


def fake_photo(seed: int, size: tuple[int, int] = (64, 64)) -> Image.Image:
    """A smooth random picture: a colour gradient with a blob, different for every seed."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
    base = rng.uniform(0, 1, 3)
    slope = rng.uniform(-1, 1, (2, 3))
    pixels = base + xx[..., None] * slope[0] + yy[..., None] * slope[1]
    cx, cy, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.1, 0.3)
    blob = ((xx - cx) ** 2 + (yy - cy) ** 2) < r**2
    pixels[blob] = rng.uniform(0, 1, 3)
    return Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8), "RGB")


def write_photos(folder: Path, count: int, start: int = 0, fmt: str = "png",
                 size: tuple[int, int] = (64, 64)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + count):
        path = folder / f"cat{i:03d}.{fmt}"
        fake_photo(i, size).save(path)
        paths.append(path)
    return paths


def same_pixels_but_rounding(a: Image.Image, b: Image.Image) -> bool:
    """Whether two decoded faces are the same but for rounding: a code decoded alone and the
    same code decoded in a batch differ by float errors near 1e-7 (convolutions sum in a
    batch-dependent order), which can move a pixel by one intensity level, never more."""
    return int(np.abs(np.asarray(a, dtype=int) - np.asarray(b, dtype=int)).max()) <= 1


def zip_folder(folder: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return target


@pytest.fixture
def photo_folder(tmp_path: Path) -> Path:
    """40 distinct generated photos in a folder."""
    write_photos(tmp_path / "photos", 40)
    return tmp_path / "photos"


@pytest.fixture
def tiny_model() -> VAE:
    torch.manual_seed(0)
    return VAE.from_config(VAEConfig(**TINY))


@pytest.fixture
def tiny_faces() -> torch.Tensor:
    """32 generated faces as uint8 [32, 3, 16, 16]."""
    arrays = [np.asarray(fake_photo(i, (16, 16))) for i in range(32)]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


needs_cats = pytest.mark.skipif(not CATS_ZIP.is_file(), reason="../shared/data/cats.zip absent")
