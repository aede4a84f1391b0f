"""New kittens: a Gaussian mixture fitted to the codes of real cats, to draw codes from.

A VAE's aggregate posterior is not N(0, I): drawing from the prior lands in holes between the
cats and decodes to mush. A mixture of full-covariance Gaussians fitted to the training
codes draws where real cats are. It is saved beside the model as `sampler.safetensors`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch

from kitten_mixer.errors import ModelFileError
from kitten_mixer.storage import ModelFolder, read_tensors, write_tensors


@dataclass
class GaussianMixture:
    """weights [K], means [K, D], and the Cholesky factors [K, D, D] of the covariances."""

    weights: torch.Tensor
    means: torch.Tensor
    cholesky: torch.Tensor

    def sample(self, n: int, seed: int | None = None) -> torch.Tensor:
        """n codes [n, D]; the same seed gives the same codes."""
        generator = torch.Generator()
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(seed)
        component = torch.multinomial(self.weights.double(), n, replacement=True,
                                      generator=generator)
        noise = torch.randn(n, self.means.shape[1], generator=generator, dtype=torch.float64)
        chol = self.cholesky.double()[component]
        return (self.means.double()[component] + (chol @ noise.unsqueeze(-1)).squeeze(-1)).float()

    def log_likelihood(self, codes: torch.Tensor) -> torch.Tensor:
        """Log density of each code [N] under the mixture."""
        return torch.logsumexp(_component_log_probs(codes.double(), self.weights.double(),
                                                    self.means.double(),
                                                    self.cholesky.double()), dim=1)


def _component_log_probs(x, weights, means, cholesky) -> torch.Tensor:
    """log(w_k N(x | mu_k, Sigma_k)) for every code and component: [N, K]."""
    d = x.shape[1]
    diff = (x.unsqueeze(0) - means.unsqueeze(1)).transpose(1, 2)  # [K, D, N]
    solved = torch.linalg.solve_triangular(cholesky, diff, upper=False)  # [K, D, N]
    mahalanobis = solved.pow(2).sum(1).T  # [N, K]
    log_det = 2 * torch.log(torch.diagonal(cholesky, dim1=1, dim2=2)).sum(1)  # [K]
    return torch.log(weights) - 0.5 * (d * math.log(2 * math.pi) + log_det + mahalanobis)


def fit_gaussian_mixture(codes: torch.Tensor, components: int = 10, iterations: int = 100,
                         regularisation: float = 1e-3, seed: int = 0) -> GaussianMixture:
    """EM for a full-covariance Gaussian mixture, started from k-means++ centres.

    `regularisation` is added to every covariance's diagonal, relative to the codes' mean
    variance, so that a component on a few points stays a proper density.
    """
    x = codes.double()
    n, d = x.shape
    components = max(1, min(components, n // (d // 4 + 2)))  # enough points per component
    generator = torch.Generator().manual_seed(seed)
    centres = [x[torch.randint(n, (1,), generator=generator)].squeeze(0)]
    for _ in range(1, components):  # k-means++ seeding
        nearest = torch.cdist(x, torch.stack(centres)).min(1).values.pow(2)
        centres.append(x[torch.multinomial(nearest / nearest.sum(), 1, generator=generator)[0]])
    responsibilities = torch.nn.functional.one_hot(
        torch.cdist(x, torch.stack(centres)).argmin(1), components).double()
    ridge = regularisation * x.var(0).mean() * torch.eye(d, dtype=torch.float64)
    previous = -math.inf
    for _ in range(iterations):
        counts = responsibilities.sum(0) + 1e-10  # M step
        weights = counts / n
        means = (responsibilities.T @ x) / counts[:, None]
        diff = x.unsqueeze(0) - means.unsqueeze(1)  # [K, N, D]
        covariances = torch.einsum("kn,knd,kne->kde", responsibilities.T, diff, diff) \
            / counts[:, None, None] + ridge
        cholesky = torch.linalg.cholesky(covariances)
        log_probs = _component_log_probs(x, weights, means, cholesky)  # E step
        total = torch.logsumexp(log_probs, dim=1)
        responsibilities = torch.exp(log_probs - total[:, None])
        mean_log_likelihood = float(total.mean())
        if mean_log_likelihood - previous < 1e-6 * abs(mean_log_likelihood):
            break
        previous = mean_log_likelihood
    return GaussianMixture(weights.float(), means.float(), cholesky.float())


def save_sampler(path: str | os.PathLike, mixture: GaussianMixture) -> None:
    """Write the mixture into a saved-model folder.

    The Cholesky factors are stored as their lower triangles in float16: a quarter of the
    size (2.5 MB instead of 10 for 10 components in 500 dimensions), and sampling needs no
    more than three digits of them.
    """
    rows, cols = torch.tril_indices(*mixture.cholesky.shape[1:])
    write_tensors(ModelFolder(path).sampler, {
        "weights": mixture.weights, "means": mixture.means,
        "cholesky_lower": mixture.cholesky[:, rows, cols].half()})


def load_sampler(path: str | os.PathLike) -> GaussianMixture:
    """The mixture saved in a saved-model folder."""
    file = ModelFolder(path).sampler
    tensors, _ = read_tensors(file, "this model has no sampler; `kitten-mixer ship` fits one")
    try:
        weights, means = tensors["weights"], tensors["means"]
        k, d = means.shape
        rows, cols = torch.tril_indices(d, d)
        cholesky = torch.zeros(k, d, d)
        cholesky[:, rows, cols] = tensors["cholesky_lower"].float()
    except (KeyError, ValueError, RuntimeError) as e:
        raise ModelFileError(f"{file}: damaged sampler file ({e})") from None
    return GaussianMixture(weights, means, cholesky)
