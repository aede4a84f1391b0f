"""The VAE: the original's network and parameter count, outputs in [0, 1], options that build."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from torch import nn

import kitten_mixer
from kitten_mixer import VAE, VAEConfig
from kitten_mixer.errors import ModelFileError
from kitten_mixer.model import REVIVE_FROM, Refine, fold_resize_convolutions, load_model


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


def test_a_trained_vae_grown_by_a_refine_block_draws_the_same_faces_until_it_learns():
    torch.manual_seed(0)
    trained = VAE(32, 32, 8, [3, 8, 16], upsample="resize").eval()
    grown = VAE.from_config(VAEConfig.from_dict(trained.config.to_dict() | {"refine": 6}))
    assert isinstance(grown.decoder[-1], Refine) \
        and count(grown) - count(trained) == (3 * 6 + 6 * 6 + 6 * 3) * 9 + 6 + 6 + 3
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
        grown.grow(VAE(32, 32, 8, [3, 8, 16], upsample="resize", refine=4))
    with pytest.raises(ValueError, match="res_blocks and refine not negative"):
        VAEConfig(refine=-1)


def test_a_saved_model_with_a_removed_option_loads_at_its_old_default_and_not_otherwise(
        tmp_path):
    """Saved models of older versions list `refine_scale` and `noise` in their architecture
    (docs/removed-options.md): at the values that meant "off" they are dropped, at any other
    value the model cannot be built, and the error names the option and where it lives on."""
    model = VAE(32, 32, 8, [3, 8, 16], upsample="resize", refine=6)
    model.save(tmp_path / "old")
    config_file = tmp_path / "old" / "config.json"
    config = json.loads(config_file.read_text())
    for old in ({"refine_scale": 1, "noise": 0}, {"refine_scale": 1}, {"noise": False}):
        config["architecture"] = model.config.to_dict() | old
        config_file.write_text(json.dumps(config))
        loaded, _ = load_model(tmp_path / "old", "cpu")
        assert loaded.config == model.config
    for name, value in (("noise", 4), ("refine_scale", 2)):
        config["architecture"] = model.config.to_dict() | {name: value}
        config_file.write_text(json.dumps(config))
        with pytest.raises(ModelFileError) as error:
            load_model(tmp_path / "old", "cpu")
        assert f"model option {name!r} = {value} was removed; it lives on in commit " \
            f"{REVIVE_FROM}" in str(error.value) and "\n" not in str(error.value)
    assert REVIVE_FROM == "9f1c572"
    config["architecture"] = model.config.to_dict() | {"refine_blocks": 0}  # removed later
    config_file.write_text(json.dumps(config))
    assert load_model(tmp_path / "old", "cpu")[0].config == model.config
    config["architecture"]["refine_blocks"] = 4
    config_file.write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match="'refine_blocks' = 4 was removed; it lives on in "
                                             "commit 1a3d062"):
        load_model(tmp_path / "old", "cpu")


def test_the_shipped_model_loads_and_so_does_one_saved_with_a_removed_option_at_its_default(
        tmp_path):
    """The default before the shipped one wrote `refine_scale` (at 1) into its config.json."""
    folder = Path(kitten_mixer.__file__).parent / "weights" / "default"
    model, _ = load_model(folder, "cpu")
    assert model.config.refine == 16 and model.config.upsample == "resize"
    old = tmp_path / "old"
    shutil.copytree(folder, old)
    config = json.loads((old / "config.json").read_text())
    config["architecture"]["refine_scale"] = 1
    (old / "config.json").write_text(json.dumps(config))
    again, _ = load_model(old, "cpu")
    assert again.config == model.config
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(),
                                                 model.state_dict().values()))


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
