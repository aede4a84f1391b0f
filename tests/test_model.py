"""The VAE: the original's network and parameter count, outputs in [0, 1], options that build."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from kitten_mixer import VAE, VAEConfig
from kitten_mixer.model import Refine, fold_resize_convolutions


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_the_original_network_has_the_original_parameter_count():
    model = VAE(64, 64, 500, [3, 32, 64, 128, 256], 4, 2, 1, nn.LeakyReLU())
    assert count(model) == 7_529_131
    assert model.config.activation == "leaky_relu"


def test_forward_shapes_and_range():
    torch.manual_seed(0)
    model = VAE()
    x = torch.rand(3, 3, 64, 64)
    x_hat, mean, log_var = model(x)
    assert x_hat.shape == x.shape and mean.shape == log_var.shape == (3, 500)
    assert x_hat.dtype == torch.float32
    assert 0 <= x_hat.min() and x_hat.max() <= 1
    z, mean2, _ = model.encode(x)
    assert torch.equal(mean, mean2) and not torch.equal(z, mean)  # z is a sample
    rng = torch.get_rng_state()
    mean3, log_var3 = model.posterior(x)  # the same posterior, without a sample
    assert torch.equal(mean3, mean) and torch.equal(log_var3, log_var)
    assert torch.equal(torch.get_rng_state(), rng)
    assert model.decode(z).shape == x.shape


def test_no_activation_before_the_sigmoid():
    # The original squashed the last layer with LeakyReLU before the sigmoid.
    for head in ("transpose", "conv"):
        for upsample in ("transpose", "resize"):
            last = VAE(head=head, upsample=upsample).decoder[-1]
            assert isinstance(last, (nn.ConvTranspose2d, nn.Conv2d))
    model = VAE()
    with torch.no_grad():
        model.decoder[-1].bias.fill_(-8.0)  # strongly negative logits must give dark pixels
    assert model.decode(torch.zeros(1, 500)).max() < 0.01


def test_dark_pixels_are_reachable_in_bf16():
    model = VAE(16, 16, 8, [3, 8])
    with torch.no_grad():
        model.decoder[-1].bias.fill_(7.0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model.decode(torch.zeros(1, 8))
    assert out.dtype == torch.float32 and out.max() < 1.0  # bf16 would round to exactly 1.0


@pytest.mark.parametrize("size", [(64, 64), (48, 40), (37, 51)])
@pytest.mark.parametrize("options", [{}, {"norm": "batch"}, {"norm": "group", "res_blocks": 2},
                                     {"head": "conv", "activation": "silu"},
                                     {"upsample": "resize", "head": "conv"}])
def test_any_image_size_and_option_round_trips_its_shape(size, options):
    model = VAE(size[0], size[1], 16, [3, 8, 16, 32], 4, 2, 1, **options)
    x = torch.rand(2, 3, *size)
    assert model(x)[0].shape == x.shape


def test_options_add_parameters_only_where_documented():
    base = count(VAE())
    assert count(VAE(norm="group")) > base
    assert count(VAE(res_blocks=1)) > count(VAE(norm="group"))
    assert count(VAE(head="conv")) != base


def test_resize_convolution_cannot_draw_a_checkerboard():
    # A flat feature map, upsampled: a stride-2 transposed convolution gives each of the four
    # output phases its own kernel taps, so even flat input comes out as a 2x2 checkerboard;
    # nearest-neighbour upsampling then a 3x3 convolution keeps it flat.
    torch.manual_seed(0)
    flat = torch.ones(1, 8, 4, 4)
    for upsample, checkered in (("transpose", True), ("resize", False)):
        model = VAE(16, 16, 4, [3, 8, 8], upsample=upsample)
        first_stage = model.decoder[3:5] if upsample == "resize" else model.decoder[3:4]
        with torch.no_grad():
            out = first_stage(flat)[0, :, 2:-2, 2:-2]  # away from the zero padding
        assert out.shape[-1] == 4
        spread = (out - out[:, :1, :1]).abs().max().item()
        assert (spread > 1e-3) == checkered, upsample
    assert count(VAE(upsample="resize")) < count(VAE())  # 3x3 kernels, not 4x4
    with pytest.raises(ValueError, match="upsample must be one of"):
        VAE(upsample="bilinear")


@pytest.mark.parametrize("size", [(64, 64), (37, 51)])
def test_folded_resize_convolutions_draw_the_same_pixels(size):
    torch.manual_seed(0)
    model = VAE(size[0], size[1], 16, [3, 8, 16, 32], upsample="resize").eval()
    folded = fold_resize_convolutions(model.decoder)
    z = torch.randn(5, 16)
    with torch.no_grad():
        assert torch.allclose(folded(z), model.decode_logits(z), atol=1e-5)
    kinds = [type(layer) for layer in folded]
    assert nn.Upsample not in kinds if size == (64, 64) else nn.Upsample in kinds  # odd sizes
    plain = VAE(16, 16, 4, [3, 8])
    assert fold_resize_convolutions(plain.decoder) is plain.decoder


@pytest.mark.parametrize("scale", [1, 2])
def test_a_trained_vae_grown_by_a_refine_block_draws_the_same_faces_until_it_learns(scale):
    torch.manual_seed(0)
    trained = VAE(32, 32, 8, [3, 8, 16], upsample="resize").eval()
    grown = VAE.from_config(VAEConfig.from_dict(trained.config.to_dict()
                                                | {"refine": 6, "refine_scale": scale}))
    blocks = 3 * scale * scale  # channels of the block's input: RGB logits of s x s pixels
    assert isinstance(grown.decoder[-1], Refine) \
        and count(grown) - count(trained) == (blocks * 6 + 6 * 6 + 6 * blocks) * 9 + 6 + 6 + blocks
    grown.grow(trained)
    grown.eval()
    z = torch.randn(4, 8)
    with torch.no_grad():
        assert torch.equal(grown.decode(z), trained.decode(z))  # the block is the identity
        nn.init.normal_(grown.decoder[-1].body[-1].weight, std=0.1)
        assert not torch.allclose(grown.decode(z), trained.decode(z))  # until it learns
        folded = fold_resize_convolutions(grown.decoder)  # and it folds like any decoder
        assert torch.allclose(folded(z), grown.decode_logits(z), atol=1e-5)
    again = VAE.from_config(grown.config)
    again.grow(grown)  # the same architecture: every weight taken
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(),
                                                 grown.state_dict().values()))
    with pytest.raises(ValueError, match="less a refine block"):
        grown.grow(VAE(32, 32, 9, [3, 8, 16], upsample="resize"))
    with pytest.raises(ValueError, match="less a refine block"):  # another block
        grown.grow(VAE(32, 32, 8, [3, 8, 16], upsample="resize", refine=6,
                       refine_scale=3 - scale))
    with pytest.raises(ValueError, match="refine and noise not negative"):
        VAEConfig(refine=-1)
    with pytest.raises(ValueError, match="refine_scale must be positive and divide"):
        VAEConfig(image_h=63, refine=6, refine_scale=2)


@pytest.mark.parametrize("scale", [1, 2])
def test_the_refine_blocks_noise_is_fresh_in_training_and_one_fixed_draw_when_drawing(
        scale, tmp_path):
    torch.manual_seed(0)
    trained = VAE(32, 32, 8, [3, 8, 16], upsample="resize").eval()
    grown = VAE(32, 32, 8, [3, 8, 16], upsample="resize", refine=6, refine_scale=scale, noise=2)
    block = grown.decoder[-1]
    assert block.fixed_noise.shape == (1, 2, 32 // scale, 32 // scale)
    assert block.body[0].in_channels == 3 * scale * scale + 2
    grown.grow(trained)  # a block with noise grows a decoder that had none, as any block does
    z = torch.randn(4, 8)
    with torch.no_grad():
        assert torch.equal(grown.eval().decode(z), trained.decode(z))
        nn.init.normal_(block.body[-1].weight, std=0.1)
        grown.train()
        first, second = grown.decode(z), grown.decode(z)
        assert not torch.allclose(first, second)  # a fresh draw each time in training
        grown.eval()
        drawn = grown.decode(z)
        assert not torch.allclose(drawn, first) and not torch.allclose(drawn, trained.decode(z))
        assert torch.equal(grown.decode(z), drawn)  # when drawing: always the same cat
        assert torch.allclose(grown.decode(z[2:3]), drawn[2:3], atol=1e-6)  # alone or in a batch
        folded = fold_resize_convolutions(grown.decoder)
        assert torch.allclose(folded(z), grown.decode_logits(z), atol=1e-5)
    grown.save(tmp_path / "noisy")  # the fixed draw travels with the weights
    loaded = VAE.load(tmp_path / "noisy")
    assert torch.equal(loaded.decoder[-1].fixed_noise, block.fixed_noise)
    with torch.no_grad():
        assert torch.equal(loaded.decode(z), drawn)
    with pytest.raises(ValueError, match="noise is read by the refine block"):
        VAEConfig(noise=2)
    with pytest.raises(ValueError, match="refine and noise not negative"):
        VAEConfig(refine=6, noise=-1)


def test_init_weights_is_kaiming_with_zero_bias():
    model = VAE()
    torch.nn.init.constant_(model.encoder[0].weight, 5.0)
    model.init_weights()
    conv = model.encoder[0]
    fan_in = 3 * 4 * 4
    expected = (2 / (1 + 0.01**2) / fan_in) ** 0.5
    assert abs(conv.weight.std().item() - expected) / expected < 0.15
    assert all(m.bias.abs().max() == 0 for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear)))


def test_residual_blocks_start_as_the_identity():
    from kitten_mixer.model import ResBlock

    model = VAE(32, 32, 8, [3, 8, 16], res_blocks=2)
    blocks = [m for m in model.modules() if isinstance(m, ResBlock)]
    assert len(blocks) == 8
    x = torch.randn(2, 8, 16, 16)
    assert torch.equal(blocks[0](x), x)


def test_config_round_trips_and_rejects_nonsense():
    config = VAEConfig(latent_dims=32, hidden_channels=[3, 16, 32], norm="group", res_blocks=1)
    rebuilt = VAE.from_config(VAEConfig.from_dict(config.to_dict()))
    assert rebuilt.config == config
    with pytest.raises(ValueError, match="unknown VAE settings"):
        VAEConfig.from_dict({"latent_size": 3})
    with pytest.raises(ValueError, match="norm"):
        VAEConfig(norm="layer")
    with pytest.raises(ValueError, match="activation"):
        VAE(activation=nn.PReLU())
    with pytest.raises(ValueError, match="shrink"):
        VAE(8, 8, 4, [3, 8, 8, 8, 8, 8])
