"""The original project's call, `train(model, train_loader, val_loader, epochs, ...)`, on `fit`.

Code written for the original keeps working: its loaders may be torch DataLoaders that give
(images, labels), and its loss any module called as `loss(x, x_hat, mean, log_var)`. Both are
adapted here to what the loop reads; the loop itself knows nothing of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import nn

from kitten_mixer.data import FaceLoader
from kitten_mixer.loss import BetaLoss
from kitten_mixer.model import VAE
from kitten_mixer.storage import RunFolder
from kitten_mixer.training import distributed
from kitten_mixer.training.loop import Loader, Run, fit


def train(model: VAE, train_loader: Iterable, val_loader: Iterable | None, epochs: int,
          epochs_per_checkpoint: int, device: str | torch.device, model_dir: str | os.PathLike,
          optimizer: torch.optim.Optimizer, loss_function: nn.Module, **options: Any
          ) -> list[dict[str, float]]:
    """Train `model` until `epochs` epochs are done in `model_dir`; return the history.

    As the original, it resumes from the newest checkpoint in `model_dir/epochs/`, now with
    the optimizer, scheduler, loss warm-up and RNG state too. `options` are Run's optional
    fields (scheduler, seed, precision, resume, progress, keep_checkpoints, grad_clip...).
    """
    device = distributed.start(device)
    loss = loss_function if isinstance(loss_function, BetaLoss) else _TotalOnly(loss_function)
    group = optimizer.param_groups[0]
    training = {"optimizer": type(optimizer).__name__, "lr": group.get("lr"),
                "weight_decay": group.get("weight_decay"),
                "batch_size": getattr(train_loader, "batch_size", None),
                "flip": getattr(train_loader, "flip", None), "epochs": epochs}
    if isinstance(loss, BetaLoss):
        training["loss"] = loss.config.to_dict()
    describe = {"training": training, **options.pop("describe", {})}
    return fit(Run(model, optimizer, loss, _images(train_loader), _images(val_loader),
                   RunFolder(model_dir), epochs, device,
                   epochs_per_checkpoint=epochs_per_checkpoint, describe=describe, **options))


class _TotalOnly(nn.Module):
    """A loss that gives only its total: its parts are logged as NaN."""

    def __init__(self, loss: nn.Module):
        super().__init__()
        self.loss = loss

    def terms(self, x, x_hat, mean, log_var) -> tuple[torch.Tensor, ...]:
        total = self.loss(x, x_hat, mean, log_var)
        nan = torch.full_like(total, float("nan"))
        return total, nan, nan

    def step(self) -> None:
        """The original losses count no steps."""


def _images(loader: Iterable | None) -> Loader | None:
    """Any loader as the loop reads them: images alone, with an epoch to set."""
    return loader if loader is None or isinstance(loader, FaceLoader) else _ImagesOf(loader)


class _ImagesOf:
    """A loader of (images, labels) pairs, or of images, giving images alone."""

    def __init__(self, loader: Iterable):
        self.loader = loader

    def __iter__(self) -> Iterator[torch.Tensor]:
        for batch in self.loader:
            yield batch[0] if isinstance(batch, (list, tuple)) else batch

    def __len__(self) -> int:
        return len(self.loader)

    def set_epoch(self, epoch: int) -> None:
        sampler = getattr(self.loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):  # a DistributedSampler reshuffles per epoch
            sampler.set_epoch(epoch)
