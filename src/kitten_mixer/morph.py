"""Morphs and mixes in latent space: one weighted mix of codes, the path from one cat to another
that it traces, and a morph's frames with the files made of them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from kitten_mixer.errors import MorphError
from kitten_mixer.images import enlarge, gif_bytes, image_grid, png_bytes

METHODS = ("linear", "slerp")
# The straight line's midpoint between two codes is about a quarter shorter than either, and
# decodes softer than the same mix halfway along the arc (docs/results.md gives the shipped
# model's numbers, from `python scripts/model_numbers.py`). So morphs follow the arc by default.
# The arc bends about a centre: the origin, or better the centre of real cats' codes (a
# model's `KittenMixer.centre`), which keeps its midpoints among real cats (docs/results.md,
# "The arc's centre").
DEFAULT_METHOD = "slerp"
# A morph's two ends: fewer frames cannot go from one cat to the other.
MIN_STEPS = 2
MORPH_SUFFIXES = (".gif", ".png")
# Buss & Fillmore's iteration reaches the spherical mean of two codes in one step and of a few
# codes in a handful; the cap only guards against points spread over the whole sphere.
_MAX_ITERATIONS = 100
_TOLERANCE = 1e-12


def check_method(method: str) -> None:
    """MorphError unless `method` is one of METHODS."""
    if method not in METHODS:
        raise MorphError(f"method must be one of {METHODS}, not {method!r}")


def check_steps(steps: int) -> None:
    """MorphError unless a morph of `steps` frames can hold its two ends."""
    if steps < MIN_STEPS:
        raise MorphError(f"a morph needs at least {MIN_STEPS} steps (its two ends), not {steps}")


def mix_latents(codes: torch.Tensor, weights: torch.Tensor | Sequence[float] | None = None,
                method: str = DEFAULT_METHOD, centre: torch.Tensor | None = None
                ) -> torch.Tensor:
    """The code of one kitten mixed from codes [N, latent_dims], weighted (equally by default).

    "linear" is the weighted mean of the codes. "slerp" takes the weighted spherical (Karcher)
    mean of their directions and the weighted mean of their lengths, both seen from `centre`
    (a code [latent_dims]; None: the origin): for two codes, the point of the great-circle arc
    between them at the share of the second. The line does not depend on the centre.
    """
    codes = torch.as_tensor(codes)
    if codes.ndim != 2 or len(codes) == 0:
        raise MorphError("a mix needs at least one code")
    w = torch.ones(len(codes)) if weights is None else torch.as_tensor(weights)
    w = w.to(torch.float64)
    if w.shape != (len(codes),) or not torch.isfinite(w).all() or (w < 0).any() \
            or w.sum() <= 0:
        raise MorphError("weights: one non-negative number per cat, not all zero")
    check_method(method)
    return _centred(codes, w.unsqueeze(0), method, centre)[0]


def latent_path(a: torch.Tensor, b: torch.Tensor, ts: torch.Tensor | Sequence[float],
                method: str = DEFAULT_METHOD, centre: torch.Tensor | None = None
                ) -> torch.Tensor:
    """The points at fractions `ts` (0 to 1) of the way from a to b: [len(ts), latent_dims],
    each the mix of a and b weighted 1 - t and t (see `mix_latents`)."""
    check_method(method)
    t = torch.as_tensor(ts, dtype=torch.float64).reshape(-1, 1)
    if ((t < 0) | (t > 1)).any():
        raise MorphError("a path's fractions run from 0 (a) to 1 (b)")
    codes = torch.stack([a.flatten(), b.flatten()])
    return _centred(codes, torch.cat([1 - t, t], dim=1), method, centre)


def interpolate_latents(a: torch.Tensor, b: torch.Tensor, steps: int = 11,
                        method: str = DEFAULT_METHOD, centre: torch.Tensor | None = None
                        ) -> torch.Tensor:
    """`steps` points from a (t=0) to b (t=1), both included: [steps, latent_dims].

    "slerp" (the default) follows the great circle between the two codes about `centre` (None:
    the origin), its radius going evenly from one length to the other: in high dimensions it
    keeps the midpoints as far from the centre as real codes are, where the straight line
    ("linear") cuts through the less likely middle.
    """
    check_steps(steps)
    return latent_path(a, b, torch.linspace(0, 1, steps, dtype=torch.float64), method, centre)


def _centred(codes: torch.Tensor, weights: torch.Tensor, method: str,
             centre: torch.Tensor | None) -> torch.Tensor:
    """`_mixes` of codes [N, D] seen from `centre` [D] (None: the origin), in float32."""
    codes = codes.double()
    if centre is not None:
        centre = torch.as_tensor(centre, dtype=torch.float64).flatten()
        if centre.shape != codes.shape[1:]:
            raise MorphError(f"the centre must be one code of {codes.shape[1]} numbers, "
                             f"not {tuple(centre.shape)}")
    return _mixes(codes, weights, method, centre).float()


def _mixes(codes: torch.Tensor, weights: torch.Tensor, method: str,
           centre: torch.Tensor | None = None) -> torch.Tensor:
    """One mix of float64 codes [N, D] per row of non-negative weights [T, N], the arc's seen
    from float64 `centre` [D] (None: the origin): [T, D]."""
    weights = weights / weights.sum(dim=1, keepdim=True)
    mixes = weights @ codes
    if method == "slerp":
        seen = codes if centre is None else codes - centre
        lengths = seen.norm(dim=1)
        used = weights > 0
        # A code at the centre has no direction, and directions that cancel out have no mean:
        # those mixes stay on the line.
        spherical = ~(used & (lengths < 1e-12)).any(dim=1)
        units = seen / lengths.clamp(min=1e-12).unsqueeze(1)
        start = weights @ units
        spherical &= start.norm(dim=1) > 1e-6
        if spherical.any():
            directions = _spherical_means(units, weights[spherical], start[spherical])
            mixes[spherical] = directions * (weights[spherical] @ lengths).unsqueeze(1)
            if centre is not None:
                mixes[spherical] += centre
    alone = (weights > 0).sum(dim=1) == 1  # one cat mixed with nothing is itself, exactly
    mixes[alone] = codes[weights[alone].argmax(dim=1)]
    return mixes


def _spherical_means(units: torch.Tensor, weights: torch.Tensor, start: torch.Tensor
                     ) -> torch.Tensor:
    """The weighted Karcher means [T, D] of unit vectors [N, D] (Buss & Fillmore 2001): step
    from the current mean along the weighted mean of the points' logarithm maps, until still."""
    mean = start / start.norm(dim=1, keepdim=True)
    for _ in range(_MAX_ITERATIONS):
        cos = (mean @ units.T).clamp(-1, 1)  # [T, N]
        angle = torch.arccos(cos)
        # log_mean(u) = (u - cos * mean) * angle / sin(angle), which tends to u - mean near 0
        scale = torch.where(angle > 1e-8, angle / torch.sin(angle).clamp(min=1e-300),
                            torch.ones_like(angle))
        pull = weights * scale
        step = pull @ units - (pull * cos).sum(dim=1, keepdim=True) * mean
        length = step.norm(dim=1, keepdim=True)
        along = torch.where(length > 0, torch.sin(length) / length.clamp(min=1e-300),
                            torch.ones_like(length))
        mean = torch.cos(length) * mean + along * step
        mean = mean / mean.norm(dim=1, keepdim=True)
        if length.max() < _TOLERANCE:
            break
    return mean


