"""What both benchmarks do before timing anything."""

from __future__ import annotations

import os

import torch


def prepare_threads(threads: int | None, effect: str) -> None:
    """Set torch's thread count, and warn when another process is busy on this machine:
    the OpenMP threads of two busy processes collide and every timing suffers."""
    if threads:
        torch.set_num_threads(threads)
    if (busy := os.getloadavg()[0]) > 0.5:
        print(f"warning: load average {busy:.1f}: timings will be {effect} "
              "(try an idle machine)")
