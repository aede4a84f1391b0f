"""The beta-VAE objective, per image, so that its value never depends on the batch size."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
from torch import nn

LIKELIHOODS = ("bce", "gaussian")
BCE_EPS = 1e-6


class LossTerms(NamedTuple):
    """The loss and its parts, each averaged over the images of the batch."""

    total: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor


@dataclass
class LossConfig:
    beta: float = 1.0
    likelihood: str = "bce"  # "bce" as the original, or "gaussian"
    sigma: float | None = None  # Gaussian pixel std; None: the batch's own RMSE (sigma-VAE)
    warmup_steps: int = 0  # beta grows linearly from 0 over this many optimizer steps
    free_bits: float = 0.0  # nats per latent unit below which KL is not penalised

    def to_dict(self) -> dict:
        return asdict(self)


class BetaLoss(nn.Module):
    """Reconstruction negative log-likelihood + beta * KL(q(z|x) || N(0, I)), per image.

    Both parts are summed over pixels (or latent units) and averaged over images: the value
    of a batch of 8 and of 512 are the same quantity. `forward` returns the total, as the
    original did; `terms` returns the parts too, for logging.

    likelihood="bce": binary cross-entropy, for pixels in [0, 1] (the original's choice).
    likelihood="gaussian": N(x_hat, sigma^2) per pixel, with a fixed `sigma`, or with
    sigma=None the batch's own RMSE (the "optimal sigma" of sigma-VAE, which balances the two
    parts without a hand-tuned beta). Its values include the constants: a true NLL in nats.
    """

    def __init__(self, beta: float = 1.0, likelihood: str = "bce", sigma: float | None = None,
                 warmup_steps: int = 0, free_bits: float = 0.0):
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, not {likelihood!r}")
        if beta < 0 or warmup_steps < 0 or free_bits < 0 or (sigma is not None and sigma <= 0):
            raise ValueError("beta, warmup_steps and free_bits must be >= 0, sigma > 0")
        self.config = LossConfig(beta, likelihood, sigma, warmup_steps, free_bits)
        # A buffer, so that the warm-up position is saved and restored with the checkpoint.
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    @classmethod
    def from_config(cls, config: LossConfig | dict) -> BetaLoss:
        config = LossConfig(**config) if isinstance(config, dict) else config
        return cls(**config.to_dict())

    @property
    def beta(self) -> float | torch.Tensor:
        """Beta now: the full value, or its share of the warm-up done so far."""
        c = self.config
        if c.warmup_steps == 0:
            return c.beta
        return c.beta * torch.clamp(self.steps.float() / c.warmup_steps, max=1.0)

    def step(self) -> None:
        """Count one optimizer step, for the KL warm-up."""
        self.steps += 1

    def reconstruction(self, x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of each image, summed over its pixels: shape [N]."""
        x, x_hat = x.float(), x_hat.float()
        if self.config.likelihood == "bce":
            # Written out rather than F.binary_cross_entropy, whose range check syncs with the
            # GPU and raises on NaN where we want to report a diverged run. Probabilities are
            # kept off 0 and 1 first: a saturated sigmoid gives exactly 1.0 in float32, and the
            # gradient of log(1 - 1.0) is 0 * inf = NaN even behind a clamp of the log.
            p = x_hat.clamp(BCE_EPS, 1 - BCE_EPS)
            nll = -(x * torch.log(p) + (1 - x) * torch.log1p(-p))
        else:
            if self.config.sigma is None:
                variance = (x - x_hat).pow(2).mean().detach().clamp(min=1e-6)
            else:
                variance = torch.tensor(self.config.sigma**2, device=x.device)
            nll = (x - x_hat).pow(2) / (2 * variance) + 0.5 * torch.log(2 * math.pi * variance)
        return nll.flatten(1).sum(1)

    def kl_per_unit(self, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
        """KL(q(z|x) || N(0, I)) of each latent unit of each image: shape [N, latent_dims]."""
        mean, log_var = mean.float(), log_var.float()
        return 0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var)

    def terms(self, x: torch.Tensor, x_hat: torch.Tensor, mean: torch.Tensor,
              log_var: torch.Tensor) -> LossTerms:
        """The loss per image and its reconstruction and KL parts (KL before beta)."""
        reconstruction = self.reconstruction(x, x_hat).mean()
        kl_units = self.kl_per_unit(mean, log_var)
        kl = kl_units.sum(1).mean()
        if self.config.free_bits > 0:
            # Free bits: units whose batch-mean KL is under the floor cost nothing more.
            penalised = kl_units.mean(0).clamp(min=self.config.free_bits).sum()
        else:
            penalised = kl
        return LossTerms(reconstruction + self.beta * penalised, reconstruction, kl)

    def forward(self, x: torch.Tensor, x_hat: torch.Tensor, mean: torch.Tensor,
                log_var: torch.Tensor) -> torch.Tensor:
        """The loss per image: reconstruction + beta * KL, averaged over the batch."""
        return self.terms(x, x_hat, mean, log_var).total
