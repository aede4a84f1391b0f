"""KittenMixer: the public API for using a trained model: encode, decode, morph and mix cats."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from kitten_mixer.images import Photo, photos_to_tensor, tensor_to_images
from kitten_mixer.model import VAE, load_model
from kitten_mixer.shipping.sampler import GaussianMixture, load_sampler

DEFAULT_MODEL = Path(__file__).parent / "weights" / "default"
METHODS = ("linear", "slerp")
# The straight line's midpoint between two codes is about a quarter shorter than either, and
# decodes softer: halfway mixes of the shipped model have 53% of the reconstructions' sharpness
# on the line and 84% on the arc (docs/experiments.md). So morphs follow the arc by default.
DEFAULT_METHOD = "slerp"


def interpolate_latents(a: torch.Tensor, b: torch.Tensor, steps: int = 11,
                        method: str = DEFAULT_METHOD) -> torch.Tensor:
    """`steps` points from a (t=0) to b (t=1), both included: [steps, latent_dims].

    "slerp" (the default) follows the great circle between the two codes, scaling the radius
    linearly: in high dimensions it keeps the midpoints as far from the origin as real codes
    are, where the straight line ("linear") cuts through the less likely middle.
    """
    if steps < 2:
        raise ValueError("a morph needs at least 2 steps (its two ends)")
    return latent_path(a, b, torch.linspace(0, 1, steps, dtype=torch.float64), method)


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")


def latent_path(a: torch.Tensor, b: torch.Tensor, ts: torch.Tensor | Sequence[float],
                method: str = DEFAULT_METHOD) -> torch.Tensor:
    """The points at fractions `ts` of the way from a (t=0) to b (t=1): [len(ts), latent_dims].
    See `interpolate_latents` for the methods."""
    _check_method(method)
    a, b = a.flatten().double(), b.flatten().double()
    t = torch.as_tensor(ts, dtype=torch.float64).reshape(-1, 1)
    if method == "linear":
        path = (1 - t) * a + t * b
    else:
        norm_a, norm_b = a.norm(), b.norm()
        unit_a, unit_b = a / norm_a.clamp(min=1e-12), b / norm_b.clamp(min=1e-12)
        omega = torch.arccos((unit_a @ unit_b).clamp(-1, 1))
        if omega < 1e-6 or norm_a < 1e-12 or norm_b < 1e-12:
            path = (1 - t) * a + t * b
        else:
            direction = (torch.sin((1 - t) * omega) * unit_a + torch.sin(t * omega) * unit_b) \
                / torch.sin(omega)
            path = direction * ((1 - t) * norm_a + t * norm_b)
    ends = t.flatten()
    path[ends == 0], path[ends == 1] = a, b  # exact ends, whatever the rounding
    return path.float()


def _is_latent(x: Any) -> bool:
    return isinstance(x, (torch.Tensor, np.ndarray)) and np.ndim(x) == 1


class KittenMixer:
    """A trained cat VAE ready to use. Deterministic: a cat's code is its posterior mean.

    Photos may be paths, bytes, PIL images or arrays, of any size and colour mode; they are
    centre-cropped to the model's size. Safe to call from several threads at once: nothing
    here mutates shared state, and the model runs in inference mode.
    """

    def __init__(self, model: VAE, config: dict[str, Any] | None = None,
                 device: str | torch.device = "cpu", folder: str | os.PathLike | None = None):
        self.folder = Path(folder) if folder is not None else None  # where it was loaded from
        self.device = torch.device(device)
        # channels_last: a morph (encode 2, decode 11) takes 6.6 ms instead of 8.7 on the CPU.
        self.model = model.to(self.device).eval().to(memory_format=torch.channels_last)
        self.config = config or {"architecture": model.config.to_dict()}
        self.image_size = (model.config.image_h, model.config.image_w)

    @classmethod
    def load(cls, path: str | os.PathLike | None = None,
             device: str | torch.device = "cpu") -> KittenMixer:
        """A saved-model folder; None: the default cat model shipped inside the package."""
        folder = DEFAULT_MODEL if path is None else Path(path)
        model, config = load_model(folder, device)
        return cls(model, config, device, folder)

    @property
    def latent_dims(self) -> int:
        return self.model.config.latent_dims

    def faces(self, photos: Photo | Sequence[Photo]) -> torch.Tensor:
        """Photos as the float tensor [N, 3, H, W] in [0, 1] the model reads."""
        if not isinstance(photos, (list, tuple)):
            photos = [photos]
        return photos_to_tensor(list(photos), self.image_size).float().div_(255)

    @torch.inference_mode()
    def posterior(self, faces: torch.Tensor, batch_size: int = 256
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior means and log-variances [N, latent_dims] of faces already at the model's
        size ([N, 3, H, W], uint8 or floats in [0, 1]), in batches, on the CPU."""
        means, log_vars = [], []
        for batch in faces.split(batch_size):
            batch = batch.float() / 255 if batch.dtype == torch.uint8 else batch.float()
            _, mean, log_var = self.model.encode(batch.to(self.device))
            means.append(mean.float().cpu())
            log_vars.append(log_var.float().cpu())
        return torch.cat(means), torch.cat(log_vars)

    def encode(self, photos: Photo | Sequence[Photo]) -> torch.Tensor:
        """The latent codes (posterior means) of photos: [N, latent_dims], on the CPU."""
        return self.posterior(self.faces(photos))[0]

    @torch.inference_mode()
    def decode(self, latents: torch.Tensor | np.ndarray) -> list[Image.Image]:
        """Latent codes [N, latent_dims] (or one code) as RGB images of the model's size."""
        z = torch.as_tensor(latents, dtype=torch.float32).to(self.device)
        if z.ndim == 1:
            z = z.unsqueeze(0)
        if z.ndim != 2 or z.shape[1] != self.latent_dims:
            raise ValueError(f"latents must have shape [N, {self.latent_dims}], "
                             f"not {tuple(z.shape)}")
        return tensor_to_images(self.model.decode(z))

    def reconstruct(self, photos: Photo | Sequence[Photo]) -> list[Image.Image]:
        """Each photo as the model sees and redraws it."""
        return self.decode(self.encode(photos))

    def _code(self, cat: Photo | torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(cat, dtype=torch.float32) if _is_latent(cat) \
            else self.encode(cat)[0]

    def interpolate(self, a: Photo | torch.Tensor, b: Photo | torch.Tensor, steps: int = 11,
                    method: str = DEFAULT_METHOD) -> list[Image.Image]:
        """The morph from cat a to cat b: `steps` images, t = 0 to 1 inclusive.

        a and b are photos or latent codes (1-D tensors); `method` is "slerp" (the arc) or
        "linear" (the straight line), see `interpolate_latents`.
        """
        return self.decode(interpolate_latents(self._code(a), self._code(b), steps, method))

    @cached_property
    def sampler(self) -> GaussianMixture:
        """The density of real cats' codes shipped beside the model (sampler.safetensors)."""
        return load_sampler(self.folder)

    def sample(self, n: int, seed: int | None = None) -> list[Image.Image]:
        """n new kittens, drawn where real cats' codes lie; the same seed, the same kittens."""
        if n < 1:
            raise ValueError("n must be at least 1")
        return self.decode(self.sampler.sample(n, seed))

    def mix(self, photos: Sequence[Photo | torch.Tensor],
            weights: Sequence[float] | None = None,
            method: str = DEFAULT_METHOD) -> Image.Image:
        """One kitten from several cats, weighted (equally by default).

        "linear" decodes the weighted mean of their codes. "slerp" takes the weighted mean of
        their directions and of their lengths, as the arc does: two cats mixed equally give the
        middle of `interpolate`'s arc.
        """
        if len(photos) == 0:  # photos may be a tensor of codes [N, latent_dims]
            raise ValueError("mix needs at least one cat")
        codes = torch.stack([self._code(p) for p in photos])
        w = torch.ones(len(codes)) if weights is None else torch.as_tensor(weights).float()
        if w.shape != (len(codes),) or (w < 0).any() or w.sum() <= 0:
            raise ValueError("weights: one non-negative number per cat, not all zero")
        _check_method(method)
        w = w / w.sum()
        if method == "slerp":
            lengths = codes.norm(dim=1, keepdim=True)
            direction = w @ (codes / lengths.clamp(min=1e-12))
            if direction.norm() > 1e-6:  # else opposite codes cancel: take the plain mean
                return self.decode(direction / direction.norm() * (w @ lengths))[0]
        return self.decode(w @ codes)[0]
