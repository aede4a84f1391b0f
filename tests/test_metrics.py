"""The numbers models are chosen by: each checked on cases whose answer is known."""

from __future__ import annotations

import math

import pytest
import torch

from kitten_mixer.evaluation import metrics


def test_psnr_of_a_known_error():
    x = torch.zeros(2, 3, 8, 8)
    assert metrics.psnr(x, x + 0.1) == pytest.approx(20.0, abs=1e-4)  # MSE 0.01
    assert metrics.psnr(x, x) > 90


def test_ssim_is_one_for_equal_images_and_drops_with_noise():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=g)
    assert metrics.ssim(x, x) == pytest.approx(1.0, abs=1e-5)
    noisy = (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    blurred = torch.nn.functional.avg_pool2d(x, 3, 1, 1)
    assert metrics.ssim(x, noisy) < 0.9 and metrics.ssim(x, blurred) < 0.9


def test_sharpness_ratio_sees_blur():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 32, 32, generator=g)
    blurred = torch.nn.functional.avg_pool2d(x, 5, 1, 2)
    assert metrics.sharpness_ratio(x, x) == pytest.approx(1.0)
    assert metrics.sharpness_ratio(x, blurred) < 0.2


def test_checkerboard_sees_a_grid_every_8_pixels_and_not_other_detail():
    torch.manual_seed(0)
    photos = torch.rand(32, 3, 64, 64)  # a flat spectrum: no frequency stands out
    grid = torch.zeros(64, 64)
    grid[::8, ::8] = 1.0  # one bright pixel every 8, as stacked transposed convolutions draw
    faint = photos * 0.9 + 0.1 * grid
    grid_of_faint = metrics.grid_amplitude(faint)
    assert abs(metrics.grid_amplitude(photos)) < 0.2 * grid_of_faint
    assert metrics.checkerboard(faint, faint) == pytest.approx(1.0)
    for shift in (0, 3):  # wherever the grid sits
        strong = photos * 0.6 + 0.4 * grid.roll((shift, shift), (0, 1))
        assert metrics.checkerboard(faint, strong) > 3
    other = torch.zeros(64, 64)
    other[::7, ::7] = 1.0  # a grid of another period is not this one
    assert metrics.checkerboard(faint, photos * 0.6 + 0.4 * other) < 0.2


def test_active_units_count_the_units_that_vary():
    means = torch.zeros(100, 6)
    means[:, 0] = torch.linspace(-1, 1, 100)
    means[:, 3] = torch.linspace(0, 0.05, 100)  # variance ~2e-4: inactive
    assert metrics.active_units(means) == 1


def test_smoothness_is_one_for_an_even_walk_and_large_for_a_jump():
    even = torch.linspace(0, 1, 11).view(11, 1, 1, 1).expand(11, 3, 4, 4)
    assert metrics.morph_smoothness(even) == pytest.approx(1.0, abs=1e-5)
    jump = torch.cat([torch.zeros(5, 3, 4, 4), torch.ones(6, 3, 4, 4)])
    assert metrics.morph_smoothness(jump) == pytest.approx(10.0)


def test_kid_is_near_zero_for_one_distribution_and_grows_with_shift():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(400, 16, generator=g)
    b = torch.randn(400, 16, generator=g)
    same = metrics.kernel_inception_distance(a, b, subsets=20, subset_size=100)[0]
    shifted = metrics.kernel_inception_distance(a, b + 1.0, subsets=20, subset_size=100)[0]
    assert abs(same) < 0.05 and shifted > 10 * max(abs(same), 1e-3)
    with pytest.raises(ValueError):
        metrics.kernel_inception_distance(a[:1], b[:1])
    assert math.isfinite(metrics.kernel_inception_distance(a, b, subsets=1)[1])


def test_a_gaussian_blur_keeps_flat_colour_and_its_light_and_wipes_out_the_finest_grain():
    flat = torch.full((1, 3, 16, 16), 0.3)
    assert torch.allclose(metrics.gaussian_blur(flat, 1.0), flat)
    checker = ((torch.arange(16)[:, None] + torch.arange(16)) % 2).float().expand(1, 3, -1, -1)
    blurred = metrics.gaussian_blur(checker, 1.0)
    assert blurred.shape == checker.shape
    assert blurred.mean().item() == pytest.approx(0.5, abs=1e-6)
    assert (blurred - 0.5).abs().max() < 0.01  # +-0.5 before
    assert (metrics.gaussian_blur(checker, 0.3) - 0.5).abs().max() > 0.1  # a narrow one keeps some
