"""The adversarial stage: a patch discriminator that teaches the decoder to draw fur, eyes and
edges instead of their blurred average.

A pixel likelihood rewards the average of every face a code could be, which is a blur. Here a
small discriminator learns to tell photos from decoded faces, patch by patch, and the decoder
learns to fool it. As in VQGAN, the adversarial term's weight is set at every step from the
gradient norms of the reconstruction and the adversarial term at the decoder's last layer, so
that neither drowns the other whatever the reconstruction's scale. Both see their images through
the same random translation, colour change and cutout (DiffAugment), so that 7,000 faces are not
memorised. Optionally the decoder also has to make decoded mixes (points on the arc between two
training codes) look real. The discriminator, its optimizer and its step count are part of the
run's checkpoint: a resumed run continues bit for bit.

The stage has options only for what it uses; those that were measured and did not help are in
docs/removed-options.md, with their numbers and the commit to revive them from.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from kitten_mixer.images import enlarge, image_grid, tensor_to_images
from kitten_mixer.model import VAE, drop_removed
from kitten_mixer.morph import latent_path
from kitten_mixer.storage import atomic_write
from kitten_mixer.training import distributed
from kitten_mixer.training.perceptual import arc_mixes

# The R1 penalty every this many discriminator updates, this many times as large (StyleGAN2's
# lazy regularisation: the double backward costs less).
R1_INTERVAL = 4
# The ceiling of the adaptive weight's gradient ratio, before the factor (as VQGAN clamps it).
MAX_WEIGHT = 1e4
# Options the stage once had, each at the value that meant "off" (docs/removed-options.md).
REMOVED_OPTIONS = {"r1_interval": R1_INTERVAL, "critic_steps": 1, "ramp": 0,
                   "max_weight": MAX_WEIGHT, "fixed_weight": None, "feature_matching": 0.0,
                   "detail": 0.0}


@dataclass
class AdversarialConfig:
    """How the adversarial stage trains (ExperimentConfig.adversarial; None: no such stage)."""

    start_epoch: int = 1  # the first epoch with a discriminator: later ones fine-tune after
    #                       a warm-up on the likelihood alone
    channels: int = 32  # the discriminator's first layer; each further layer doubles it
    layers: int = 3  # strided 4x4 convolutions (64 px -> 8x8 patches for 3)
    lr: float = 1e-4  # the discriminator's learning rate (Adam, betas 0.5 and 0.9)
    spectral_norm: bool = True  # each layer of the discriminator at most 1-Lipschitz
    r1: float = 0.0  # gamma of the R1 penalty, gamma/2 ||grad D(photo)||^2, the other way
    #                  to keep the discriminator smooth (StyleGAN2), with or without
    #                  spectral norm. D(photo) is the mean of the photo's patch logits.
    #                  Lazily: every R1_INTERVAL-th update, R1_INTERVAL times as large.
    head_start: int = 0  # discriminator steps before the decoder hears it: one at chance
    #                      gives the decoder nothing but noise to follow
    factor: float = 0.5  # times the adaptive weight
    augment: bool = True  # DiffAugment: translation, colour and cutout, real and fake alike
    mixes: float = 0.0  # fakes that are decoded arc mixes, as a share of the batch (0 to 1)
    decoder_only: bool = True  # freeze the encoder: the gallery codes and sampler stay valid
    weight_every: int = 1  # the adaptive weight measured on every this many updates of the
    #                        decoder and held in between: each measurement is a second pass
    #                        back through the reconstruction's loss (through the perceptual
    #                        network too, when there is one); 1: every update, as VQGAN
    ema: float = 0.0  # decay of a moving average of the decoder's weights, which is what the
    #                   run validates and saves (0: none). Adversarial training never settles:
    #                   the average keeps what the decoder learned and drops its last swings.

    def __post_init__(self) -> None:
        if self.start_epoch < 1 or self.channels < 1 or self.layers < 1 or self.lr <= 0 \
                or self.head_start < 0 or self.r1 < 0 or self.weight_every < 1:
            raise ValueError("adversarial: start_epoch, channels, layers and weight_every must "
                             "be at least 1, lr positive, head_start and r1 at least 0")
        if not 0 <= self.ema < 1:
            raise ValueError("adversarial: ema must be at least 0 and below 1")
        if not 0 <= self.mixes <= 1 or self.factor < 0:
            raise ValueError("adversarial: mixes must be from 0 to 1, factor at least 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AdversarialConfig:
        """A config from a dict, such as a run's stored config; removed options at their old
        "off" value are dropped, at any other value refused (ValueError)."""
        data = drop_removed(data, REMOVED_OPTIONS, "adversarial")
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown adversarial settings: {sorted(unknown)}")
        return cls(**data)


class PatchDiscriminator(nn.Module):
    """PatchGAN: strided 4x4 convolutions (with spectral norm unless told otherwise) and
    LeakyReLU(0.2), then one logit per patch."""

    def __init__(self, channels: int = 32, layers: int = 3, normalised: bool = True):
        super().__init__()
        norm = spectral_norm if normalised else (lambda conv: conv)
        blocks, c_in = [], 3
        for i in range(layers):
            c_out = channels * 2**i
            blocks.append(nn.Sequential(norm(nn.Conv2d(c_in, c_out, 4, 2, 1)),
                                        nn.LeakyReLU(0.2)))
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        self.head = norm(nn.Conv2d(c_in, 1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x * 2 - 1
        for block in self.blocks:
            h = block(h)
        return self.head(h)


def diff_augment(x: torch.Tensor) -> torch.Tensor:
    """DiffAugment (Zhao et al., 2020): per image a random brightness, saturation and contrast,
    a translation of up to an eighth of the side (edges repeated) and a cutout of a quarter of
    the area. Differentiable, so the decoder learns through it; drawn from torch's generator."""
    n = len(x)
    rand = torch.rand(n, 5, 1, 1, 1, device=x.device, dtype=x.dtype).unbind(1)
    x = x + (rand[0] - 0.5) * 0.5  # brightness
    grey = x.mean(dim=1, keepdim=True)
    x = (x - grey) * (rand[1] * 2) + grey  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * (rand[2] + 0.5) + mean  # contrast
    h, w = x.shape[2:]
    shift = torch.randint(-(h // 8), h // 8 + 1, (n, 2), device=x.device)
    rows = (torch.arange(h, device=x.device)[None] - shift[:, :1]).clamp(0, h - 1)
    cols = (torch.arange(w, device=x.device)[None] - shift[:, 1:]).clamp(0, w - 1)
    x = x[torch.arange(n, device=x.device)[:, None, None, None],
          torch.arange(x.shape[1], device=x.device)[None, :, None, None],
          rows[:, None, :, None], cols[:, None, None, :]]
    cy = (rand[3].flatten() * h).long()
    cx = (rand[4].flatten() * w).long()
    yy = torch.arange(h, device=x.device)[None, :, None]
    xx = torch.arange(w, device=x.device)[None, None, :]
    keep = ((yy - cy[:, None, None]).abs() >= h // 4) | ((xx - cx[:, None, None]).abs() >= w // 4)
    return x * keep[:, None].to(x.dtype)


class MixWatch:
    """Morphs (along the arc) between fixed pairs of faces, drawn by the decoder after its
    first 1, 25, 50 and 100 updates against the discriminator and a few times after, into
    `folder`/step-NNNNN.png: a decoder asked to fool a weak discriminator tends to fill the
    middles of its morphs with noise texture first, and this is where to see it. Drawing uses
    no random numbers, so a run that watches trains bit for bit as one that does not."""

    STEPS = (1, 25, 50, 100, 250, 500, 1000, 2000, 4000, 8000)

    def __init__(self, faces: torch.Tensor, folder: str | Path, frames: int = 7, zoom: int = 2):
        if faces.dtype != torch.uint8 or faces.ndim != 4 or len(faces) < 2:
            raise ValueError("MixWatch needs at least two uint8 faces [N, 3, H, W]")
        self.faces = faces[: len(faces) // 2 * 2]  # pairs: 0 with 1, 2 with 3, ...
        self.folder = Path(folder)
        self.shares = torch.linspace(0, 1, frames)
        self.zoom = zoom

    def __call__(self, model: VAE, update: int) -> Path | None:
        """After the decoder's `update`-th update against the discriminator: its morphs, if
        this is one of the steps to watch; the picture's path."""
        if update not in self.STEPS:
            return None
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                device = next(model.parameters()).device
                means = model.posterior(self.faces.to(device).float() / 255)[0].float().cpu()
                paths = torch.cat([latent_path(means[i], means[i + 1], self.shares)
                                   for i in range(0, len(means), 2)])
                frames = model.decode(paths.to(device)).float().cpu()
        finally:
            model.train(was_training)
        picture = image_grid([enlarge(image, self.zoom) for image in tensor_to_images(frames)],
                             columns=len(self.shares))
        path = self.folder / f"step-{update:05d}.png"
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: picture.save(tmp, format="PNG"))
        return path


class Adversary(nn.Module):
    """The discriminator and its optimizer, with the losses both sides learn from."""

    def __init__(self, config: AdversarialConfig, model: VAE):
        super().__init__()
        self.config = config
        self.discriminator = PatchDiscriminator(config.channels, config.layers,
                                                config.spectral_norm)
        self.optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr,
                                          betas=(0.5, 0.9))
        convs = [m for m in model.decoder.modules()
                 if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
        self.last_layer = convs[-1].weight  # where the two gradients are compared
        self.model = [model]  # a list: the VAE is the run's, not a submodule of this one
        self.centre: torch.Tensor | None = None  # the arc mixes' (ExperimentConfig.arc_centre)
        # The decoder's moving average: part of the state dict, so a checkpoint holds it.
        self.average = nn.ParameterList(
            [nn.Parameter(p.detach().clone(), requires_grad=False)
             for p in model.decoder.parameters()] if config.ema else [])
        self.watch: MixWatch | None = None  # pictures of the first mixes, if wanted
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        # The adaptive weight last measured (0: none yet), held for weight_every updates.
        self.register_buffer("held_weight", torch.zeros(()))
        # This epoch's sums of the weight and the discriminator's loss, and its steps.
        self.register_buffer("tally", torch.zeros(3, dtype=torch.float64))

    def _look(self, x: torch.Tensor) -> torch.Tensor:
        return self.discriminator(diff_augment(x) if self.config.augment else x)

    def fakes(self, x_hat: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
        """The reconstructions, with some replaced by decoded mixes when the config asks."""
        count = round(self.config.mixes * len(x_hat))
        if count == 0 or len(x_hat) < 2:
            return x_hat
        decoder = self.model[0]
        mixes = arc_mixes(lambda z: decoder.decode(z.to(x_hat.dtype)), mean, count,
                          self.centre)
        return torch.cat([mixes.images, x_hat[count:]])

    def generator_term(self, x_hat: torch.Tensor, mean: torch.Tensor,
                       reconstruction: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The decoder's adversarial term, already weighted so that its gradient at the
        decoder's last layer is `factor` times the reconstruction's (VQGAN's adaptive weight,
        measured every `weight_every` updates and held in between), and the fakes it was
        computed on (for the discriminator's step that follows)."""
        fakes = self.fakes(x_hat, mean)
        if self.steps < self.config.head_start:  # the discriminator learns alone for now
            return x_hat.new_zeros(()), fakes.detach()
        gan = -self._look(fakes).float().mean()
        if (int(self.heard()) - 1) % self.config.weight_every == 0 or self.held_weight == 0:
            rec_grad = torch.autograd.grad(reconstruction, self.last_layer,
                                           retain_graph=True)[0]
            gan_grad = torch.autograd.grad(gan, self.last_layer, retain_graph=True)[0]
            self.held_weight = self.config.factor * (
                rec_grad.norm() / (gan_grad.norm() + 1e-4)).clamp(max=MAX_WEIGHT).detach()
        self.tally[0] += self.held_weight.double()
        return self.held_weight * gan, fakes.detach()

    def discriminator_step(self, x: torch.Tensor, fakes: torch.Tensor) -> torch.Tensor:
        """One hinge-loss update of the discriminator on photos and fakes (plus the R1
        penalty, if asked, on every R1_INTERVAL-th); its hinge loss, without the penalty."""
        self.discriminator.train()
        penalise = self.config.r1 > 0 and int(self.steps) % R1_INTERVAL == 0
        photos = x.detach().requires_grad_(penalise)
        real = self._look(photos)
        fake = self._look(fakes)
        loss = F.relu(1 - real.float()).mean() + F.relu(1 + fake.float()).mean()
        hinge = loss.detach()
        if penalise:
            score = real.float().mean(dim=(1, 2, 3)).sum()
            grad = torch.autograd.grad(score, photos, create_graph=True)[0]
            gamma = self.config.r1 * R1_INTERVAL
            loss = loss + gamma / 2 * grad.float().square().flatten(1).sum(1).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if distributed.is_distributed():  # each rank saw its own shard: average the gradients
            for param in self.discriminator.parameters():
                torch.distributed.all_reduce(param.grad)
                param.grad /= distributed.world_size()
        self.optimizer.step()
        self.steps += 1
        self.tally[1:] += torch.stack([hinge.double(), torch.ones_like(self.tally[0])])
        return hinge

    def heard(self) -> torch.Tensor:
        """The decoder's updates that heard the discriminator, this step's included (0 or less
        during the head start): the discriminator steps after the decoder, so its step count
        is this update's index."""
        return self.steps - self.config.head_start + 1

    def decoder_stepped(self) -> None:
        """After each update of the decoder: its moving average, and its morphs when watched
        (by rank 0 alone)."""
        self.update_average()
        if self.watch is None or distributed.rank() != 0:
            return
        heard = int(self.heard())
        if heard > 0:
            self.watch(self.model[0], heard)

    def update_average(self) -> None:
        """Move the decoder's average towards its new weights (after each decoder step). The
        first step of the stage starts it from the weights of that moment."""
        if not self.config.ema:
            return
        decay = self.config.ema if self.steps > 0 else 0.0
        with torch.no_grad():
            for average, weight in zip(self.average, self.model[0].decoder.parameters()):
                average.lerp_(weight, 1 - decay)

    @contextmanager
    def averaged(self) -> Iterator[None]:
        """Within the block, the decoder holds its averaged weights (once the stage has begun);
        its own come back after."""
        if not self.config.ema or self.steps == 0:
            yield
            return
        weights = list(self.model[0].decoder.parameters())
        own = [w.detach().clone() for w in weights]
        with torch.no_grad():
            for weight, average in zip(weights, self.average):
                weight.copy_(average)
        try:
            yield
        finally:
            with torch.no_grad():
                for weight, mine in zip(weights, own):
                    weight.copy_(mine)

    def summary(self) -> dict[str, float]:
        """This epoch's mean weight of the adversarial term and mean discriminator loss (NaN
        for an epoch before the stage starts), for the history; then a new tally."""
        weight, disc_loss, steps = self.tally.tolist()
        self.tally.zero_()
        if not steps:
            return {"adversarial_weight": math.nan, "discriminator_loss": math.nan}
        return {"adversarial_weight": round(weight / steps, 4),
                "discriminator_loss": round(disc_loss / steps, 4)}

    def checkpoint(self) -> dict[str, Any]:
        return {"discriminator": self.state_dict(), "optimizer": self.optimizer.state_dict()}

    def restore(self, state: dict[str, Any]) -> None:
        # A checkpoint from before the weight was held has none: measured at the next update.
        self.load_state_dict({"held_weight": torch.zeros(())} | state["discriminator"])
        self.optimizer.load_state_dict(state["optimizer"])
