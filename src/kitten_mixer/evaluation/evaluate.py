"""Measure a trained model on held-out faces: the numbers and figures models are chosen by."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from kitten_mixer.errors import ModelFileError
from kitten_mixer.evaluation import metrics
from kitten_mixer.images import enlarge, image_grid, tensor_to_images
from kitten_mixer.loss import BetaLoss
from kitten_mixer.mixer import KittenMixer
from kitten_mixer.morph import DEFAULT_METHOD, interpolate_latents, latent_path
from kitten_mixer.shipping.sampler import GaussianMixture, load_sampler
from kitten_mixer.storage import ModelFolder, read_config

FeatureFn = Callable[[torch.Tensor], torch.Tensor]
# The longest chain of decoder-only fine-tunes sampler_for follows (and the end of a loop).
MAX_FINE_TUNES = 16


@dataclass
class Evaluation:
    """A model's numbers on a test set (see metrics.py for each definition)."""

    psnr: float
    ssim: float
    sharpness: float  # reconstructions
    mix_sharpness: float  # 50/50 mixes, over the sharpness of the photos
    kl: float  # nats per image
    active_units: int
    latent_dims: int
    smoothness: float  # largest over mean step, averaged over the morphs
    kid_reconstructions: float | None
    kid_mixes: float | None
    seconds: float
    # The same mixes taken halfway along the spherical path (morph.latent_path "slerp", about
    # the model's centre as its morphs: KittenMixer.centre, the origin for a run without
    # genes), which keeps the codes' length where the straight line's midpoint shrinks it.
    mix_sharpness_slerp: float | None = None
    kid_mixes_slerp: float | None = None
    # New kittens: codes drawn from a sampler of real cats' codes, decoded.
    kitten_sharpness: float | None = None
    kid_kittens: float | None = None
    # A grid every 8 pixels, as transposed convolutions draw it, over the photos' (metrics.
    # checkerboard): of the reconstructions and of the arc mixes.
    checkerboard: float | None = None
    mix_checkerboard_slerp: float | None = None

    def as_row(self) -> dict[str, float | int | None]:
        return dict(self.__dict__)


def sampler_for(mixer: KittenMixer) -> GaussianMixture | None:
    """The sampler of real cats' codes that fits the model's encoder: the one shipped beside
    it, or, for a decoder fine-tuned with its encoder frozen, that of the model it started
    from, and so on down a chain of such fine-tunes (a fine-tune of a fine-tune keeps the
    encoder of the first model). None when the chain reaches no sampler."""
    folder, experiment = mixer.folder, mixer.config.get("experiment") or {}
    for _ in range(MAX_FINE_TUNES):
        if folder is not None and ModelFolder(folder).sampler.is_file():
            return load_sampler(folder)
        if not (experiment.get("init") and _encoder_frozen(experiment)):
            return None
        folder = Path(experiment["init"])
        try:
            experiment = read_config(folder).get("experiment") or {}
        except ModelFileError:  # the model it started from is not here
            return None
    return None


def _encoder_frozen(experiment: dict) -> bool:
    return bool(experiment.get("decoder_only")
                or (experiment.get("adversarial") or {}).get("decoder_only"))


def random_pairs(count: int, n: int, seed: int = 0) -> list[tuple[int, int]]:
    """`count` pairs of distinct indices below n, the same for every model."""
    generator = torch.Generator().manual_seed(seed)
    pairs = []
    while len(pairs) < count:
        a, b = torch.randint(n, (2,), generator=generator).tolist()
        if a != b:
            pairs.append((a, b))
    return pairs


