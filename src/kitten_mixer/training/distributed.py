"""Just enough torch.distributed for `torchrun`: set-up, rank queries and sums across ranks."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

from kitten_mixer.device import DEFAULT_DEVICE, resolve_device


def launched_by_torchrun() -> bool:
    """Whether this process is one of several started by torchrun."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def start(device: str | torch.device = DEFAULT_DEVICE) -> torch.device:
    """The device this process trains on; under torchrun, having joined the process group
    (nccl between GPUs, gloo between CPUs)."""
    device = resolve_device(device)
    if dist.is_initialized() or not launched_by_torchrun():
        return device
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def sum_across_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of `tensor` over all ranks (itself when not distributed)."""
    if is_distributed():
        tensor = tensor.clone()
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def shutdown() -> None:
    """Leave the process group, if this process joined one, once every rank is leaving: a rank
    that exits while another still tears its connections down makes gloo's threads abort
    that one ("terminate called without an active exception")."""
    if dist.is_available() and dist.is_initialized():
        if dist.get_world_size() > 1:
            dist.barrier()
        dist.destroy_process_group()


def barrier() -> None:
    if is_distributed():
        dist.barrier()
