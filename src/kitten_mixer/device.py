"""Where tensors run: the device for "auto", the autocast precision, and the hardware's name."""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path

import torch

from kitten_mixer.errors import KittenMixerError

DEFAULT_DEVICE = "auto"
PRECISIONS = ("auto", "bf16", "fp16", "fp32")


def resolve_device(device: str | torch.device = DEFAULT_DEVICE) -> torch.device:
    """"auto" is the GPU when there is one, else the CPU; under torchrun, this rank's GPU."""
    if str(device) == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise KittenMixerError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N") \
            from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise KittenMixerError("device 'cuda' asked for, but this machine has no usable GPU")
        if device.index is None and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for "auto", "bf16", "fp16" or "fp32" (None: no autocast)."""
    if precision not in PRECISIONS:
        raise KittenMixerError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        if device.type != "cuda":
            raise KittenMixerError("fp16 autocast needs a GPU; use bf16 or fp32 on the CPU")
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    if device.type == "cpu" and torch.backends.mkldnn.is_available() \
            and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        # Only CPUs with native bf16 (AVX-512 BF16 or AMX) gain from it; others emulate it.
        return torch.bfloat16
    return None


def autocast_context(device: torch.device, dtype: torch.dtype | None) -> torch.autocast:
    """Autocast to `dtype` (autocast_dtype's answer) on `device`; None: a context that leaves
    every operation in float32."""
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


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
