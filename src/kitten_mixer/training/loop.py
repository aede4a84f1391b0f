"""The trainer: one loop, resumable to the bit, safe to kill at any moment.

A run lives in one folder:

    model_dir/
      model.safetensors, config.json   the best model by validation loss (a saved-model folder)
      best-train/                      the best model by training loss (with a validation set)
      history.csv                      one row per epoch, per-image losses
      epochs/epoch-0003.safetensors    full training state every `epochs_per_checkpoint` epochs
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
import os
import platform
import re
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from kitten_mixer.errors import ModelFileError, TrainingError
from kitten_mixer.model import VAE
from kitten_mixer.model import load_weights
from kitten_mixer.storage import (
    load_checkpoint,
    remove_stale_temporaries,
    save_checkpoint,
    save_model,
    write_text,
)
from kitten_mixer.training import distributed

log = logging.getLogger(__name__)

HISTORY_COLUMNS = ("epoch", "train_loss", "train_reconstruction", "train_kl", "val_loss",
                   "val_reconstruction", "val_kl", "seconds", "images_per_second", "lr")
CHECKPOINT_NAME = re.compile(r"epoch-(\d+)\.safetensors$")
# How often (in steps) the loop looks at the loss on the host; each look costs a sync.
CHECK_EVERY = 50


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" is the GPU when there is one, else the CPU; under torchrun, this rank's GPU."""
    if str(device) == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise TrainingError("device 'cuda' asked for, but this machine has no usable GPU")
        if device.index is None and distributed.launched_by_torchrun():
            device = torch.device("cuda", distributed.local_rank())
    return device


def hardware_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model and core count, for the record."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    return f"{name}, {os.cpu_count()} cores"


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for "auto", "bf16", "fp16" or "fp32" (None: no autocast)."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        if device.type != "cuda":
            raise TrainingError("fp16 autocast needs a GPU; use bf16 or fp32 on the CPU")
        return torch.float16
    if precision != "auto":
        raise TrainingError(f"precision must be auto, bf16, fp16 or fp32, not {precision!r}")
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    if device.type == "cpu" and torch.backends.mkldnn.is_available() \
            and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        # Only CPUs with native bf16 (AVX-512 BF16 or AMX) gain from it; others emulate it.
        return torch.bfloat16
    return None


def find_checkpoints(model_dir: str | Path) -> list[tuple[int, Path]]:
    """(epoch, path) of every epoch checkpoint in a run folder, newest first."""
    folder = Path(model_dir) / "epochs"
    found = []
    for path in folder.glob("epoch-*.safetensors"):
        match = CHECKPOINT_NAME.search(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found, reverse=True)


def _as_images(batch: Any, device: torch.device, channels_last: bool) -> torch.Tensor:
    """A batch from any loader (tensor, or (images, labels) as torchvision gives) as floats."""
    if isinstance(batch, (list, tuple)):
        batch = batch[0]
    x = batch.to(device, non_blocking=True)
    x = x.float().div_(255) if x.dtype == torch.uint8 else x.float()
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


class _Accumulator:
    """Per-image sums of (loss, reconstruction, KL) kept on the device: no sync per step."""

    def __init__(self, device: torch.device):
        self.sums = torch.zeros(3, device=device, dtype=torch.float64)
        self.images = torch.zeros((), device=device, dtype=torch.float64)

    def add(self, terms: tuple[torch.Tensor, ...], n: int) -> None:
        self.sums += torch.stack([t.detach().double() for t in terms]) * n
        self.images += n

    def finite(self) -> bool:
        return bool(torch.isfinite(self.sums).all())

    def means(self) -> tuple[list[float], int]:
        sums = distributed.sum_across_ranks(torch.cat([self.sums, self.images.view(1)]))
        n = int(sums[3].item())
        return [v / max(n, 1) for v in sums[:3].tolist()], n


