"""A perceptual loss: how far a reconstruction is from its photo in the features of a frozen
ImageNet network, rather than pixel by pixel.

A pixel likelihood rewards the average of every face a code could be, which is a blur; a
distance between deep features rewards a face with the photo's kind of fur and edges (DFC-VAE,
and the perceptual term under VQGAN's and Stable Diffusion's critics). The network is
EfficientNet-Lite1 or Lite2 (never Lite0, the realism yardstick). Its features are taken after
the stem and after several blocks, each divided by its channel norm at every position (LPIPS
without the learned heads), and their squared differences are summed over channels and
averaged over positions and depths.

Photo and reconstruction go through the network alike, enlarged to a side drawn afresh every
step, shifted by the same few pixels and mirrored together: a fixed sampling grid of the
network would otherwise print itself into the faces as faint stripes.

A distance position by position lets a decoder hedge: where the code does not say which fur
the cat has, one fur-like texture drawn at the same place in every face is closest on average.
The texture term compares what does not depend on position, each depth's Gram matrix (the
mean over positions of the outer product of the normalised features, as in neural style
transfer), and so can also be asked of decoded arc mixes, which have no photo: a mix of cats a
and b, a share t of the way to b, is held to (1 - t) times a's Gram matrices plus t times b's.

Neither term stops the decoder drawing the same texture at the same place in every face. The
shared-error term does: the batch's mean error in fine detail (each image less its 5x5 mean;
a mix's error taken against the same blend of its parents), squared and summed. What differs
from cat to cat averages out of that mean; only what every face shares is left.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from kitten_mixer.imagenet import imagenet_network, stages

NETWORKS = ("lite1", "lite2")
# The depths compared: after the stem, and after these blocks (of 21), from the 32-pixel maps
# of a 128-pixel input down to the 4-pixel ones.
BLOCKS = (1, 4, 7, 13, 20)


@dataclass
class PerceptualConfig:
    """The perceptual term of a training run (ExperimentConfig.perceptual; None: none)."""

    network: str = "lite2"  # "lite1" or "lite2"
    weight: float = 1.0  # per pixel value: the term adds weight * distance * values (3 * 64 *
    #                      64), on the scale of the likelihood's per-image sum over them: 1
    #                      weighs it as a mean L1 beside the distance
    texture: float = 0.0  # the same for the Gram matrices' distance (0: not computed)
    mixes: float = 0.0  # arc mixes given the texture term too, as a share of the batch
    shared: float = 0.0  # times the squared sum of the batch's mean error in fine detail
    smallest: int = 112  # the side photo and reconstruction are enlarged to, drawn per step
    largest: int = 160  # from smallest to largest
    shift: int = 7  # then moved by the same 0 to shift pixels, edges repeated
    flip: bool = True  # and mirrored together, half of them

    def __post_init__(self) -> None:
        if self.network not in NETWORKS:
            raise ValueError(f"perceptual: network must be one of {NETWORKS} (Lite0 is the "
                             f"realism yardstick and never in a loss), not {self.network!r}")
        if min(self.weight, self.texture, self.shared, self.shift) < 0 \
                or not 32 <= self.smallest <= self.largest:
            raise ValueError("perceptual: weight, texture, shared and shift must be at least 0, "
                             "and 32 <= smallest <= largest")
        if not 0 <= self.mixes <= 1 or (self.mixes and not (self.texture or self.shared)):
            raise ValueError("perceptual: mixes is a share from 0 to 1, and needs a texture "
                             "or shared weight (a mix has no photo to compare position by "
                             "position)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PerceptualConfig:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown perceptual settings: {sorted(unknown)}")
        return cls(**data)


def normalised(features: torch.Tensor) -> torch.Tensor:
    """Each position's feature vector divided by its length."""
    return features / (features.square().sum(1, keepdim=True) + 1e-10).sqrt()


class View(NamedTuple):
    """How the loss network sees a step's images: enlarged to `side`, moved by (dy, dx) with
    edges repeated, and row i mirrored where `flip[i]` (None: none)."""

    side: int
    dy: int
    dx: int
    flip: torch.Tensor | None


def draw_view(config: PerceptualConfig, count: int) -> View:
    """A view of `count` images drawn from torch's generator, so that a resumed run draws the
    same."""
    side = int(torch.randint(config.smallest, config.largest + 1, ()).item())
    dy, dx = torch.randint(0, config.shift + 1, (2,)).tolist()
    return View(side, dy, dx, torch.rand(count) < 0.5 if config.flip else None)


