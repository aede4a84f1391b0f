"""The convolutional beta-VAE: an encoder of strided convolutions, a mirrored decoder."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import torch
from torch import nn

from kitten_mixer.device import DEFAULT_DEVICE, resolve_device
from kitten_mixer.errors import ModelFileError
from kitten_mixer.storage import read_model, save_model

ACTIVATIONS = {
    "leaky_relu": nn.LeakyReLU,
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "tanh": nn.Tanh,
}
NORMS = ("none", "batch", "group")
HEADS = ("transpose", "conv")
UPSAMPLES = ("transpose", "resize")
# Keeps exp(log_var) finite in bf16 and fp16 without touching any sane posterior.
LOG_VAR_RANGE = (-30.0, 20.0)
# The last commit with every option since removed (docs/removed-options.md): old configs and
# saved models hold those options at the value that meant "off", which is dropped on reading.
REVIVE_FROM = "9f1c572"
# Options tried and removed after that pruning, each with the last commit that has it.
REVIVE_LATER = {"refine_blocks": "1a3d062", "refine_only": "1a3d062"}
REMOVED_OPTIONS = {"refine_scale": 1, "noise": 0, "refine_blocks": 0}  # the VAE's, at that value


def drop_removed(settings: dict, removed: dict, kind: str) -> dict:
    """`settings` less the `removed` options (name: the value that meant "off") that hold that
    value; a removed option set to anything else is a ValueError naming it."""
    for name, off in removed.items():
        if name in settings and settings[name] != off:
            raise ValueError(f"{kind} option {name!r} = {settings[name]!r} was removed; it "
                             f"lives on in commit {REVIVE_LATER.get(name, REVIVE_FROM)}")
    return {k: v for k, v in settings.items() if k not in removed}


def activation_name(activation: str | nn.Module) -> str:
    """The config name of an activation given by name or as a module (nn.LeakyReLU())."""
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; "
                             f"choose from {sorted(ACTIVATIONS)}")
        return activation
    for name, cls in ACTIVATIONS.items():
        if type(activation) is cls:
            if name == "leaky_relu" and activation.negative_slope != 0.01:
                raise ValueError("only LeakyReLU's default slope (0.01) can be saved in a config")
            return name
    raise ValueError(f"unsupported activation {activation!r}; choose from {sorted(ACTIVATIONS)}")


@dataclass
class VAEConfig:
    """Everything that defines a VAE's architecture; round-trips through JSON.

    The first eight fields are the original constructor's. The rest are off by default, so the
    original configurations build the original networks, less the original's one flaw: the last
    decoder layer goes straight into the sigmoid, with no hidden activation before it.
    """

    image_h: int = 64
    image_w: int = 64
    latent_dims: int = 500
    hidden_channels: list[int] = field(default_factory=lambda: [3, 32, 64, 128, 256])
    kernel_size: int = 4
    stride: int = 2
    padding: int = 1
    activation: str = "leaky_relu"
    norm: str = "none"  # after each convolution: "none", "batch" or "group" (GroupNorm, 8 groups)
    res_blocks: int = 0  # residual blocks (two 3x3 convolutions) after each encoder stage
    head: str = "transpose"  # "conv": last up-convolution keeps channels, a 3x3 conv makes RGB
    upsample: str = "transpose"  # how the decoder doubles its size: a stride-2 transposed
    #     convolution, or "resize": nearest-neighbour upsampling, then a 3x3 convolution. A
    #     transposed convolution draws each output phase with its own kernel, which an
    #     adversarial loss turns into a checkerboard; resize-convolution cannot draw one.
    refine: int = 0  # width of a residual block at full size on the decoder's logits (0:
    #     none). The last layer otherwise draws each output pixel as a linear function of the
    #     upsampled features, so no nonlinearity works at full size: edges and fur have to be
    #     drawn at half size. The block starts as the identity, so a trained decoder grown by it
    #     draws the same faces until it learns (see `grow`).

    def __post_init__(self) -> None:
        self.hidden_channels = list(self.hidden_channels)
        self.activation = activation_name(self.activation)
        if len(self.hidden_channels) < 2:
            raise ValueError("hidden_channels lists the input channels, then at least one layer")
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, not {self.norm!r}")
        if self.head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, not {self.head!r}")
        if self.upsample not in UPSAMPLES:
            raise ValueError(f"upsample must be one of {UPSAMPLES}, not {self.upsample!r}")
        if self.latent_dims < 1 or self.res_blocks < 0 or self.refine < 0:
            raise ValueError("latent_dims must be positive, res_blocks and refine not negative")

    def to_dict(self) -> dict:
        return asdict(self)

    def grows_from(self, trained: VAEConfig) -> bool:
        """Whether this architecture can start from weights trained in `trained`: the same
        one, or the same less the refine block (`VAE.grow`)."""
        return self == trained or (not trained.refine and replace(self, refine=0) == trained)

    @classmethod
    def from_dict(cls, data: dict) -> VAEConfig:
        """A config from a dict, such as a saved model's architecture; removed options at
        their old "off" value are dropped, at any other value refused (ValueError)."""
        data = drop_removed(data, REMOVED_OPTIONS, "model")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown VAE settings: {sorted(unknown)}")
        return cls(**data)


def _conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(min(8, channels), channels)
    return nn.Identity()


class ResBlock(nn.Module):
    """x + conv(act(norm(conv(act(norm(x)))))): detail without changing the shape."""

    def __init__(self, channels: int, norm: str, activation: str):
        super().__init__()
        act = ACTIVATIONS[activation]
        self.body = nn.Sequential(
            _norm(norm, channels), act(), nn.Conv2d(channels, channels, 3, padding=1),
            _norm(norm, channels), act(), nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Refine(nn.Module):
    """x + conv(act(conv(act(conv(x))))) on the image's logits at full size, `width` channels
    inside: three nonlinear 3x3 layers (a 7x7 view) that can sharpen edges and draw texture
    where the upsampling stages before it could only interpolate."""

    def __init__(self, channels: int, width: int, activation: str):
        super().__init__()
        act = ACTIVATIONS[activation]
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), act(),
            nn.Conv2d(width, width, 3, padding=1), act(),
            nn.Conv2d(width, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class VAE(nn.Module):
    """A beta-VAE for images: `encode` to a Gaussian posterior, `decode` to pixels in [0, 1].

    `VAE(64, 64, 500, [3, 32, 64, 128, 256], 4, 2, 1, nn.LeakyReLU())` is the original
    project's network (7,529,131 parameters). Keyword options (see `VAEConfig`) add
    normalisation, residual blocks, a convolutional output head and resize-convolutions.
    """

    def __init__(self, image_h: int = 64, image_w: int = 64, latent_dims: int = 500,
                 hidden_channels: list[int] | None = None, kernel_size: int = 4, stride: int = 2,
                 padding: int = 1, activation: str | nn.Module = "leaky_relu", *,
                 norm: str = "none", res_blocks: int = 0, head: str = "transpose",
                 upsample: str = "transpose", refine: int = 0):
        super().__init__()
        self.config = VAEConfig(image_h, image_w, latent_dims,
                                hidden_channels or [3, 32, 64, 128, 256], kernel_size, stride,
                                padding, activation_name(activation), norm, res_blocks, head,
                                upsample, refine)
        c = self.config
        act = ACTIVATIONS[c.activation]
        channels = c.hidden_channels

        # Spatial sizes after each encoder stage, so the decoder can restore them exactly.
        sizes = [(c.image_h, c.image_w)]
        for _ in channels[1:]:
            h, w = sizes[-1]
            sizes.append((_conv_out(h, c.kernel_size, c.stride, c.padding),
                          _conv_out(w, c.kernel_size, c.stride, c.padding)))
        if min(sizes[-1]) < 1:
            raise ValueError(f"{len(channels) - 1} stride-{c.stride} layers shrink a "
                             f"{c.image_h}x{c.image_w} image to nothing")
        self.feature_shape = (channels[-1], *sizes[-1])
        flat = channels[-1] * sizes[-1][0] * sizes[-1][1]

        encoder: list[nn.Module] = []
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            encoder += [nn.Conv2d(c_in, c_out, c.kernel_size, c.stride, c.padding),
                        _norm(c.norm, c_out), act()]
            encoder += [ResBlock(c_out, c.norm, c.activation) for _ in range(c.res_blocks)]
        self.encoder = nn.Sequential(*encoder, nn.Flatten())
        self.mean = nn.Linear(flat, c.latent_dims)
        self.log_var = nn.Linear(flat, c.latent_dims)

        decoder: list[nn.Module] = [nn.Linear(c.latent_dims, flat), act(),
                                    nn.Unflatten(1, self.feature_shape)]
        stages = list(zip(channels[:0:-1], channels[-2::-1], sizes[-2::-1], sizes[:0:-1]))
        for i, (c_in, c_out, target, source) in enumerate(stages):
            last = i == len(stages) - 1
            decoder += [ResBlock(c_in, c.norm, c.activation) for _ in range(c.res_blocks)]
            if last and c.head == "conv":
                c_out = channels[1]
            if c.upsample == "resize":
                decoder += [nn.Upsample(size=target, mode="nearest"),
                            nn.Conv2d(c_in, c_out, 3, padding=1)]
            else:
                extra = tuple(t - ((s - 1) * c.stride - 2 * c.padding + c.kernel_size)
                              for t, s in zip(target, source))
                decoder.append(nn.ConvTranspose2d(c_in, c_out, c.kernel_size, c.stride,
                                                  c.padding, output_padding=extra))
            if not last:
                decoder += [_norm(c.norm, c_out), act()]
            elif c.head == "conv":
                decoder += [act(), nn.Conv2d(c_out, channels[0], 3, padding=1)]
        if c.refine:
            decoder.append(Refine(channels[0], c.refine, c.activation))
        # The network ends in logits: the sigmoid is applied in `decode`, never after another
        # activation (the original's LeakyReLU before the sigmoid starved dark pixels).
        self.decoder = nn.Sequential(*decoder)
        self.init_weights()

    @property
    def latent_dims(self) -> int:
        return self.config.latent_dims

    def init_weights(self) -> None:
        """Kaiming-normal weights and zero biases for every convolution and linear layer."""
        slope = 0.01 if self.config.activation == "leaky_relu" else 0.0
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, a=slope, nonlinearity="leaky_relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        # A unit-variance posterior at the start: Kaiming-sized log-variances would make the
        # first samples noise of variance e^10.
        nn.init.zeros_(self.log_var.weight)
        # Residual blocks start as the identity (their last convolution at zero), so that
        # stacking them without normalisation does not blow the activations up in bf16.
        for module in self.modules():
            if isinstance(module, (ResBlock, Refine)):
                nn.init.zeros_(module.body[-1].weight)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images [N, C, H, W] in [0, 1] -> the posterior's (mean, log-variance), drawing no
        random numbers."""
        features = self.encoder(x)
        return self.mean(features), self.log_var(features).clamp(*LOG_VAR_RANGE)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Images [N, C, H, W] in [0, 1] -> (a posterior sample z, its mean, its log-variance)."""
        mean, log_var = self.posterior(x)
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)
        return z, mean, log_var

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Latents [N, latent_dims] -> pixel logits [N, C, H, W]."""
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents [N, latent_dims] -> images [N, C, H, W] in [0, 1], always in float32."""
        return logits_to_pixels(self.decode_logits(z))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Images -> (reconstructions in [0, 1], posterior mean, posterior log-variance)."""
        z, mean, log_var = self.encode(x)
        return self.decode(z), mean, log_var

    @classmethod
    def from_config(cls, config: VAEConfig | dict) -> VAE:
        """A freshly initialised VAE with the given architecture."""
        if isinstance(config, dict):
            config = VAEConfig.from_dict(config)
        c = config
        return cls(c.image_h, c.image_w, c.latent_dims, c.hidden_channels, c.kernel_size,
                   c.stride, c.padding, c.activation, norm=c.norm, res_blocks=c.res_blocks,
                   head=c.head, upsample=c.upsample, refine=c.refine)

    def grow(self, trained: VAE) -> None:
        """Take a trained VAE's weights into this one, which may add a refine block to its
        architecture: the block starts as the identity, so this VAE draws what `trained`
        draws, and fine-tuning goes on from there."""
        if not self.config.grows_from(trained.config):
            raise ValueError("growing takes a VAE of the same architecture, less a refine block")
        own, state = self.state_dict(), trained.state_dict()
        if not trained.config.refine and self.config.refine:  # the block keeps its own start
            block = f"decoder.{len(self.decoder) - 1}."
            state |= {k: v for k, v in own.items() if k.startswith(block)}
        load_weights(self, state, "the trained VAE")

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = DEFAULT_DEVICE) -> VAE:
        """A trained VAE from a saved-model folder, in eval mode."""
        return load_model(path, device)[0]

    def save(self, path: str | os.PathLike, **info: Any) -> None:
        """Write this VAE as a saved-model folder; `info` goes into its config.json."""
        save_model(self, path, **info)


