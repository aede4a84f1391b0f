"""Shared fixtures: small generated photos, tiny models, and the real faces when present."""

from __future__ import annotations

import os
import shutil
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from postgres import PostgresServer
from postgres import postgres_server as _postgres_server

from kitten_mixer import VAE, VAEConfig
from kitten_mixer.images import png_bytes
from kitten_mixer.webapp.launch import app_environment, serve_in_background

REPO = Path(__file__).resolve().parents[1]
CATS_ZIP = REPO.parent / "shared" / "data" / "cats.zip"

# A network small enough to train a few epochs in a second or two.
TINY = {"image_h": 16, "image_w": 16, "latent_dims": 8, "hidden_channels": [3, 8, 16]}


@dataclass
class File:
    """An uploaded file as the uploader hands it over, counting how often it is read."""

    file_id: str
    name: str
    data: bytes
    reads: int = 0

    def getvalue(self) -> bytes:
        self.reads += 1
        return self.data


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


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    """A throwaway PostgreSQL server for the whole run (tests/postgres.py): skips without
    PostgreSQL, fails under CI=true."""
    yield from _postgres_server()


@pytest.fixture(scope="session")
def haproxy() -> None:
    """Debian's haproxy, for the tests of app processes behind the proxy: skips without it,
    fails under CI=true (scripts/test installs it)."""
    if shutil.which("haproxy") is None:
        if os.environ.get("CI"):
            pytest.fail("no haproxy: scripts/test installs it")
        pytest.skip("no haproxy on this machine (apt-get install haproxy; scripts/test "
                    "installs it)")


class Clock:
    """A clock for the kitten store that moves on by `step` at each reading, and on demand."""

    def __init__(self, start: datetime = datetime(2025, 5, 1, 12, tzinfo=timezone.utc),
                 step: timedelta = timedelta(milliseconds=1)):
        self.time, self.step = start, step

    def __call__(self) -> datetime:
        self.time += self.step
        return self.time

    def advance(self, seconds: float) -> None:
        self.time += timedelta(seconds=seconds)


def kitten_png(seed: int = 0, size: int = 64, noise: bool = False) -> bytes:
    """A PNG as a page shows a kitten: a generated face, or random pixels (which PNG cannot
    compress: about 12 KB at 64x64)."""
    if noise:
        pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
        return png_bytes(Image.fromarray(pixels, "RGB"))
    return png_bytes(fake_photo(seed, (size, size)))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.slow)])
def store_url(request, tmp_path: Path) -> str:
    """An empty kitten store's URL: a SQLite file, and (slow) a database of its own on the
    throwaway PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'kittens.db'}"
    return request.getfixturevalue("postgres_server").new_database()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(store_url: str, clock: Clock):
    """An empty KittenStore on each backend, on the `clock` fixture's time."""
    from kitten_mixer.store import KittenStore

    with KittenStore.open(store_url, clock=clock) as opened:
        yield opened


# The browser tests drive Debian's chromium (scripts/test installs it) with Playwright, against
# the app served with a kitten store of its own.
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("no chromium: scripts/test installs it")
        pytest.skip("no chromium on this machine (scripts/test installs it)")
    env = app_environment(data_dir=tmp_path_factory.mktemp("store"))  # a store of its own
    env.pop("KITTEN_MIXER_DB", None)
    with serve_in_background(env) as app:
        app.wait_healthy(60)
        yield app.url


@pytest.fixture(scope="module")
def browser(server):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--no-sandbox", "--disable-gpu"])
        try:
            yield browser
        finally:
            browser.close()