def _loss_terms(loss_function: nn.Module, x, x_hat, mean, log_var) -> tuple[torch.Tensor, ...]:
    if hasattr(loss_function, "terms"):
        return tuple(loss_function.terms(x, x_hat, mean, log_var))
    total = loss_function(x, x_hat, mean, log_var)  # any loss with the original's signature
    nan = torch.full_like(total, float("nan"))
    return total, nan, nan


def _run_epoch(net: nn.Module, loader: Iterable, loss_function: nn.Module,
               optimizer: torch.optim.Optimizer | None, device: torch.device,
               autocast_dtype: torch.dtype | None, channels_last: bool,
               bar: tqdm | None, what: str, grad_clip: float | None = None
               ) -> tuple[list[float], int]:
    """One pass over `loader`: training when an optimizer is given, else evaluation."""
    training = optimizer is not None
    net.train(training)
    totals = _Accumulator(device)
    grad = torch.enable_grad() if training else torch.no_grad()
    with grad:
        for step, batch in enumerate(loader, 1):
            x = _as_images(batch, device, channels_last)
            with torch.autocast(device.type, dtype=autocast_dtype or torch.float32,
                                enabled=autocast_dtype is not None):
                x_hat, mean, log_var = net(x)
            terms = _loss_terms(loss_function, x, x_hat, mean, log_var)
            if training:
                optimizer.zero_grad(set_to_none=True)
                terms[0].backward()
                if grad_clip:
                    nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
                optimizer.step()
                if hasattr(loss_function, "step"):
                    loss_function.step()
            totals.add(terms, len(x))
            # No point training on after a NaN: the caller reports it. Not under DDP, where a
            # rank that left the loop early would leave the others waiting for its gradients.
            if step % CHECK_EVERY == 0 and not distributed.is_distributed() \
                    and not totals.finite():
                break
            if bar is not None:
                bar.update(len(x))
                if step % 20 == 0:
                    mean_loss = totals.sums[0].item() / totals.images.item()
                    bar.set_postfix_str(f"{what} loss {mean_loss:.2f}")
    return totals.means()


def _stats_row(epoch: int, train: list[float], val: list[float] | None, seconds: float,
               images: int, train_seconds: float, lr: float) -> dict[str, float]:
    nan = float("nan")
    val = val or [nan, nan, nan]
    train, val = [round(v, 4) for v in train], [round(v, 4) for v in val]
    return {"epoch": epoch, "train_loss": train[0], "train_reconstruction": train[1],
            "train_kl": train[2], "val_loss": val[0], "val_reconstruction": val[1],
            "val_kl": val[2], "seconds": round(seconds, 3),
            "images_per_second": round(images / max(train_seconds, 1e-9), 1), "lr": lr}


def _write_history(path: Path, history: list[dict[str, float]]) -> None:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HISTORY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    write_text(path, out.getvalue())


def _describe(optimizer: torch.optim.Optimizer, loss_function: nn.Module, loader: Iterable,
              epochs: int, autocast_dtype: torch.dtype | None, device: torch.device) -> dict:
    """The training settings that config.json records beside the weights."""
    group = optimizer.param_groups[0]
    settings = {"optimizer": type(optimizer).__name__,
                "lr": group.get("lr"), "weight_decay": group.get("weight_decay"),
                "batch_size": getattr(loader, "batch_size", None),
                "flip": getattr(loader, "flip", None), "epochs": epochs,
                "precision": str(autocast_dtype).replace("torch.", "") if autocast_dtype
                else "float32",
                "device": device.type, "hardware": hardware_name(device),
                "threads": torch.get_num_threads(), "processes": distributed.world_size()}
    if hasattr(loss_function, "config"):
        settings["loss"] = loss_function.config.to_dict()
    return settings


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


def _restore_scheduler(scheduler, state: dict, optimizer: torch.optim.Optimizer) -> None:
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


