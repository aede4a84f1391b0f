"""BetaLoss: per image, independent of batch size; BCE as the original, Gaussian, warm-up."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from kitten_mixer import BetaLoss


def batch(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, 8, 8, generator=g)
    x_hat = torch.rand(n, 3, 8, 8, generator=g).clamp(0.05, 0.95)
    mean = torch.randn(n, 4, generator=g)
    log_var = torch.randn(n, 4, generator=g) * 0.3
    return x, x_hat, mean, log_var


def test_bce_loss_is_per_image_and_matches_the_formula():
    x, x_hat, mean, log_var = batch(6)
    loss = BetaLoss(beta=0.5)
    terms = loss.terms(x, x_hat, mean, log_var)
    rec = F.binary_cross_entropy(x_hat, x, reduction="sum") / 6
    kl = -0.5 * torch.sum(1 + log_var - mean**2 - log_var.exp()) / 6
    assert torch.allclose(terms.reconstruction, rec)
    assert torch.allclose(terms.kl, kl)
    assert torch.allclose(terms.total, rec + 0.5 * kl)
    assert torch.equal(loss(x, x_hat, mean, log_var), terms.total)


def test_the_value_does_not_depend_on_the_batch_size():
    x, x_hat, mean, log_var = batch(64)
    loss = BetaLoss(beta=1.0)
    whole = loss(x, x_hat, mean, log_var)
    halves = [loss(x[i::2], x_hat[i::2], mean[i::2], log_var[i::2]) for i in range(2)]
    assert torch.allclose(whole, sum(halves) / 2)
    eights = torch.stack([loss(x[i:i + 8], x_hat[i:i + 8], mean[i:i + 8], log_var[i:i + 8])
                          for i in range(0, 64, 8)]).mean()
    assert torch.allclose(whole, eights)


def test_gaussian_likelihood_with_fixed_sigma_is_a_true_nll():
    x, x_hat, mean, log_var = batch(4)
    terms = BetaLoss(likelihood="gaussian", sigma=0.1).terms(x, x_hat, mean, log_var)
    nll = -torch.distributions.Normal(x_hat, 0.1).log_prob(x).flatten(1).sum(1).mean()
    assert torch.allclose(terms.reconstruction, nll, rtol=1e-5)


def test_gaussian_with_optimal_sigma_uses_the_batch_error():
    x, x_hat, mean, log_var = batch(4)
    mse = (x - x_hat).pow(2).mean()
    terms = BetaLoss(likelihood="gaussian").terms(x, x_hat, mean, log_var)
    pixels = x[0].numel()
    expected = pixels * (0.5 + 0.5 * math.log(2 * math.pi * mse.item()))
    assert torch.allclose(terms.reconstruction, torch.tensor(expected), rtol=1e-5)


def test_kl_warm_up_grows_beta_linearly_and_is_saved():
    x, x_hat, mean, log_var = batch(4)
    loss = BetaLoss(beta=2.0, warmup_steps=4)
    values = []
    for _ in range(6):
        terms = loss.terms(x, x_hat, mean, log_var)
        values.append(((terms.total - terms.reconstruction) / terms.kl).item())
        loss.step()
    assert values == pytest.approx([0, 0.5, 1.0, 1.5, 2.0, 2.0], abs=1e-4)
    restored = BetaLoss(beta=2.0, warmup_steps=4)
    restored.load_state_dict(loss.state_dict())
    assert float(restored.beta) == 2.0


def test_free_bits_do_not_penalise_small_kl():
    x, x_hat, _, _ = batch(4)
    mean, log_var = torch.zeros(4, 4), torch.zeros(4, 4)  # KL exactly 0
    terms = BetaLoss(beta=1.0, free_bits=0.5).terms(x, x_hat, mean, log_var)
    assert terms.kl == 0
    assert torch.allclose(terms.total - terms.reconstruction, torch.tensor(2.0))  # 4 units x 0.5


def test_saturated_pixels_give_finite_gradients():
    x = torch.tensor([[0.0, 1.0, 0.3]]).view(1, 3, 1, 1)
    logits = torch.tensor([[-200.0, 50.0, 30.0]]).view(1, 3, 1, 1).requires_grad_(True)
    x_hat = torch.sigmoid(logits)  # exactly 0.0, 1.0 and 1.0 in float32
    loss = BetaLoss(beta=1.0)(x, x_hat, torch.zeros(1, 2), torch.zeros(1, 2))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


def test_gradients_flow_to_both_parts():
    x, x_hat, mean, log_var = batch(4)
    x_hat.requires_grad_(True)
    mean.requires_grad_(True)
    BetaLoss(beta=1.0)(x, x_hat, mean, log_var).backward()
    assert x_hat.grad.abs().sum() > 0 and mean.grad.abs().sum() > 0


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        BetaLoss(likelihood="laplace")
    with pytest.raises(ValueError):
        BetaLoss(beta=-1)
    with pytest.raises(ValueError):
        BetaLoss(likelihood="gaussian", sigma=0)