def seen(images: torch.Tensor, view: View, shift: int) -> torch.Tensor:
    """Images (in [0, 1], no more rows than the view's) as `view` shows them, in [-1, 1]."""
    side = view.side
    images = F.interpolate(images.float(), size=(side, side), mode="bilinear",
                           align_corners=False)
    if shift:
        images = F.pad(images, (shift,) * 4, mode="replicate")[
            ..., view.dy:view.dy + side, view.dx:view.dx + side]
    if view.flip is not None and view.flip.any():
        mirrored = view.flip[:len(images)].to(images.device)[:, None, None, None]
        images = torch.where(mirrored, images.flip(3), images)
    return images * 2 - 1


def same_view(x: torch.Tensor, y: torch.Tensor, config: PerceptualConfig,
              *more: torch.Tensor, view: View | None = None) -> tuple[torch.Tensor, ...]:
    """Photos `x` and reconstructions `y`, and any `more` batches (row i mirrored with photo
    i), enlarged, shifted and mirrored alike by `view`, or by one drawn now."""
    view = view or draw_view(config, len(x))
    return tuple(seen(images, view, config.shift) for images in (x, y, *more))


def gram(features: torch.Tensor) -> torch.Tensor:
    """The mean over positions of each position's normalised feature vector times itself:
    [N, C, C], the same wherever in the image a texture sits."""
    flat = normalised(features.float()).flatten(2)
    return flat @ flat.transpose(1, 2) / flat.shape[2]


class ArcMixes(NamedTuple):
    """Decoded mixes of a batch's codes: mix i lies a share `shares[i]` of the way from the
    batch's image i to its image `partners[i]`."""

    images: torch.Tensor  # [M, 3, H, W], M <= the batch
    partners: torch.Tensor  # [M] indices into the batch
    shares: torch.Tensor  # [M] from 0 to 1


def arc_mixes(decode, codes: torch.Tensor, count: int, centre: torch.Tensor | None = None
              ) -> ArcMixes:
    """`count` decoded mixes of the first `count` codes with partners drawn from the batch, a
    share from 0.2 to 0.8 of the way along the arc a morph walks (about `centre`; None: the
    origin). The mixes carry the codes' gradient: where the encoder trains too, it learns to
    place cats so that the way between them decodes well (ACAI's idea); with it frozen, the
    codes have none."""
    partners = torch.randperm(len(codes), device=codes.device)[:count]
    shares = torch.rand(count, dtype=torch.float64) * 0.6 + 0.2
    mixed = arc(codes[:count], codes[partners], shares.to(codes.device), centre)
    return ArcMixes(decode(mixed), partners, shares.float().to(codes.device))


def arc(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor,
        centre: torch.Tensor | None = None) -> torch.Tensor:
    """The points a share `t` [M] of the way from codes `a` to `b` [M, D] along the arc a morph
    walks (morph.latent_path's "slerp": the great circle between their directions, the length
    going evenly from one to the other, seen from `centre` [D], None: the origin), in closed
    form so that gradients pass: [M, D] float32. Where a and b point the same way, the
    straight line, which is then the same point."""
    if centre is not None:
        centre = centre.to(a.device, torch.float64)
        return (arc(a.double() - centre, b.double() - centre, t) + centre).float()
    a, b, t = a.double(), b.double(), t.double()[:, None]
    length_a, length_b = a.norm(dim=1, keepdim=True), b.norm(dim=1, keepdim=True)
    unit_a, unit_b = a / length_a.clamp(min=1e-12), b / length_b.clamp(min=1e-12)
    # Clamped short of 1, so that the angle's gradient stays finite where the line is used.
    angle = torch.arccos((unit_a * unit_b).sum(1, keepdim=True).clamp(-1 + 1e-9, 1 - 1e-9))
    bent = (torch.sin((1 - t) * angle) * unit_a + torch.sin(t * angle) * unit_b) \
        / torch.sin(angle) * ((1 - t) * length_a + t * length_b)
    straight = (1 - t) * a + t * b
    return torch.where(angle > 1e-4, bent, straight).float()