def logits_to_pixels(logits: torch.Tensor) -> torch.Tensor:
    """A decoder's logits as pixels in [0, 1], in float32. The sigmoid runs in float32 even
    under bf16 autocast: bf16 rounds 0.998 to 1.0, and binary cross-entropy at exactly 1.0 is
    infinite."""
    return torch.sigmoid(logits.float())


# Nearest-neighbour 2x upsampling then a 3x3 convolution is a stride-2 transposed convolution
# whose 4x4 kernel is this matrix times the 3x3 kernel times its transpose, row and column:
# each output phase sees two input pixels a side, with summed taps.
_FOLD = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


def fold_resize_convolutions(decoder: nn.Sequential) -> nn.Sequential:
    """A decoder for inference that computes the same pixels faster: each exact 2x
    nearest-neighbour upsampling and the 3x3 convolution after it become one stride-2
    transposed convolution (4 kernel taps an output pixel instead of 9). Its other layers are
    the decoder's own; its folded weights are copies, taken now. A decoder without
    resize-convolutions comes back as it is."""
    layers = list(decoder)
    if not any(isinstance(layer, nn.Upsample) for layer in layers):
        return decoder
    first = next(layer for layer in layers if isinstance(layer, nn.Linear))
    x = torch.zeros(1, first.in_features, device=first.weight.device)  # to follow the sizes
    folded: list[nn.Module] = []
    i = 0
    while i < len(layers):
        layer = layers[i]
        conv = layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(layer, nn.Upsample) and isinstance(conv, nn.Conv2d) \
                and tuple(layer(x).shape[2:]) == (2 * x.shape[2], 2 * x.shape[3]):
            fold = _FOLD.to(conv.weight)
            transposed = nn.ConvTranspose2d(conv.in_channels, conv.out_channels, 4, 2, 1,
                                            bias=conv.bias is not None).to(conv.weight)
            with torch.no_grad():
                transposed.weight.copy_(torch.einsum("ak,oikl,bl->ioab", fold,
                                                     conv.weight, fold))
                if conv.bias is not None:
                    transposed.bias.copy_(conv.bias)
            folded.append(transposed)
            i += 2
        else:
            folded.append(layer)
            i += 1
        with torch.no_grad():
            x = folded[-1](x)
    return nn.Sequential(*folded)


def load_weights(module: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load `state` into `module`, naming what does not match if anything does not."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        problems = []
        if missing:
            problems.append(f"{len(missing)} weights missing (e.g. {missing[0]})")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if wrong:
            k = wrong[0]
            problems.append(f"{len(wrong)} of another shape (e.g. {k}: "
                            f"{tuple(state[k].shape)} in the file, {tuple(own[k].shape)} expected)")
        raise ModelFileError(f"{source}: the weights do not match the architecture: "
                             + "; ".join(problems))
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})


def load_model(path: str | os.PathLike, device: str | torch.device = DEFAULT_DEVICE
               ) -> tuple[VAE, dict[str, Any]]:
    """A saved-model folder as (its VAE in eval mode on `device`, its config dict)."""
    weights, config = read_model(path)
    try:
        model = VAE.from_config(VAEConfig.from_dict(config["architecture"]))
    except (TypeError, ValueError) as e:
        raise ModelFileError(f"{path}: invalid architecture in its config.json ({e})") from None
    load_weights(model, weights, str(path))
    return model.to(resolve_device(device)).eval(), config