def evaluate_model(mixer: KittenMixer, faces: torch.Tensor, features: FeatureFn | None = None,
                   real_features: torch.Tensor | None = None, morphs: int = 50,
                   mixes: int = 500, seed: int = 0, kittens: torch.Tensor | None = None
                   ) -> Evaluation:
    """Every number of the experiment tables for one model on uint8 faces [N, 3, H, W].

    With `features` (images -> feature vectors), also the KID of the reconstructions, of
    `mixes` 50/50 mixes of random pairs and of the new kittens decoded from the codes
    `kittens` (when given) to the photos; `real_features` saves recomputing the photos'
    features for every model.
    """
    began = time.perf_counter()
    photos = faces.float() / 255
    mean, log_var = mixer.posterior(photos)
    reconstructions = mixer.decode_tensor(mean)
    kl = BetaLoss().kl_per_unit(mean, log_var).sum(1).mean()

    pairs = random_pairs(max(morphs, mixes), len(faces), seed)
    smooth = []
    for a, b in pairs[:morphs]:
        frames = mixer.decode_tensor(interpolate_latents(mean[a], mean[b], 11, "linear"))
        smooth.append(metrics.morph_smoothness(frames))
    mixed, mixed_slerp = (
        mixer.decode_tensor(torch.cat([latent_path(mean[a], mean[b], [0.5], method, mixer.centre)
                                       for a, b in pairs[:mixes]]))
        for method in ("linear", "slerp"))

    new = mixer.decode_tensor(kittens) if kittens is not None else None
    kid_rec = kid_mix = kid_slerp = kid_new = None
    if features is not None:
        real = features(photos) if real_features is None else real_features
        kid_rec, kid_mix, kid_slerp = (
            metrics.kernel_inception_distance(real, features(images))[0]
            for images in (reconstructions, mixed, mixed_slerp))
        if new is not None:
            kid_new = metrics.kernel_inception_distance(real, features(new))[0]
    return Evaluation(
        psnr=metrics.psnr(photos, reconstructions), ssim=metrics.ssim(photos, reconstructions),
        sharpness=metrics.sharpness_ratio(photos, reconstructions),
        mix_sharpness=metrics.sharpness_ratio(photos, mixed), kl=float(kl),
        active_units=metrics.active_units(mean), latent_dims=mixer.latent_dims,
        smoothness=sum(smooth) / len(smooth), kid_reconstructions=kid_rec, kid_mixes=kid_mix,
        seconds=time.perf_counter() - began,
        mix_sharpness_slerp=metrics.sharpness_ratio(photos, mixed_slerp),
        kid_mixes_slerp=kid_slerp,
        kitten_sharpness=metrics.sharpness_ratio(photos, new) if new is not None else None,
        kid_kittens=kid_new, checkerboard=metrics.checkerboard(photos, reconstructions),
        mix_checkerboard_slerp=metrics.checkerboard(photos, mixed_slerp))


def reconstruction_grid(mixers: Sequence[KittenMixer], faces: torch.Tensor,
                        with_photos: bool = True, zoom: int = 1) -> Image.Image:
    """Rows: photos; columns: the photo (unless with_photos=False), then each model's
    reconstruction of it; each picture `zoom` times larger."""
    photos = faces.float() / 255
    columns = [photos] if with_photos else []
    columns += [m.decode_tensor(m.posterior(photos)[0]) for m in mixers]
    cells = [enlarge(image, zoom) for row in zip(*[tensor_to_images(c) for c in columns])
             for image in row]
    return image_grid(cells, columns=len(columns))


def interpolation_grid(mixers: Sequence[KittenMixer], faces: torch.Tensor,
                       pairs: Sequence[tuple[int, int]], steps: int = 11,
                       method: str = DEFAULT_METHOD, zoom: int = 1) -> Image.Image:
    """For each pair of uint8 faces, one row per model: the morph between the two; each
    picture `zoom` times larger."""
    cells = []
    for a, b in pairs:
        for mixer in mixers:
            mean = mixer.posterior(faces[[a, b]])[0]
            cells += mixer.morph(mean[0], mean[1], steps, method).enlarged(zoom).frames
    return image_grid(cells, columns=steps)