class PerceptualLoss(nn.Module):
    """The perceptual term of each reconstruction against its photo: [N]."""

    def __init__(self, config: PerceptualConfig, model: nn.Module | None = None):
        super().__init__()
        self.config = config
        self.network = imagenet_network(config.network)  # frozen, in eval mode
        if config.mixes and model is None:
            raise ValueError("perceptual: mixes need the model that decodes them")
        self.model = [model]  # a list: the VAE is the run's, not a submodule of this one
        self.centre: torch.Tensor | None = None  # the arc mixes' (ExperimentConfig.arc_centre)
        # This epoch's sums of the distances (position by position, of the Gram matrices, of
        # the mixes' Gram matrices, the shared error) and their counts, on the device: no sync
        # a step.
        self.tally = torch.zeros(8, dtype=torch.float64)

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.network.eval()  # its batch norms keep their ImageNet statistics
        return self

    def _features(self, x: torch.Tensor, x_hat: torch.Tensor, *more: torch.Tensor,
                  view: View | None = None) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The photos' features (no gradient) and those of the reconstructions and `more`,
        one batch through the network, all seen alike (by `view`, or one drawn now)."""
        photo, *drawn = same_view(x, x_hat, self.config, *more, view=view)
        with torch.no_grad():
            targets = stages(self.network, photo, BLOCKS)
        return targets, stages(self.network, torch.cat(drawn), BLOCKS)

    def distance(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """The mean over depths of the normalised features' squared distance (summed over
        channels, averaged over positions), per image: [N]."""
        return _position_distance(*self._features(x, x_hat))

    def texture_distance(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """The mean over depths of the Gram matrices' squared distance, per image: [N]."""
        targets, outputs = self._features(x, x_hat)
        return _gram_distance([gram(t) for t in targets], [gram(o) for o in outputs])

    def forward(self, x: torch.Tensor, x_hat: torch.Tensor,
                codes: torch.Tensor | None = None) -> torch.Tensor:
        """The term to add to the loss of each image, weight * distance + texture * Gram
        distance, times the values: [N]. With the batch's `codes` and a share of mixes, that
        many arc mixes are decoded and the texture term of each is added to the row of the
        image it starts from. The shared-error term, times `shared`, is added to every row."""
        config, n = self.config, len(x)
        view = draw_view(config, n)  # first: with or without mixes, the same view
        count = round(config.mixes * n) if codes is not None and n > 1 else 0
        mixes = arc_mixes(self.model[0].decode, codes, count, self.centre) if count else None
        targets, outputs = self._features(x, x_hat, *([mixes.images] if mixes else []),
                                          view=view) if config.weight or config.texture \
            else ([], [])
        zero = x.new_zeros(n, dtype=torch.float32)
        position = _position_distance(targets, [o[:n] for o in outputs]) if config.weight \
            else zero
        texture = mixed = zero
        mix_distance = x.new_zeros(len(mixes.images) if mixes else 0, dtype=torch.float32)
        if config.texture:
            grams = [gram(t) for t in targets]
            texture = _gram_distance(grams, [gram(o[:n]) for o in outputs])
            if mixes is not None:
                t = mixes.shares[:, None, None]
                blended = [(1 - t) * g[:len(t)] + t * g[mixes.partners] for g in grams]
                mix_distance = _gram_distance(blended, [gram(o[n:]) for o in outputs])
                mixed = F.pad(mix_distance, (0, n - len(mix_distance)))
        common = _shared_error(x, x_hat, mixes) if config.shared else zero.sum()
        self.tally = self.tally.to(x.device) + torch.stack([
            position.detach().double().sum(), position.new_tensor(n if config.weight else 0),
            texture.detach().double().sum(), position.new_tensor(n if config.texture else 0),
            mix_distance.detach().double().sum(), position.new_tensor(len(mix_distance)),
            common.detach().double(), position.new_tensor(1 if config.shared else 0)]).double()
        return (config.weight * position + config.texture * (texture + mixed)) * x[0].numel() \
            + config.shared * common

    def summary(self) -> dict[str, float]:
        """This epoch's mean distances, for the history; then a new tally."""
        sums = self.tally.tolist()
        self.tally = torch.zeros(8, dtype=torch.float64)
        used = (("perceptual", self.config.weight), ("texture", self.config.texture),
                ("mix_texture", self.config.texture and self.config.mixes),
                ("shared_error", self.config.shared))
        return {name: round(sums[2 * i] / sums[2 * i + 1], 5) if sums[2 * i + 1]
                else float("nan") for i, (name, weight) in enumerate(used) if weight}


def _position_distance(targets: list[torch.Tensor], outputs: list[torch.Tensor]) -> torch.Tensor:
    parts = [(normalised(o.float()) - normalised(t.float())).square().sum(1).mean((1, 2))
             for o, t in zip(outputs, targets)]
    return torch.stack(parts).mean(0)


def fine_detail(images: torch.Tensor) -> torch.Tensor:
    """Each channel less its mean over the 5x5 pixels around (edges repeated)."""
    images = images.float()
    return images - F.avg_pool2d(F.pad(images, (2, 2, 2, 2), mode="replicate"), 5, stride=1)


def _shared_error(x: torch.Tensor, x_hat: torch.Tensor, mixes: ArcMixes | None) -> torch.Tensor:
    """The squared sum of the mean error in fine detail over reconstructions and mixes."""
    photos = fine_detail(x)
    errors = fine_detail(x_hat) - photos
    if mixes is not None:
        t = mixes.shares[:, None, None, None]
        blend = (1 - t) * photos[:len(t)] + t * photos[mixes.partners]
        errors = torch.cat([errors, fine_detail(mixes.images) - blend])
    return errors.mean(0).square().sum()


def _gram_distance(targets: list[torch.Tensor], outputs: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack([(o - t).square().sum((1, 2)) for o, t in zip(outputs, targets)]).mean(0)
