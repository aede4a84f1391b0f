"""Experiments: `run_experiment` builds a training Run from a config and a data set, and runs it."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path

import torch

from kitten_mixer.data import FaceLoader, load_faces
from kitten_mixer.device import DEFAULT_DEVICE
from kitten_mixer.errors import DataError, ModelFileError, TrainingError
from kitten_mixer.loss import BetaLoss
from kitten_mixer.model import VAE, load_model
from kitten_mixer.storage import RunFolder, load_checkpoint
from kitten_mixer.training import distributed
from kitten_mixer.training.adversarial import Adversary, MixWatch
from kitten_mixer.training.config import ExperimentConfig
from kitten_mixer.training.loop import Run, fit
from kitten_mixer.training.perceptual import PerceptualLoss

log = logging.getLogger(__name__)


def stored_config(out: str | os.PathLike) -> ExperimentConfig | None:
    """The config of the run in `out`, from its newest readable checkpoint; None if none."""
    for _, path in RunFolder(out).checkpoints():
        try:
            config = load_checkpoint(path)["config"]
        except ModelFileError:
            continue
        try:
            return ExperimentConfig.from_dict(config) if config else None
        except (TypeError, ValueError) as e:  # such as a removed option, set
            raise TrainingError(f"{path}: {e}") from None
    return None


def run_experiment(config: ExperimentConfig, data: str | os.PathLike, out: str | os.PathLike,
                   device: str = DEFAULT_DEVICE, resume: bool = False,
                   progress: bool | None = None) -> list[dict[str, float]]:
    """Train `config` on the photos at `data` into the run folder `out`; return the history.

    `resume=True` continues the run in `out` with the config its checkpoints hold; only
    `config.epochs` is taken from the argument, so a run can grow. Under torchrun each process
    trains its shard and rank 0 writes.
    """
    stored = stored_config(out) if resume else None
    if stored is not None:
        config = replace(stored, epochs=config.epochs)
    torch_device = distributed.start(device)

    faces = load_faces(data, (config.model.image_h, config.model.image_w))
    splits = faces.split(config.val_fraction, config.test_fraction)
    if len(splits["train"]) == 0:
        raise DataError(f"{data}: too few distinct photos to train on ({len(faces)})")
    if distributed.rank() == 0:
        print(f"{data}: {faces.summary()}; split into "
              + ", ".join(f"{len(part)} {name}" for name, part in splits.items()), flush=True)
    shard = {"rank": distributed.rank(), "world_size": distributed.world_size()}
    train_loader = FaceLoader(splits["train"].images, config.batch_size, shuffle=True,
                              flip=config.flip, shift=config.shift, seed=config.seed, **shard)
    val_loader = FaceLoader(splits["val"].images, config.batch_size, shuffle=False, **shard) \
        if len(splits["val"]) else None

    torch.manual_seed(config.seed)
    model = VAE.from_config(config.model)
    if config.init and stored is None:
        _start_from(model, config.init)
    adversary = Adversary(config.adversarial, model) if config.adversarial else None
    if adversary is not None and len(splits["val"]) >= 2:
        adversary.watch = MixWatch(splits["val"].images[:12], Path(out) / "mixes")
    perceptual = PerceptualLoss(config.perceptual, model) if config.perceptual else None
    if config.arc_centre:  # the init model's encoder, frozen: the same on resuming
        centre = codes_centre(load_model(config.init, "cpu")[0].float(), splits["train"].images)
        for term in (adversary, perceptual):
            if term is not None:
                term.centre = centre
    trained = _decoder(model) if config.decoder_only or (
        config.adversarial and config.adversarial.decoder_only) else _groups(model, config)
    # The fused kernel updates all 7.5 M parameters of v6 in 4 ms on the CPU, the default
    # per-tensor loop in 25 ms: a fifth of a training step.
    optimizer = torch.optim.AdamW(trained, lr=config.lr,
                                  weight_decay=config.weight_decay,
                                  fused=torch_device.type in ("cpu", "cuda"))
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.epochs) \
        if config.lr_schedule == "cosine" else None
    describe = {
        "training": {"optimizer": "AdamW", "lr": config.lr, "decoder_lr": config.decoder_lr,
                     "weight_decay": config.weight_decay,
                     "batch_size": config.batch_size, "flip": config.flip,
                     "epochs": config.epochs, "loss": config.loss.to_dict()},
        "experiment": config.to_dict(),
        "data": {"source": Path(data).name, "fingerprint": faces.fingerprint,
                 "files": faces.files, "distinct": len(faces), "duplicates": faces.duplicates,
                 "skipped": len(faces.skipped),
                 "splits": {name: len(part) for name, part in splits.items()}}}
    return fit(Run(model, optimizer, BetaLoss.from_config(config.loss), train_loader,
                   val_loader, RunFolder(out), config.epochs, torch_device, scheduler=scheduler,
                   epochs_per_checkpoint=config.epochs_per_checkpoint,
                   precision=config.precision, compile=config.compile,
                   grad_clip=config.grad_clip, seed=config.seed, resume=resume,
                   progress=progress, config=config.to_dict(), describe=describe,
                   adversary=adversary, perceptual=perceptual))


@torch.no_grad()
def codes_centre(model: VAE, faces: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """The mean of the codes (posterior means) of uint8 faces [N, 3, H, W]: the centre the
    package's arcs bend about once the model is shipped (its genes' mean)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total = sum(model.posterior(batch.to(device).float() / 255)[0].double().sum(0).cpu()
                for batch in faces.split(batch_size))
    model.train(was_training)
    return (total / len(faces)).float()


def _encoder_parts(model: VAE) -> tuple[torch.nn.Module, ...]:
    return model.encoder, model.mean, model.log_var


def _decoder(model: VAE) -> list[torch.nn.Parameter]:
    """Freeze the VAE's encoder (decoder_only); the parameters left to train."""
    for part in _encoder_parts(model):
        part.requires_grad_(False)
    return [p for p in model.parameters() if p.requires_grad]


def _groups(model: VAE, config: ExperimentConfig) -> list[torch.nn.Parameter] | list[dict]:
    """Every parameter, at lr; with decoder_lr, two groups: the encoder's at lr and the
    decoder's (everything else) at decoder_lr."""
    if config.decoder_lr is None:
        return list(model.parameters())
    encoder = {id(p) for part in _encoder_parts(model) for p in part.parameters()}
    return [{"params": [p for p in model.parameters() if id(p) in encoder]},
            {"params": [p for p in model.parameters() if id(p) not in encoder],
             "lr": config.decoder_lr}]


def _start_from(model: VAE, init: str) -> None:
    """Fine-tuning: the weights of the saved model at `init`, which must be of the same shape
    or lack only the config's refine block (which then starts as the identity)."""
    start, _ = load_model(init, "cpu")
    try:
        model.grow(start.float())
    except ValueError as error:
        raise TrainingError(f"{init}: its architecture differs from the config's model; "
                            "fine-tuning needs the same one, or one that adds a refine "
                            "block") from error
    log.info("starting from the weights of %s", init)
