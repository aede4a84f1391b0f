"""Training windows for the face finder: training faces pasted into photos the ways real photos
differ (scale, shift, tilt, a turned head's narrower face, colour, blur, noise), and windows of
photos that hold no face."""

from __future__ import annotations

import io
import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from kitten_mixer.faces.box import overlap, squares_to_boxes

# A window is a face when its square overlaps the face's square this much, and holds none below
# NO_FACE_IOU; in between (a part of a face) only the square's correction is learned.
FACE_IOU = 0.6
PART_IOU = 0.35
NO_FACE_IOU = 0.3
# Head tilts: most heads are nearly upright, some lean far (the labelled ones up to about 35°).
TILT_SPREAD = math.radians(15)
MAX_TILT = math.radians(40)
# A pasted face's edge fades over this share of its half-side, so no seam marks it.
FEATHER = 0.15


def _uniform(n: int, low: float, high: float, gen: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=gen)


def squares_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of matching rows of two sets of squares [N, 3] (centre x, centre y, side)."""
    lo = torch.maximum(a[:, :2] - a[:, 2:] / 2, b[:, :2] - b[:, 2:] / 2)
    hi = torch.minimum(a[:, :2] + a[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2)
    inter = (hi - lo).clamp(min=0).prod(dim=1)
    return inter / (a[:, 2] ** 2 + b[:, 2] ** 2 - inter)


def paste_faces(faces: torch.Tensor, backgrounds: torch.Tensor, n: int, size: int,
                context: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor,
                                                                torch.Tensor]:
    """`n` windows of size x size with a training face in each, near or off the window's square
    (its middle 1/context): images [n, 3, size, size] in [0, 1], targets [n, 4] (the face
    square's shift and log side relative to the window's square, and its tilt in radians) and
    the IoU of the two squares.

    `faces` are floats [F, 3, H, W]; `backgrounds` are uint8 photo windows [M, 3, size, size].
    """
    near = torch.rand(n, generator=gen) < 0.6
    shift = torch.where(near[:, None], _uniform(2 * n, -0.12, 0.12, gen).view(n, 2),
                        _uniform(2 * n, -0.6, 0.6, gen).view(n, 2))
    log_side = torch.where(near, _uniform(n, math.log(0.8), math.log(1.25), gen),
                           _uniform(n, math.log(0.45), math.log(2.2), gen))
    tilt = (torch.randn(n, generator=gen) * TILT_SPREAD).clamp(-MAX_TILT, MAX_TILT)
    # A head turned a little shows a narrower face; a mirrored face is as good a face.
    narrow = torch.where(torch.rand(n, generator=gen) < 0.3, _uniform(n, 0.7, 1.0, gen),
                         torch.ones(n))
    mirror = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)

    square = size / context
    side = square * log_side.exp()
    centre = shift * square  # from the window's middle, in pixels
    cos, sin = tilt.cos(), tilt.sin()
    # Output point u in [-1, 1]^2 -> face point q = (2 / side) R(-tilt) (u size / 2 - centre).
    rotation = torch.stack([torch.stack([cos, sin], 1), torch.stack([-sin, cos], 1)], 1)
    linear = rotation * (size / side)[:, None, None]
    offset = -(rotation @ centre[:, :, None])[:, :, 0] * (2 / side)[:, None]
    affine = torch.cat([linear, offset[:, :, None]], dim=2)
    affine[:, 0] *= (mirror / narrow)[:, None]
    grid = F.affine_grid(affine, [n, 3, size, size], align_corners=False)

    picked = faces[torch.randint(len(faces), (n,), generator=gen)]
    face = F.grid_sample(picked, grid, align_corners=False)
    alpha = ((1 - grid.abs()) / FEATHER).clamp(0, 1).prod(dim=3)[:, None]
    # Around the face: a photo (half), the same cat's fur (the face enlarged and blurred), or
    # the face's own edge mirrored outwards.
    behind = backgrounds[torch.randint(len(backgrounds), (n,), generator=gen)].float() / 255
    kind = torch.rand(n, generator=gen)
    fur = kind < 0.3
    if fur.any():
        zoom = _uniform(int(fur.sum()), 0.4, 0.65, gen).view(-1, 1, 1, 1)
        enlarged = F.grid_sample(picked[fur], grid[fur] * zoom, align_corners=False,
                                 padding_mode="reflection")
        behind[fur] = F.avg_pool2d(enlarged, 5, 1, 2, count_include_pad=False)
    mirrored = kind > 0.8
    if mirrored.any():
        face[mirrored] = F.grid_sample(picked[mirrored], grid[mirrored], align_corners=False,
                                       padding_mode="reflection")
        alpha[mirrored] = 1.0
    images = alpha * face + (1 - alpha) * behind
    targets = torch.cat([shift, log_side[:, None], tilt[:, None]], dim=1)
    reference = torch.tensor([[0.0, 0.0, 1.0]]).expand(n, 3)
    iou = squares_iou(torch.cat([shift, log_side.exp()[:, None]], 1), reference)
    return images, targets, iou


def jitter(images: torch.Tensor, gen: torch.Generator, coarse: float = 0.0) -> torch.Tensor:
    """Colour, light, blur and noise as they vary between photos, each image its own; and a
    `coarse` share of them drawn from fewer pixels (a third to all of their side), as a small
    face is when cut from a photo and enlarged."""
    n = len(images)
    if coarse:
        images = _coarse(images, coarse, gen)
    gain = (torch.randn(n, 1, 1, 1, generator=gen) * 0.25).exp()
    dim = torch.rand(n, 1, 1, 1, generator=gen) < 0.15  # dim rooms, black cats in shadow
    gain = torch.where(dim, gain * _uniform(n, 0.3, 0.6, gen).view(n, 1, 1, 1), gain)
    tint = (torch.randn(n, 3, 1, 1, generator=gen) * 0.08).exp()
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    contrast = (torch.randn(n, 1, 1, 1, generator=gen) * 0.2).exp()
    images = ((images - mean) * contrast + mean) * gain * tint
    grey = torch.rand(n, generator=gen) < 0.1
    images[grey] = images[grey].mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)
    blur = torch.rand(n, 1, 1, 1, generator=gen) * (torch.rand(n, 1, 1, 1, generator=gen) < 0.3)
    images = (1 - blur) * images + blur * F.avg_pool2d(images, 3, 1, 1, count_include_pad=False)
    noisy = (torch.rand(n, 1, 1, 1, generator=gen) < 0.3) * _uniform(n, 0.01, 0.04, gen).view(
        n, 1, 1, 1)
    images = images + noisy * torch.randn(images.shape, generator=gen)
    return images.clamp(0, 1)


def _coarse(images: torch.Tensor, share: float, gen: torch.Generator) -> torch.Tensor:
    """A copy where a `share` of the images were shrunk to a third to all of their side and
    enlarged again."""
    images = images.clone()
    size = images.shape[-1]
    picked = torch.nonzero(torch.rand(len(images), generator=gen) < share)[:, 0]
    sides = torch.randint(size // 3, size + 1, (len(picked),), generator=gen)
    for side in sides.unique().tolist():
        rows = picked[sides == side]
        small = F.interpolate(images[rows], size=side, mode="bilinear", antialias=True)
        images[rows] = F.interpolate(small, size=size, mode="bilinear")
    return images


def random_squares(width: int, height: int, labelled: np.ndarray, count: int, min_side: float,
                   rng: np.random.Generator) -> np.ndarray:
    """Up to `count` random squares (centre x, centre y, side) of a photo, of every size from
    `min_side` to its short side, overlapping no labelled face square by NO_FACE_IOU or more."""
    short = min(width, height)
    side = np.exp(rng.uniform(np.log(min_side), np.log(max(short, min_side * 1.01)), count))
    cx = rng.uniform(0, 1, count) * (width - side) + side / 2
    cy = rng.uniform(0, 1, count) * (height - side) + side / 2
    squares = np.stack([cx, cy, side], axis=1)
    if len(labelled):
        iou = overlap(squares_to_boxes(squares), squares_to_boxes(labelled))
        squares = squares[iou.max(axis=1) < NO_FACE_IOU]
    return squares


def jpeg_like(faces: torch.Tensor, share: float, rng: np.random.Generator) -> torch.Tensor:
    """A copy of uint8 faces [N, 3, H, W] where a `share` of them went through JPEG at a random
    quality, as uploaded photos often have."""
    faces = faces.clone()
    for i in np.nonzero(rng.uniform(size=len(faces)) < share)[0]:
        buffer = io.BytesIO()
        Image.fromarray(faces[i].permute(1, 2, 0).numpy()).save(
            buffer, "JPEG", quality=int(rng.integers(20, 80)))
        faces[i] = torch.from_numpy(np.array(Image.open(buffer).convert("RGB"))).permute(2, 0, 1)
    return faces