def _restore(model_dir: Path, model: VAE, optimizer, scheduler, loss_function) -> dict | None:
    """Load the newest readable checkpoint into the run's objects; its state, or None."""
    for _, path in find_checkpoints(model_dir):
        try:
            state = load_checkpoint(path)
        except ModelFileError as e:
            log.warning("cannot resume from %s (%s); trying the one before", path.name, e)
            continue
        load_weights(model, state["model"], str(path))
        optimizer.load_state_dict(state["optimizer"])
        _match_parameter_layouts(optimizer)
        if scheduler is not None and state.get("scheduler") is not None:
            _restore_scheduler(scheduler, state["scheduler"], optimizer)
        if isinstance(loss_function, nn.Module) and state.get("loss"):
            loss_function.load_state_dict(state["loss"])
        torch.set_rng_state(state["rng"]["cpu"])
        if torch.cuda.is_available() and state["rng"].get("cuda"):
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        return state
    return None


def train(model: VAE, train_loader: Iterable, val_loader: Iterable | None, epochs: int,
          epochs_per_checkpoint: int, device: str | torch.device, model_dir: str | Path,
          optimizer: torch.optim.Optimizer, loss_function: nn.Module, *,
          scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
          seed: int | None = None, precision: str = "auto", channels_last: bool = True,
          compile: bool = False, resume: bool = True, progress: bool | None = None,
          keep_checkpoints: int = 3, grad_clip: float | None = None,
          info: dict[str, Any] | None = None
          ) -> list[dict[str, float]]:
    """Train `model` until `epochs` epochs are done in `model_dir`; return the history.

    Called as the original was, it resumes from the newest checkpoint in `model_dir/epochs/`,
    now restoring the optimizer, scheduler, loss warm-up and RNG state too, so that an
    interrupted run ends with the same weights as an uninterrupted one. `resume=False` refuses
    to touch a folder that already holds a run. Losses are per image. A non-finite loss stops
    the run with TrainingError; the files on disk keep the last good state.

    `grad_clip` caps the gradient norm of each step.
    Epoch checkpoints beyond the newest `keep_checkpoints` are deleted (0 keeps them all).
    Under torchrun, each process trains on its shard of `train_loader` (a FaceLoader built
    with its rank) and rank 0 alone writes files. `info` goes into the saved config.json.
    """
    device = resolve_device(device)
    distributed.init_distributed(device)
    main_process = distributed.rank() == 0
    autocast_dtype = resolve_precision(precision, device)
    model_dir = Path(model_dir)
    channels_last = channels_last and device.type in ("cpu", "cuda")
    if epochs_per_checkpoint < 1:
        raise TrainingError("epochs_per_checkpoint must be at least 1")

    model.to(device)
    if isinstance(loss_function, nn.Module):
        loss_function.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)

    if main_process and model_dir.is_dir():
        remove_stale_temporaries(model_dir)
    state = None
    if find_checkpoints(model_dir):
        if not resume:
            raise TrainingError(f"{model_dir} already holds a training run: resume it, "
                                "or train into an empty folder")
        state = _restore(model_dir, model, optimizer, scheduler, loss_function)
        if state is None:
            raise TrainingError(f"{model_dir}/epochs: no checkpoint there can be read")
    elif seed is not None:
        torch.manual_seed(seed + distributed.rank())
    start = state["epoch"] if state else 0
    history: list[dict[str, float]] = state["history"] if state else []
    best = state["best"] if state else {"val": math.inf, "train": math.inf}
    settings = _describe(optimizer, loss_function, train_loader, epochs, autocast_dtype, device)
    if state and main_process:
        log.info("resumed from epoch %d in %s", start, model_dir)

    net: nn.Module = model
    if distributed.is_distributed():
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    if compile:
        net = torch.compile(net)
    show_bar = main_process and (sys.stderr.isatty() if progress is None else progress)

    for epoch in range(start + 1, epochs + 1):
        for loader in (train_loader, val_loader):
            if hasattr(loader, "set_epoch"):
                loader.set_epoch(epoch)
        began = time.perf_counter()
        bar = tqdm(total=len(getattr(train_loader, "images", [])) // distributed.world_size()
                   or None, desc=f"epoch {epoch}/{epochs}", unit="img", leave=False) \
            if show_bar else None
        train_stats, n_train = _run_epoch(net, train_loader, loss_function, optimizer, device,
                                          autocast_dtype, channels_last, bar, "train",
                                          grad_clip)
        train_seconds = time.perf_counter() - began
        val_stats = None
        if val_loader is not None:
            val_stats, _ = _run_epoch(net, val_loader, loss_function, None, device,
                                      autocast_dtype, channels_last, None, "val")
        if bar is not None:
            bar.close()
        losses = [train_stats[0]] + ([val_stats[0]] if val_stats else [])
        bad = [v for v in losses if not math.isfinite(v)]
        if bad:
            saved = find_checkpoints(model_dir)
            where = saved[0][1] if saved else "none yet"
            raise TrainingError(f"the loss became {bad[0]} in epoch {epoch}: training stopped "
                                f"and nothing was saved; last good checkpoint: {where}. "
                                "A lower learning rate may help.")
        lr = optimizer.param_groups[0]["lr"]  # the rate this epoch ran at
        if scheduler is not None:
            scheduler.step()
        row = _stats_row(epoch, train_stats, val_stats, time.perf_counter() - began, n_train,
                         train_seconds, lr)
        history.append(row)
        if main_process:
            _save_epoch(model_dir, model, optimizer, scheduler, loss_function, history, best,
                        row, epoch, epochs, epochs_per_checkpoint, settings, info or {})
            if keep_checkpoints:
                for _, old in find_checkpoints(model_dir)[keep_checkpoints:]:
                    old.unlink(missing_ok=True)
            print(_epoch_line(row, epochs), flush=True)
        distributed.barrier()
    return history


