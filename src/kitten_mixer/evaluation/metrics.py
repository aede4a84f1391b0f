"""Numbers to choose models by: fidelity, sharpness, latent use, smoothness and realism.

Every function takes float images [N, 3, H, W] in [0, 1] (or latent codes) and returns plain
floats, so tables can be written straight from them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
GREY = torch.tensor([0.299, 0.587, 0.114])


def psnr(photos: torch.Tensor, reconstructions: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB, averaged over images."""
    mse = (photos.float() - reconstructions.float()).pow(2).flatten(1).mean(1)
    return float((10 * torch.log10(1.0 / mse.clamp(min=1e-10))).mean())


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """A normalised 2-D Gaussian kernel [size, size] of `sigma` pixels."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).float()


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """`images` [N, C, H, W] blurred by a Gaussian of `sigma` pixels (3 sigma wide each way),
    the edges reflected; differentiable."""
    radius = int(3 * sigma + 0.5)
    kernel = gaussian_window(2 * radius + 1, sigma).to(images.device, images.dtype)
    padded = F.pad(images, (radius,) * 4, mode="reflect")
    return F.conv2d(padded, kernel.expand(images.shape[1], 1, -1, -1), groups=images.shape[1])


def ssim(photos: torch.Tensor, reconstructions: torch.Tensor) -> float:
    """Structural similarity (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5), averaged
    over channels and images."""
    x, y = photos.float(), reconstructions.float()
    channels = x.shape[1]
    window = gaussian_window().to(x.device).expand(channels, 1, 11, 11)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window, groups=channels)  # "valid" windows only, as the reference

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / \
        ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return float(ssim_map.mean())


def grey(images: torch.Tensor) -> torch.Tensor:
    """The images' grey levels: [N, 1, H, W]."""
    return (images.float() * GREY.to(images.device).view(1, 3, 1, 1)).sum(1, keepdim=True)


def laplacian_variance(images: torch.Tensor) -> torch.Tensor:
    """Per image: the variance of the Laplacian of its grey levels (high = sharp edges)."""
    edges = F.conv2d(grey(images), LAPLACIAN.to(images.device).view(1, 1, 3, 3))
    return edges.flatten(1).var(1)


def sharpness_ratio(photos: torch.Tensor, images: torch.Tensor) -> float:
    """Mean Laplacian variance of `images` over that of `photos`: 1 is as sharp as the photos,
    below 1 blurrier."""
    return float(laplacian_variance(images).mean() / laplacian_variance(photos).mean())


def amplitude_spectrum(images: torch.Tensor) -> torch.Tensor:
    """The mean amplitude spectrum of the grey images, each less its mean: [H, W]."""
    levels = grey(images)[:, 0]
    return torch.fft.fft2(levels - levels.mean((-2, -1), keepdim=True)).abs().mean(0)


def grid_amplitude(images: torch.Tensor, period: int = 8) -> float:
    """How strong a grid repeating every `period` pixels is in `images`: the amplitude of the
    grey images' frequencies that repeat every `period` pixels, above the mean amplitude of the
    other frequencies at the same radius, summed. Stacked stride-2 transposed convolutions draw
    such a grid (three of them: every 8 pixels), and JPEG's 8x8 blocks put a faint one in
    photos."""
    amplitude = amplitude_spectrum(images)
    h, w = amplitude.shape
    u = torch.fft.fftfreq(h, 1 / h).abs()[:, None]  # cycles per image, down and across
    v = torch.fft.fftfreq(w, 1 / w).abs()[None, :]
    radius = torch.sqrt(u**2 + v**2).round()
    grid = ((u * period) % h == 0) & ((v * period) % w == 0) & (radius > 0)
    excess = [(amplitude[grid & (radius == r)] - amplitude[~grid & (radius == r)].mean()).sum()
              for r in radius[grid].unique()]
    return float(torch.stack(excess).sum())


def checkerboard(photos: torch.Tensor, images: torch.Tensor) -> float:
    """The 8-pixel grid of `images` over that of `photos` (grid_amplitude): 1 is as faint as
    the photos' JPEG blocks. An adversarial loss can strengthen the grid of a transposed-
    convolution decoder into a grain that sharpness counts as detail; this sees it."""
    return grid_amplitude(images) / grid_amplitude(photos)


def active_units(means: torch.Tensor, threshold: float = 0.01) -> int:
    """Latent units whose posterior mean varies across photos (Burda et al. 2016): the units
    the model uses. `means`: [N, latent_dims]."""
    return int((means.float().var(0) > threshold).sum())


def morph_smoothness(frames: torch.Tensor) -> float:
    """Largest over mean pixel distance between consecutive frames of a morph [steps, 3, H, W]:
    1 is an even walk; large values mean the morph jumps somewhere."""
    steps = (frames[1:].float() - frames[:-1].float()).flatten(1).norm(dim=1)
    return float(steps.max() / steps.mean().clamp(min=1e-12))


def kernel_inception_distance(real: torch.Tensor, fake: torch.Tensor, subsets: int = 50,
                              subset_size: int = 200, seed: int = 0) -> tuple[float, float]:
    """KID (Binkowski et al. 2018) between two feature sets [N, d]: the unbiased MMD^2 with
    the cubic polynomial kernel, averaged over random subsets. Returns (mean, std)."""
    real, fake = real.double(), fake.double()
    d = real.shape[1]
    m = min(subset_size, len(real), len(fake))
    if m < 2:
        raise ValueError("KID needs at least two feature vectors on each side")
    generator = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(subsets):
        x = real[torch.randperm(len(real), generator=generator)[:m]]
        y = fake[torch.randperm(len(fake), generator=generator)[:m]]
        k_xx = (x @ x.T / d + 1) ** 3
        k_yy = (y @ y.T / d + 1) ** 3
        k_xy = (x @ y.T / d + 1) ** 3
        off = 1 - torch.eye(m, dtype=torch.float64)
        mmd = (k_xx * off).sum() / (m * (m - 1)) + (k_yy * off).sum() / (m * (m - 1)) \
            - 2 * k_xy.mean()
        values.append(float(mmd))
    t = torch.tensor(values)
    return float(t.mean()), float(t.std()) if len(values) > 1 else 0.0
