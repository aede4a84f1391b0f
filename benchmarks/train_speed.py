"""Training speed: this project's trainer against the original project's loop, side by side.

Both train a v6 model (beta 0.005) on the same N distinct cat faces, in one process on the
CPU, ours first and then the original, each timed as a whole, data loading included:

- ours: `run_experiment(PRESETS["v6"])` on a folder of the photos, as `kitten-mixer train
  --preset v6` runs it (faces decoded once by load_faces; precision "auto"; checkpoints saved);
- the original: a self-contained copy of the student code: its 7,529,131-parameter VAE
  (LeakyReLU before the sigmoid), BCE + beta * KL summed over the batch, a Dataset that decodes
  every JPEG with PIL on every epoch (ImageFolder + ToTensor), DataLoader(shuffle=True,
  num_workers=0), Adam, fp32, and `loss.item()` after every step.

It prints images/s of each, their ratio, and the per-image loss (BCE summed over pixels +
beta * KL) each reached after the same images, to check that both train equally well.

    python benchmarks/train_speed.py                     # 3000 faces, 1 epoch
    python benchmarks/train_speed.py --photos 300 --epochs 1 --threads 2

Run it on an idle machine: beside another busy process, both slow down many times over.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import io
import tempfile
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from common import prepare_threads
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

from kitten_mixer.device import autocast_dtype, hardware_name
from kitten_mixer.training.config import PRESETS  # ours; the original is below
from kitten_mixer.training.experiment import run_experiment

REPO = Path(__file__).resolve().parent.parent
SUFFIXES = (".jpg", ".jpeg", ".png")
BETA = 0.005
ORIGINAL_PARAMETERS = 7_529_131


class OriginalVAE(nn.Module):
    """The original network: strided convolutions, a mirrored decoder, LeakyReLU everywhere."""

    def __init__(self, latent_dims: int = 500, channels: tuple[int, ...] = (3, 32, 64, 128, 256)):
        super().__init__()
        encoder: list[nn.Module] = []
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            encoder += [nn.Conv2d(c_in, c_out, 4, 2, 1), nn.LeakyReLU()]
        self.encoder = nn.Sequential(*encoder, nn.Flatten())
        flat = channels[-1] * 4 * 4
        self.mean = nn.Linear(flat, latent_dims)
        self.log_var = nn.Linear(flat, latent_dims)
        decoder: list[nn.Module] = [nn.Linear(latent_dims, flat), nn.LeakyReLU(),
                                    nn.Unflatten(1, (channels[-1], 4, 4))]
        for c_in, c_out in zip(channels[:0:-1], channels[-2::-1]):
            # The original's flaw: the hidden activation after the last layer too.
            decoder += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.LeakyReLU()]
        self.decoder = nn.Sequential(*decoder, nn.Sigmoid())
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        features = self.encoder(x)
        mean, log_var = self.mean(features), self.log_var(features)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
        return self.decoder(z), mean, log_var


def original_loss(x: torch.Tensor, x_hat: torch.Tensor, mean: torch.Tensor,
                  log_var: torch.Tensor, beta: float = BETA) -> torch.Tensor:
    """BCE summed over the batch + beta * KL summed over the batch, as the original."""
    kl = -0.5 * torch.sum(1 + log_var - mean.pow(2) - log_var.exp())
    return F.binary_cross_entropy(x_hat, x, reduction="sum") + beta * kl


class PhotoFolder(Dataset):
    """ImageFolder + ToTensor: every item is opened and decoded again, on every epoch."""

    def __init__(self, folder: Path):
        self.paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        with self.paths[index].open("rb") as f:
            image = Image.open(f).convert("RGB")
        pixels = torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1).contiguous()
        return pixels.float().div(255), 0


def train_original(folder: Path, epochs: int, batch_size: int, seed: int = 0
                   ) -> tuple[float, float]:
    """Seconds taken and the last epoch's loss per image, with the original's loop."""
    began = time.perf_counter()
    torch.manual_seed(seed)
    loader = DataLoader(PhotoFolder(folder), batch_size=batch_size, shuffle=True,
                        num_workers=0)
    model = OriginalVAE()
    count = sum(p.numel() for p in model.parameters())
    assert count == ORIGINAL_PARAMETERS, f"the original has {ORIGINAL_PARAMETERS}, not {count}"
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    per_image = float("nan")
    for _ in range(epochs):
        running, images = 0.0, 0
        for x, _ in loader:
            x_hat, mean, log_var = model(x)
            loss = original_loss(x, x_hat, mean, log_var)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            running += loss.item()  # a host sync every step, as the original
            images += len(x)
        per_image = running / images
    return time.perf_counter() - began, per_image


def train_ours(folder: Path, out: Path, epochs: int, batch_size: int
               ) -> tuple[float, float, str]:
    """Seconds taken, the last epoch's train loss per image, and the precision used."""
    config = replace(PRESETS["v6"], epochs=epochs, batch_size=batch_size,
                     val_fraction=0.0, test_fraction=0.0)
    dtype = autocast_dtype(config.precision, torch.device("cpu"))
    precision = str(dtype).replace("torch.", "") if dtype else "float32"
    began = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # keep the table readable
        history = run_experiment(config, folder, out, device="cpu", progress=False)
    return time.perf_counter() - began, history[-1]["train_loss"], f"{precision} autocast"