def _epoch_line(row: dict[str, float], epochs: int) -> str:
    text = (f"epoch {row['epoch']}/{epochs}  train {row['train_loss']:.2f} "
            f"(rec {row['train_reconstruction']:.2f}, kl {row['train_kl']:.2f})")
    if math.isfinite(row["val_loss"]):
        text += f"  val {row['val_loss']:.2f}"
    return text + f"  {row['images_per_second']:.0f} img/s  {row['seconds']:.1f} s"


def _save_epoch(model_dir: Path, model: VAE, optimizer, scheduler, loss_function,
                history: list[dict], best: dict, row: dict, epoch: int, epochs: int,
                epochs_per_checkpoint: int, settings: dict, info: dict) -> None:
    """Everything rank 0 writes after an epoch, each file atomically."""
    _write_history(model_dir / "history.csv", history)
    metrics = {k: v for k, v in row.items() if not (isinstance(v, float) and math.isnan(v))}
    val_loss = row["val_loss"] if math.isfinite(row["val_loss"]) else row["train_loss"]
    if val_loss < best["val"]:
        best["val"] = val_loss
        save_model(model, model_dir, training=settings, **info, metrics=metrics)
    # Without validation the best model is already the best by training loss: one copy is enough.
    if math.isfinite(row["val_loss"]) and row["train_loss"] < best["train"]:
        best["train"] = row["train_loss"]
        save_model(model, model_dir / "best-train", training=settings, **info, metrics=metrics)
    if epoch % epochs_per_checkpoint == 0 or epoch == epochs:
        rng = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        save_checkpoint(model_dir / "epochs" / f"epoch-{epoch:04d}.safetensors", {
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "loss": loss_function.state_dict() if isinstance(loss_function, nn.Module) else {},
            "rng": rng,
            "history": history,
            "best": best,
        })


def evaluate(model: VAE, loader: Iterable, loss_function: nn.Module,
             device: str | torch.device = "auto") -> dict[str, float]:
    """Per-image loss, reconstruction and KL of `model` over `loader`."""
    device = resolve_device(device)
    model.to(device)
    (loss, rec, kl), n = _run_epoch(model, loader, loss_function.to(device), None, device,
                                    None, False, None, "eval")
    return {"loss": loss, "reconstruction": rec, "kl": kl, "images": n}
