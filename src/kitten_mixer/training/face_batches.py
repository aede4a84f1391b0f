"""Batches of windows for the face finder's networks, half with a face and half without, and
the loop that fits a network on fresh batches."""

from __future__ import annotations

import logging
import math
import time

import torch
import torch.nn.functional as F

from kitten_mixer.training.face_data import FaceWindows, to_float
from kitten_mixer.training.face_scenes import (
    FACE_IOU,
    NO_FACE_IOU,
    PART_IOU,
    jitter,
    paste_faces,
)

log = logging.getLogger(__name__)

BATCH = 160
# Half of every batch holds a face: this share of them pasted into a window, the rest from
# the labelled photos and the synthetic ones, half and half.
PASTED = 0.4
# The other half holds none: windows of the labelled photos, of the synthetic photos and of
# the pictures made in code, and the finder's own false finds on the photos (labelled and
# synthetic) and on the pictures, in these shares.
EMPTY_SHARES = {"photos": 0.3, "scenes": 0.1, "textures": 0.15, "mined": 0.3,
                "mined pictures": 0.15}


def _counts(total: int, shares: list[float], gen: torch.Generator) -> list[int]:
    """`total` split by `shares` (which need not sum to 1), the remainder drawn at random."""
    weights = torch.tensor(shares, dtype=torch.float64)
    exact = weights / weights.sum() * total
    counts = exact.floor().long()
    rest = total - int(counts.sum())
    if rest:
        extra = torch.multinomial(exact - counts, rest, replacement=True, generator=gen)
        counts += torch.bincount(extra, minlength=len(shares))
    return counts.tolist()


def _pick(bank: torch.Tensor, n: int, gen: torch.Generator) -> torch.Tensor:
    return bank[torch.randint(len(bank), (n,), generator=gen)]


def draw_batch(faces: torch.Tensor, backgrounds: torch.Tensor, real: list[FaceWindows],
               empty: dict[str, list[torch.Tensor]], size: int, context: float,
               gen: torch.Generator, coarse: float = 0.0):
    """Half windows with faces (pasted, or from the labelled and synthetic photos), half
    without (from the empty banks by their shares)."""
    half = BATCH // 2
    real = [bank for bank in real if len(bank)]
    shares = [PASTED] + [(1 - PASTED) / len(real)] * len(real) if real else [1.0]
    counts = _counts(half, shares, gen)
    images, targets, iou = paste_faces(faces, backgrounds, counts[0], size, context, gen)
    images, targets, iou = [images], [targets], [iou]
    for bank, n in zip(real, counts[1:]):
        pick = torch.randint(len(bank), (n,), generator=gen)
        images.append(to_float(bank.images[pick]))
        targets.append(bank.targets[pick])
        iou.append(bank.iou[pick])
    images, targets, iou = torch.cat(images), torch.cat(targets), torch.cat(iou)
    banks = [(bank, EMPTY_SHARES[name] / len(parts)) for name, parts in empty.items()
             for bank in parts if len(bank)]
    counts = _counts(half, [share for _, share in banks], gen)
    nothing = _mirrored(to_float(torch.cat([_pick(bank, n, gen)
                                          for (bank, _), n in zip(banks, counts)])), gen)
    images = jitter(torch.cat([images, nothing]), gen, coarse)
    label = torch.cat([(iou >= FACE_IOU).float(), torch.zeros(len(nothing))])
    known = torch.cat([(iou >= FACE_IOU) | (iou < NO_FACE_IOU),
                       torch.ones(len(nothing), dtype=torch.bool)])
    boxed = torch.cat([iou >= PART_IOU, torch.zeros(len(nothing), dtype=torch.bool)])
    targets = torch.cat([targets, torch.zeros(len(nothing), 4)])
    return images, label, known, boxed, targets


def _mirrored(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Windows without a face, half of them mirrored: still no face, and twice as many."""
    flip = torch.rand(len(images), generator=gen) < 0.5
    images[flip] = images[flip].flip(3)
    return images


def _loss(out: torch.Tensor, label, known, boxed, targets) -> torch.Tensor:
    loss = F.binary_cross_entropy_with_logits(out[known, 0], label[known])
    if boxed.any():
        loss = loss + 2 * F.smooth_l1_loss(out[boxed, 1:4], targets[boxed, :3], beta=0.1)
        tilted = boxed & ~targets[:, 3].isnan()
        if out.shape[1] > 4 and tilted.any():  # the refining network also reads the tilt
            tilt = targets[tilted, 3]
            loss = loss + F.mse_loss(out[tilted, 4:6], torch.stack([tilt.sin(), tilt.cos()], 1))
    return loss


def fit(net: torch.nn.Module, steps: int, faces: torch.Tensor, backgrounds: torch.Tensor,
        real: list[FaceWindows], empty: dict[str, list[torch.Tensor]], size: int,
        context: float, gen: torch.Generator, lr: float = 2e-3, coarse: float = 0.0) -> None:
    """`steps` Adam steps on fresh batches, the learning rate falling along a cosine; a
    `coarse` share of each batch's windows drawn from fewer pixels."""
    net.to(memory_format=torch.channels_last)  # twice as fast forward, the same numbers
    # Only what learns: a network on ImageNet's filters keeps them frozen.
    optimizer = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=lr)
    net.train()
    began = time.perf_counter()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr * (0.02 + 0.98 * (1 + math.cos(math.pi * step / steps)) / 2)
        images, *rest = draw_batch(faces, backgrounds, real, empty, size, context, gen, coarse)
        out = net(images.contiguous(memory_format=torch.channels_last))
        loss = _loss(out.reshape(len(images), -1), *rest)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 500 == 0 or step == steps - 1:
            log.info("%s step %d/%d loss %.4f (%.0f s)", type(net).__name__, step, steps,
                     loss.item(), time.perf_counter() - began)
    net.eval()
