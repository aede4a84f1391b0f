"""KittenMixer: the public API for using a trained model: encode, decode, morph, mix and tune
cats."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from kitten_mixer.device import DEFAULT_DEVICE, resolve_device
from kitten_mixer.errors import ModelFileError, MorphError
from kitten_mixer.faces import FaceCrop, face_or_centre
from kitten_mixer.images import Photo, photos_to_tensor, tensor_to_images
from kitten_mixer.model import VAE, fold_resize_convolutions, load_model, logits_to_pixels
from kitten_mixer.morph import (
    DEFAULT_METHOD,
    Morph,
    check_method,
    check_steps,
    interpolate_latents,
    mix_latents,
)
from kitten_mixer.shipping.genes import Genes, load_genes
from kitten_mixer.shipping.sampler import GaussianMixture, load_sampler
from kitten_mixer.storage import ModelFolder

DEFAULT_MODEL = Path(__file__).parent / "weights" / "default"


class NoFaceFound(UserWarning):
    """A whole-scene photo in which no cat face was found: its centre crop was used."""


def _is_latent(x: Any) -> bool:
    return isinstance(x, (torch.Tensor, np.ndarray)) and np.ndim(x) == 1


def _label(photo: Photo, index: int) -> str:
    return str(photo) if isinstance(photo, (str, os.PathLike)) else f"photo {index + 1}"


class KittenMixer:
    """A trained cat VAE ready to use. Deterministic: a cat's code is its posterior mean.

    Photos may be paths, bytes, PIL images or arrays, of any size and colour mode. A
    whole-scene photo is cropped around its cat's face the way the training faces were cropped
    (see `faces`); `find=False` centre-crops every photo instead. Safe to call from several
    threads at once: nothing here mutates shared state, and the model runs in inference mode.
    """

    def __init__(self, model: VAE, config: dict[str, Any] | None = None,
                 device: str | torch.device = "cpu", folder: str | os.PathLike | None = None):
        self.folder = Path(folder) if folder is not None else None  # where it was loaded from
        self.device = torch.device(device)
        # channels_last: faster on the CPU (a morph with the first, v6-sized default model took
        # 6.6 ms instead of 8.7; benchmarks/morph_latency.py times today's model).
        self.model = model.to(self.device).eval().to(memory_format=torch.channels_last)
        # A resize-convolution decoder runs folded into transposed convolutions: the same
        # pixels, decoded as fast as by a transposed decoder (benchmarks/morph_latency.py times
        # the decoding folded and unfolded).
        self.decoder = fold_resize_convolutions(self.model.decoder).to(
            memory_format=torch.channels_last)
        self.config = config or {"architecture": model.config.to_dict()}
        self.image_size = (model.config.image_h, model.config.image_w)

    @classmethod
    def load(cls, path: str | os.PathLike | None = None,
             device: str | torch.device = DEFAULT_DEVICE) -> KittenMixer:
        """A saved-model folder; None: the default cat model shipped inside the package.
        "auto" runs it on the GPU when there is one."""
        folder = DEFAULT_MODEL if path is None else Path(path)
        device = resolve_device(device)
        model, config = load_model(folder, device)
        return cls(model, config, device, folder)

    @property
    def latent_dims(self) -> int:
        return self.model.config.latent_dims

    def faces(self, photos: Photo | Sequence[Photo], find: bool = True) -> list[FaceCrop]:
        """Each photo as the face the model reads, with the face's box (see `face_or_centre`).

        With `find`, whole-scene photos are cropped around their best cat face; photos no
        larger than twice the model's size are face crops already and are only centre-cropped.
        A photo in which no face is found is centre-cropped, with a NoFaceFound warning that
        names it. Bad input raises PhotoError.
        """
        if not isinstance(photos, (list, tuple)):
            photos = [photos]
        crops = [face_or_centre(photo, self.image_size, find) for photo in photos]
        for i, crop in enumerate(crops):
            if crop.missed:
                warnings.warn(NoFaceFound(f"{_label(photos[i], i)}: no cat face found, "
                                          "using the centre of the photo"), stacklevel=2)
        return crops

    def _face_tensor(self, photos: Photo | Sequence[Photo], find: bool) -> torch.Tensor:
        """The photos' faces as the floats [N, 3, H, W] in [0, 1] the model reads."""
        crops = [crop.image for crop in self.faces(photos, find)]  # at the model's size
        return photos_to_tensor(crops, self.image_size).float().div_(255)

    @torch.inference_mode()
    def posterior(self, faces: torch.Tensor, batch_size: int = 256
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior means and log-variances [N, latent_dims] of faces already at the model's
        size ([N, 3, H, W], uint8 or floats in [0, 1]), in batches, on the CPU."""
        means, log_vars = [], []
        for batch in faces.split(batch_size):
            batch = batch.float() / 255 if batch.dtype == torch.uint8 else batch.float()
            mean, log_var = self.model.posterior(batch.to(self.device))
            means.append(mean.float().cpu())
            log_vars.append(log_var.float().cpu())
        return torch.cat(means), torch.cat(log_vars)

    def encode(self, photos: Photo | Sequence[Photo], find: bool = True) -> torch.Tensor:
        """The latent codes (posterior means) of photos: [N, latent_dims], on the CPU."""
        return self.posterior(self._face_tensor(photos, find))[0]

    @torch.inference_mode()
    def decode_tensor(self, latents: torch.Tensor | np.ndarray, batch_size: int = 256
                      ) -> torch.Tensor:
        """Latent codes [N, latent_dims] (or one code) as float images [N, 3, H, W] in [0, 1],
        decoded in batches, on the CPU."""
        z = torch.as_tensor(latents, dtype=torch.float32)
        if z.ndim == 1:
            z = z.unsqueeze(0)
        if z.ndim != 2 or z.shape[1] != self.latent_dims:
            raise ValueError(f"latents must have shape [N, {self.latent_dims}], "
                             f"not {tuple(z.shape)}")
        return torch.cat([logits_to_pixels(self.decoder(batch.to(self.device))).cpu()
                          for batch in z.split(batch_size)])

    def decode(self, latents: torch.Tensor | np.ndarray) -> list[Image.Image]:
        """Latent codes [N, latent_dims] (or one code) as RGB images of the model's size."""
        return tensor_to_images(self.decode_tensor(latents))

    def reconstruct(self, photos: Photo | Sequence[Photo], find: bool = True
                    ) -> list[Image.Image]:
        """Each photo as the model sees and redraws it."""
        return self.decode(self.encode(photos, find))

    def _code_and_face(self, cat: Photo | torch.Tensor, find: bool
                       ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A cat's code, and its face as the model saw it ([1, 3, H, W]; None for a code)."""
        if _is_latent(cat):
            return torch.as_tensor(cat, dtype=torch.float32), None
        face = self._face_tensor(cat, find)
        return self.posterior(face)[0][0], face

    def morph(self, a: Photo | torch.Tensor, b: Photo | torch.Tensor, steps: int = 11,
              method: str = DEFAULT_METHOD, find: bool = True) -> Morph:
        """The morph from cat a to cat b: `steps` kittens, t = 0 to 1 inclusive, and the two
        cats' faces when both came as photos.

        a and b are photos or latent codes (1-D tensors); `method` is "slerp" (the arc) or
        "linear" (the straight line), see `interpolate_latents`.
        """
        check_steps(steps)
        check_method(method)
        (code_a, face_a), (code_b, face_b) = (self._code_and_face(a, find),
                                              self._code_and_face(b, find))
        frames = self.decode(interpolate_latents(code_a, code_b, steps, method, self.centre))
        if face_a is None or face_b is None:
            return Morph(frames)
        return Morph(frames, tuple(tensor_to_images(torch.cat([face_a, face_b]))))

    def interpolate(self, a: Photo | torch.Tensor, b: Photo | torch.Tensor, steps: int = 11,
                    method: str = DEFAULT_METHOD, find: bool = True) -> list[Image.Image]:
        """The frames of `morph(a, b, steps, method, find)`: `steps` images, t = 0 to 1
        inclusive."""
        return self.morph(a, b, steps, method, find).frames

    @cached_property
    def sampler(self) -> GaussianMixture:
        """The density of real cats' codes shipped beside the model (sampler.safetensors)."""
        if self.folder is None:
            raise ModelFileError("this model was not loaded from a folder: it has no sampler")
        return load_sampler(self.folder)

    def sample(self, n: int, seed: int | None = None) -> list[Image.Image]:
        """n new kittens, drawn where real cats' codes lie; the same seed, the same kittens."""
        if n < 1:
            raise ValueError("n must be at least 1")
        return self.decode(self.sampler.sample(n, seed))

    @cached_property
    def genes(self) -> Genes:
        """The main directions of real cats' codes, shipped beside the model
        (genes.safetensors): gene 0 is the direction along which cats differ most."""
        if self.folder is None:
            raise ModelFileError("this model was not loaded from a folder: it has no genes")
        return load_genes(self.folder)

    @cached_property
    def centre(self) -> torch.Tensor | None:
        """The centre of real cats' codes (the genes' mean) that morphs and mixes along the
        arc bend about, so that their middles lie among real cats; None (the origin) for a
        model without genes, such as a run not yet shipped (`kitten-mixer ship`). A damaged
        genes file says so in a warning, and the arcs bend about the origin."""
        if self.folder is None or not ModelFolder(self.folder).genes.is_file():
            return None
        try:
            return self.genes.mean
        except ModelFileError as e:
            warnings.warn(f"{e}; morphs and mixes bend about the origin", stacklevel=2)
            return None

    def tune(self, cat: Photo | torch.Tensor, values: Mapping[int, float], find: bool = True
             ) -> torch.Tensor:
        """A cat's code (from a photo or a code) moved along its genes: `{0: 1.5, 3: -1}` adds
        1.5 spreads of real cats along gene 0 and takes one away along gene 3. Decode it to see
        the tuned cat."""
        return self.genes.tune(self._code_and_face(cat, find)[0], values)

    def mix(self, cats: Sequence[Photo | torch.Tensor],
            weights: Sequence[float] | None = None,
            method: str = DEFAULT_METHOD, find: bool = True) -> Image.Image:
        """One kitten from several cats (photos or codes), weighted (equally by default).

        See `mix_latents` for the methods: mixing two cats weighted 1 - t and t gives the
        kitten at t of their morph.
        """
        if len(cats) == 0:  # cats may be a tensor of codes [N, latent_dims]
            raise MorphError("a mix needs at least one cat")
        check_method(method)
        codes = torch.stack([self._code_and_face(cat, find)[0] for cat in cats])
        return self.decode(mix_latents(codes, weights, method, self.centre))[0]
