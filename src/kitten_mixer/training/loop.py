"""The training loop: one function that reads top to bottom, resumable to the bit, safe to kill.

`fit(run)` trains a `Run`, everything one training needs, already built: by `run_experiment`
from an ExperimentConfig (what `kitten-mixer train` runs), or by `train`, the original
project's call. The run folder's layout is storage.RunFolder's. After every epoch rank 0
writes the history, the best models and, on schedule, a checkpoint that holds the whole
state and the run's config, each file atomically: a run killed at any moment resumes from
its newest readable checkpoint and ends with the same weights as one never interrupted.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import torch
from torch import nn
from tqdm import tqdm

from kitten_mixer.device import (
    DEFAULT_DEVICE,
    autocast_context,
    autocast_dtype,
    hardware_name,
    resolve_device,
)
from kitten_mixer.errors import ModelFileError, TrainingError
from kitten_mixer.model import VAE, load_weights
from kitten_mixer.storage import (
    RunFolder,
    load_checkpoint,
    remove_stale_temporaries,
    save_checkpoint,
    save_model,
    write_history,
)
from kitten_mixer.training import distributed
from kitten_mixer.training.adversarial import Adversary
from kitten_mixer.training.perceptual import PerceptualLoss

log = logging.getLogger(__name__)

# How often (in steps) the loop looks at the loss on the host; each look costs a sync.
CHECK_EVERY = 50


class Loader(Protocol):
    """Batches of images [N, C, H, W] (uint8, or floats in [0, 1]), in an order set per epoch."""

    def __iter__(self) -> Iterator[torch.Tensor]: ...
    def __len__(self) -> int: ...
    def set_epoch(self, epoch: int) -> None: ...


class Objective(Protocol):
    """A loss with its parts, per image, and a step count (for a warm-up): BetaLoss."""

    def terms(self, x, x_hat, mean, log_var) -> tuple[torch.Tensor, ...]: ...
    def step(self) -> None: ...


@dataclass
class Run:
    """Everything one training run needs, built, and how to run it."""

    model: VAE
    optimizer: torch.optim.Optimizer
    loss: Objective
    train_loader: Loader
    val_loader: Loader | None
    folder: RunFolder
    epochs: int
    device: torch.device
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
    epochs_per_checkpoint: int = 1
    keep_checkpoints: int = 3  # the newest epoch checkpoints kept; 0 keeps them all
    precision: str = "auto"
    channels_last: bool = True
    compile: bool = False
    grad_clip: float | None = None  # largest gradient norm of a step
    seed: int | None = None
    resume: bool = True  # False: refuse a folder that already holds a run
    progress: bool | None = None  # a progress bar; None: when stderr is a terminal
    config: dict[str, Any] | None = None  # the ExperimentConfig, kept in every checkpoint
    adversary: Adversary | None = None  # the adversarial stage's discriminator, if any
    perceptual: PerceptualLoss | None = None  # the perceptual term, if any
    describe: dict[str, Any] = field(default_factory=dict)  # for the saved models' config.json


def fit(run: Run) -> list[dict[str, float]]:
    """Train `run` until its epochs are done in its folder; return the history, one row per
    epoch of per-image losses. A non-finite loss stops it with TrainingError; the files on
    disk keep the last good state."""
    if run.epochs_per_checkpoint < 1:
        raise TrainingError("epochs_per_checkpoint must be at least 1")
    main_process = distributed.rank() == 0
    where = Placement(run.device, autocast_dtype(run.precision, run.device),
                      run.channels_last and run.device.type in ("cpu", "cuda"))
    run.model.to(run.device)
    run.loss.to(run.device)
    if run.adversary is not None:
        run.adversary.to(run.device)
    if run.perceptual is not None:
        run.perceptual.to(run.device)
    if where.channels_last:  # the perceptual network too: its convolutions 1.3x as fast
        run.model.to(memory_format=torch.channels_last)
        if run.perceptual is not None:
            run.perceptual.to(memory_format=torch.channels_last)

    # Resume from the newest readable checkpoint, or start afresh.
    if main_process and run.folder.path.is_dir():
        remove_stale_temporaries(run.folder.path)
    if run.folder.checkpoints():
        if not run.resume:
            raise TrainingError(f"{run.folder.path} already holds a training run: add --resume "
                                "to continue it, or train into an empty folder")
        done, history = _restore(run)
        if main_process:
            log.info("resumed from epoch %d in %s", done, run.folder.path)
    else:
        done, history = 0, []
        if run.seed is not None:
            torch.manual_seed(run.seed + distributed.rank())
    describe = _with_hardware(run, where.amp)

    net: nn.Module = run.model
    if distributed.is_distributed():
        net = nn.parallel.DistributedDataParallel(
            net, device_ids=[run.device.index] if run.device.type == "cuda" else None)
    if run.compile:
        net = torch.compile(net)
    show_bar = main_process and (sys.stderr.isatty() if run.progress is None else run.progress)

    for epoch in range(done + 1, run.epochs + 1):
        began = time.perf_counter()
        run.train_loader.set_epoch(epoch)
        bar = tqdm(total=len(run.train_loader), desc=f"epoch {epoch}/{run.epochs}",
                   unit="batch", leave=False) if show_bar else None
        adversary = run.adversary if run.adversary is not None \
            and epoch >= run.adversary.config.start_epoch else None
        train_terms, images = _pass(net, run.train_loader, run.loss, where, run.optimizer,
                                    run.grad_clip, bar, adversary, run.perceptual)
        train_seconds = time.perf_counter() - began
        val_terms = None
        if run.val_loader is not None:
            run.val_loader.set_epoch(epoch)
            with _averaged(run):
                val_terms, _ = _pass(net, run.val_loader, run.loss, where)
        if bar is not None:
            bar.close()
        _stop_if_diverged(epoch, train_terms, val_terms, run.folder)

        lr = run.optimizer.param_groups[0]["lr"]  # the rate this epoch ran at
        if run.scheduler is not None:
            run.scheduler.step()
        history.append(_history_row(epoch, train_terms, val_terms, time.perf_counter() - began,
                                    images / max(train_seconds, 1e-9), lr)
                       | (run.perceptual.summary() if run.perceptual is not None else {})
                       | (run.adversary.summary() if run.adversary is not None else {}))
        if main_process:
            _save_epoch(run, history, describe)
            print(_epoch_line(history[-1], run.epochs), flush=True)
        distributed.barrier()
    return history


class Placement(NamedTuple):
    """Where and how the tensors of a pass run."""

    device: torch.device
    amp: torch.dtype | None  # the autocast dtype; None: float32 throughout
    channels_last: bool


def _pass(net: nn.Module, loader: Iterable[torch.Tensor], loss: Objective, where: Placement,
          optimizer: torch.optim.Optimizer | None = None, grad_clip: float | None = None,
          bar: tqdm | None = None, adversary: Adversary | None = None,
          perceptual: PerceptualLoss | None = None) -> tuple[list[float], int]:
    """One pass over `loader`, training when an optimizer is given (with the perceptual term
    and against the adversary's discriminator too, when there are such): the per-image means
    of (loss, reconstruction, KL) and the number of images, summed over all ranks."""
    device, amp = where.device, where.amp
    training = optimizer is not None
    net.train(training)
    sums = torch.zeros(3, device=device, dtype=torch.float64)  # on the device: no sync a step
    count = 0
    with torch.enable_grad() if training else torch.no_grad():
        for step, batch in enumerate(loader, 1):
            x = batch.to(device, non_blocking=True)
            x = x.float().div_(255) if x.dtype == torch.uint8 else x.float()
            if where.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            autocast = autocast_context(device, amp)
            with autocast:
                x_hat, mean, log_var = net(x)
            terms = loss.terms(x, x_hat, mean, log_var)
            if training:
                objective, reconstruction = terms[0], terms[1]
                if perceptual is not None:
                    with autocast:
                        seen = perceptual(x, x_hat, mean).mean()
                    # Part of the reconstruction the adversarial weight is balanced against.
                    objective, reconstruction = objective + seen, reconstruction + seen
                if adversary is not None:
                    with autocast:
                        fooling, fakes = adversary.generator_term(x_hat, mean, reconstruction)
                    objective = objective + fooling
                optimizer.zero_grad(set_to_none=True)
                objective.backward()
                if grad_clip:
                    nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
                optimizer.step()
                loss.step()
                if adversary is not None:
                    adversary.decoder_stepped()
                    with autocast:
                        adversary.discriminator_step(x, fakes)
            sums += torch.stack([t.detach().double() for t in terms]) * len(x)
            count += len(x)
            # No point training on after a NaN: the caller reports it. Not under DDP, where a
            # rank that left the loop early would leave the others waiting for its gradients.
            if step % CHECK_EVERY == 0 and not distributed.is_distributed() \
                    and not torch.isfinite(sums).all():
                break
            if bar is not None:
                bar.update()
                if step % 20 == 0:
                    bar.set_postfix_str(f"loss {sums[0].item() / count:.2f}")
    totals = distributed.sum_across_ranks(
        torch.cat([sums, torch.tensor([count], device=device, dtype=torch.float64)]))
    n = int(totals[3].item())
    return [v / max(n, 1) for v in totals[:3].tolist()], n


def _stop_if_diverged(epoch: int, train: list[float], val: list[float] | None,
                      folder: RunFolder) -> None:
    bad = [v for v in [train[0], *(val or [])[:1]] if not math.isfinite(v)]
    if bad:
        saved = folder.checkpoints()
        raise TrainingError(f"the loss became {bad[0]} in epoch {epoch}: training stopped and "
                            "nothing was saved; last good checkpoint: "
                            f"{saved[0][1] if saved else 'none yet'}. "
                            "A lower learning rate may help.")


def _history_row(epoch: int, train: list[float], val: list[float] | None, seconds: float,
                 images_per_second: float, lr: float) -> dict[str, float]:
    train = [round(v, 4) for v in train]
    val = [round(v, 4) for v in val] if val else [math.nan] * 3
    return {"epoch": epoch, "train_loss": train[0], "train_reconstruction": train[1],
            "train_kl": train[2], "val_loss": val[0], "val_reconstruction": val[1],
            "val_kl": val[2], "seconds": round(seconds, 3),
            "images_per_second": round(images_per_second, 1), "lr": lr}


def _epoch_line(row: dict[str, float], epochs: int) -> str:
    text = (f"epoch {row['epoch']}/{epochs}  train {row['train_loss']:.2f} "
            f"(rec {row['train_reconstruction']:.2f}, kl {row['train_kl']:.2f})")
    if math.isfinite(row["val_loss"]):
        text += f"  val {row['val_loss']:.2f}"
    return text + f"  {row['images_per_second']:.0f} img/s  {row['seconds']:.1f} s"


def _with_hardware(run: Run, amp: torch.dtype | None) -> dict[str, Any]:
    """The run's description for config.json, with where and how it is trained."""
    training = {**run.describe.get("training", {}),
                "precision": str(amp).replace("torch.", "") if amp else "float32",
                "device": run.device.type, "hardware": hardware_name(run.device),
                "threads": torch.get_num_threads(), "processes": distributed.world_size()}
    return {**run.describe, "training": training}


def _save_epoch(run: Run, history: list[dict[str, float]], describe: dict[str, Any]) -> None:
    """What rank 0 writes after an epoch: the history, the best models, a checkpoint."""
    folder, row = run.folder, history[-1]
    write_history(folder.history, history)
    metrics = {k: v for k, v in row.items() if not (isinstance(v, float) and math.isnan(v))}
    # The best model by validation loss (training loss without a validation set)...
    scores = [r["val_loss"] if math.isfinite(r["val_loss"]) else r["train_loss"]
              for r in history]
    # ...except against a discriminator or with a perceptual term, which make the likelihood
    # worse on purpose: there the newest model is the one to keep.
    newest = run.adversary is not None or run.perceptual is not None
    with _averaged(run):
        if scores[-1] < min(scores[:-1], default=math.inf) or newest:
            save_model(run.model, folder.path, **describe, metrics=metrics)
        # ...and by training loss, when that is another one.
        if math.isfinite(row["val_loss"]) and \
                row["train_loss"] < min((r["train_loss"] for r in history[:-1]),
                                        default=math.inf):
            save_model(run.model, folder.best_train.path, **describe, metrics=metrics)

    epoch = int(row["epoch"])
    if epoch % run.epochs_per_checkpoint == 0 or epoch == run.epochs:
        rng = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        save_checkpoint(folder.checkpoint(epoch), {
            "epoch": epoch,
            "config": run.config,
            "model": run.model.state_dict(),
            "optimizer": run.optimizer.state_dict(),
            "scheduler": run.scheduler.state_dict() if run.scheduler is not None else None,
            "loss": run.loss.state_dict(),
            "adversary": run.adversary.checkpoint() if run.adversary is not None else None,
            "rng": rng,
            "history": history,
        })
        if run.keep_checkpoints:
            for _, old in folder.checkpoints()[run.keep_checkpoints:]:
                old.unlink(missing_ok=True)


def _averaged(run: Run) -> AbstractContextManager[None]:
    """The weights to validate and save: the adversarial stage's moving average, if it keeps
    one; checkpoints always hold the weights being trained."""
    return run.adversary.averaged() if run.adversary is not None else nullcontext()


def _restore(run: Run) -> tuple[int, list[dict[str, float]]]:
    """Load the newest readable checkpoint into the run's objects: (its epoch, its history)."""
    for _, path in run.folder.checkpoints():
        try:
            state = load_checkpoint(path)
        except ModelFileError as e:
            log.warning("cannot resume from %s (%s); trying the one before", path.name, e)
            continue
        load_weights(run.model, state["model"], str(path))
        run.optimizer.load_state_dict(state["optimizer"])
        _match_parameter_layouts(run.optimizer)
        if run.scheduler is not None and state["scheduler"] is not None:
            _restore_scheduler(run.scheduler, state["scheduler"], run.optimizer)
        run.loss.load_state_dict(state["loss"])
        if run.adversary is not None and state.get("adversary") is not None:
            run.adversary.restore(state["adversary"])
            _match_parameter_layouts(run.adversary.optimizer)
        torch.set_rng_state(state["rng"]["cpu"])
        if torch.cuda.is_available() and state["rng"].get("cuda"):
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        return state["epoch"], state["history"]
    raise TrainingError(f"{run.folder.path}/epochs: no checkpoint there can be read")


def _match_parameter_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give each restored moment (exp_avg, ...) its parameter's memory layout.

    Checkpoints store tensors contiguous, but the parameters of a channels-last model are not.
    The fused Adam kernels walk parameter and moments as raw memory, so moments in another
    layout would be paired with the wrong weights: the first epoch after a resume then jumped
    by hundreds of nats before the moments re-estimated themselves.
    """
    for param, param_state in optimizer.state.items():
        for name, value in param_state.items():
            if (isinstance(value, torch.Tensor) and value.shape == param.shape
                    and value.stride() != param.stride()):
                param_state[name] = torch.empty_like(param, dtype=value.dtype).copy_(value)


def _restore_scheduler(scheduler: torch.optim.lr_scheduler.LRScheduler, state: dict,
                       optimizer: torch.optim.Optimizer) -> None:
    """Load a scheduler's state, keeping the length of a cosine schedule built for this run.

    A run resumed with more epochs than it was started with then follows the cosine of the new
    length from where it stopped, and anneals to zero at its new end, instead of finishing the
    old cosine and climbing back up.
    """
    planned = getattr(scheduler, "T_max", None)
    scheduler.load_state_dict(state)
    if not isinstance(scheduler, torch.optim.lr_scheduler.CosineAnnealingLR) \
            or planned == scheduler.T_max:
        return
    log.info("the cosine schedule now ends after %d epochs instead of %d",
             planned, scheduler.T_max)
    scheduler.T_max = planned
    progress = (1 + math.cos(math.pi * scheduler.last_epoch / planned)) / 2
    for group, base in zip(optimizer.param_groups, scheduler.base_lrs):
        group["lr"] = scheduler.eta_min + (base - scheduler.eta_min) * progress


def validation_loss(model: VAE, loader: Loader, loss: Objective,
                    device: str | torch.device = DEFAULT_DEVICE) -> dict[str, float]:
    """The per-image loss, reconstruction and KL of `model` over `loader`, in float32."""
    device = resolve_device(device)
    model.to(device)
    (total, reconstruction, kl), n = _pass(model, loader, loss.to(device),
                                           Placement(device, None, False))
    return {"loss": total, "reconstruction": reconstruction, "kl": kl, "images": n}