def morph_file(path: str | os.PathLike) -> Path:
    """The path of a morph's file; MorphError unless it ends in .gif or .png."""
    path = Path(path)
    if path.suffix.lower() not in MORPH_SUFFIXES:
        raise MorphError(f"{path}: the output must end in .gif or .png")
    return path


@dataclass(frozen=True)
class Morph:
    """The kittens from cat a (t = 0) to cat b (t = 1), and the two cats' faces as the model
    saw them, when they came as photos."""

    frames: list[Image.Image]
    ends: tuple[Image.Image, Image.Image] | None = None

    def enlarged(self, zoom: int) -> Morph:
        """The same morph with every picture `zoom` times larger."""
        if zoom == 1:
            return self
        ends = None if self.ends is None else (enlarge(self.ends[0], zoom),
                                               enlarge(self.ends[1], zoom))
        return Morph([enlarge(frame, zoom) for frame in self.frames], ends)

    @property
    def pictures(self) -> list[Image.Image]:
        """Cat a's face, the frames, cat b's face: what the strip shows, in its order."""
        return self.frames if self.ends is None else [self.ends[0], *self.frames, self.ends[1]]

    def gif(self) -> bytes:
        """The frames as an endless GIF, from a to b and back."""
        return gif_bytes(self.frames)

    def strip(self) -> Image.Image:
        """The pictures side by side in one row."""
        return image_grid(self.pictures, columns=len(self.pictures))

    def pngs(self) -> list[bytes]:
        """Each picture as a PNG file."""
        return [png_bytes(picture) for picture in self.pictures]

    def save(self, path: str | os.PathLike) -> Path:
        """Write the GIF (.gif) or the strip (.png), making the folder if needed."""
        path = morph_file(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".gif":
            path.write_bytes(self.gif())
        else:
            self.strip().save(path)
        return path
