"""New kittens: a Gaussian mixture fitted to codes, saved beside the model, sampled by seed."""

from __future__ import annotations

import pytest
import torch

from kitten_mixer import KittenMixer
from kitten_mixer.errors import ModelFileError
from kitten_mixer.shipping.sampler import fit_gaussian_mixture, load_sampler, save_sampler
from kitten_mixer.storage import save_model


def two_clusters(n: int = 1000, d: int = 4) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.cat([torch.randn(n, d, generator=g) * 0.3 + 4,
                      torch.randn(n, d, generator=g) * 0.3 - 4])


def test_the_mixture_finds_the_clusters_and_samples_from_them():
    mixture = fit_gaussian_mixture(two_clusters(), components=2)
    assert sorted(mixture.means[:, 0].round().tolist()) == [-4.0, 4.0]
    assert torch.allclose(mixture.weights, torch.tensor([0.5, 0.5]), atol=0.02)
    samples = mixture.sample(2000, seed=1)
    assert (samples[:, 0].abs() > 2).float().mean() > 0.99  # never in the hole between them
    assert 0.4 < (samples[:, 0] > 0).float().mean() < 0.6
    assert torch.equal(samples, mixture.sample(2000, seed=1))
    assert not torch.equal(samples, mixture.sample(2000, seed=2))


def test_the_mixture_prefers_real_codes_to_the_prior():
    codes = two_clusters()
    mixture = fit_gaussian_mixture(codes, components=2)
    holes = torch.zeros(10, 4)
    assert mixture.log_likelihood(codes[:10]).min() > mixture.log_likelihood(holes).max()


def test_few_points_still_give_a_proper_density():
    codes = torch.randn(12, 8)
    mixture = fit_gaussian_mixture(codes, components=10)
    assert len(mixture.weights) >= 1 and torch.isfinite(mixture.sample(5, seed=0)).all()


def test_saved_beside_a_model_and_used_by_kitten_mixer(tmp_path, tiny_model):
    save_model(tiny_model, tmp_path)
    mixer = KittenMixer.load(tmp_path)
    with pytest.raises(ModelFileError, match="no sampler"):
        mixer.sample(2)
    mixture = fit_gaussian_mixture(torch.randn(200, 8), components=2)
    save_sampler(tmp_path, mixture)
    loaded = load_sampler(tmp_path)
    assert torch.allclose(loaded.cholesky, mixture.cholesky, atol=1e-3)
    assert torch.equal(loaded.means, mixture.means)
    mixer = KittenMixer.load(tmp_path)
    kittens = mixer.sample(3, seed=5)
    assert len(kittens) == 3 and kittens[0].size == (16, 16)
    again = mixer.sample(3, seed=5)
    assert [k.tobytes() for k in kittens] == [k.tobytes() for k in again]
    (tmp_path / "sampler.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelFileError, match="damaged"):
        load_sampler(tmp_path)


def test_a_model_built_in_memory_has_no_sampler(tiny_model):
    with pytest.raises(ModelFileError, match="no sampler"):
        KittenMixer(tiny_model).sample(2)