def write_photos(source: Path, folder: Path, count: int) -> int:
    """The first `count` distinct faces of a zip, as their original files; how many there were."""
    seen: set[str] = set()
    with zipfile.ZipFile(source) as archive:
        for name in sorted(archive.namelist()):
            if len(seen) == count:
                break
            if Path(name).suffix.lower() not in SUFFIXES or Path(name).name.startswith("._"):
                continue
            data = archive.read(name)
            # Distinct by pixels, as load_faces counts them, so both trainers see every file.
            pixels = Image.open(io.BytesIO(data)).convert("RGB").tobytes()
            if (digest := hashlib.sha256(pixels).hexdigest()) not in seen:
                seen.add(digest)
                (folder / f"{len(seen):05d}-{Path(name).name}").write_bytes(data)
    return len(seen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared/data/cats.zip",
                        help="a zip of cat faces (default: ../shared/data/cats.zip)")
    parser.add_argument("--photos", type=int, default=3000, help="distinct faces to train on")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    args = parser.parse_args()
    prepare_threads(args.threads, "low")

    # The first optimizer built in a process imports torch._dynamo (about 1.5 s here): import it
    # before either timed run, so that the one that happens to run first does not pay for both.
    importlib.import_module("torch._dynamo")

    with tempfile.TemporaryDirectory(prefix="train-speed-") as tmp:
        photos, run = Path(tmp) / "photos", Path(tmp) / "run"
        photos.mkdir()
        n = write_photos(args.data, photos, args.photos)  # not timed
        print(f"{n} distinct faces from {args.data}, {args.epochs} epoch(s), batch "
              f"{args.batch_size}, {torch.get_num_threads()} threads; order: ours, then original")
        ours_s, ours_loss, precision = train_ours(photos, run, args.epochs, args.batch_size)
        orig_s, orig_loss = train_original(photos, args.epochs, args.batch_size)

    images = n * args.epochs
    ours_rate, orig_rate = images / ours_s, images / orig_s
    print(f"\n{'trainer':<10} {'precision':<18} {'seconds':>8} {'img/s':>8} {'loss/image':>11}")
    print(f"{'ours':<10} {precision:<18} {ours_s:>8.1f} {ours_rate:>8.0f} {ours_loss:>11.1f}")
    print(f"{'original':<10} {'float32':<18} {orig_s:>8.1f} {orig_rate:>8.0f} {orig_loss:>11.1f}")
    print(f"\nspeed-up: {ours_rate / orig_rate:.2f}x (ours {ours_rate:.0f} img/s vs original "
          f"{orig_rate:.0f} img/s, {torch.get_num_threads()} threads, "
          f"{hardware_name(torch.device('cpu'))})")
    print("\nREADME row (epochs | ours | original | speed-up | loss per image, ours / original):")
    print(f"| {args.epochs} | {ours_rate:.0f} img/s | {orig_rate:.0f} img/s "
          f"| {ours_rate / orig_rate:.2f}x | {ours_loss:.1f} / {orig_loss:.1f} |")


if __name__ == "__main__":
    main()
