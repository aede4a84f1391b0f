"""The adversarial stage: its discriminator and augmentation, its config, and a fine-tune that
keeps the trainer's guarantees (bit-exact resume with the discriminator, a frozen encoder)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from conftest import TINY
from PIL import Image

from kitten_mixer import ExperimentConfig, VAEConfig, run_experiment
from kitten_mixer.cli import main
from kitten_mixer.errors import TrainingError
from kitten_mixer.model import REVIVE_FROM, load_model
from kitten_mixer.storage import RunFolder, load_checkpoint
from kitten_mixer.training import adversarial
from kitten_mixer.training.adversarial import (
    R1_INTERVAL,
    REMOVED_OPTIONS,
    AdversarialConfig,
    Adversary,
    MixWatch,
    PatchDiscriminator,
    diff_augment,
)


def test_the_discriminator_judges_patches():
    logits = PatchDiscriminator(channels=8, layers=3)(torch.rand(2, 3, 64, 64))
    assert logits.shape == (2, 1, 8, 8)


def test_the_r1_penalty_flattens_the_discriminator_around_photos(tiny_model):
    photos, fakes = torch.rand(8, 3, 16, 16), torch.rand(8, 3, 16, 16)

    def slope_after_training(r1: float) -> float:
        torch.manual_seed(0)
        adversary = Adversary(AdversarialConfig(spectral_norm=False, r1=r1, lr=1e-3,
                                                augment=False), tiny_model)
        assert not any("parametrizations" in name
                       for name, _ in adversary.discriminator.named_parameters())
        for _ in range(30):
            hinge = adversary.discriminator_step(photos, fakes)
        assert hinge.ndim == 0 and hinge >= 0  # the hinge alone, without the penalty
        x = photos.clone().requires_grad_(True)
        score = adversary.discriminator(x).mean(dim=(1, 2, 3)).sum()
        return torch.autograd.grad(score, x)[0].square().sum().item()

    unpenalised = slope_after_training(r1=0.0)
    assert slope_after_training(r1=10.0) < 0.2 * unpenalised  # lazily, every 4th update
    with pytest.raises(ValueError, match="r1 at least 0"):
        AdversarialConfig(r1=-1)


def test_the_r1_penalty_comes_every_fourth_update_and_each_update_is_one_step(
        tiny_model, monkeypatch):
    torch.manual_seed(0)
    adversary = Adversary(AdversarialConfig(r1=0.01, head_start=2), tiny_model)
    x, fakes = torch.rand(4, 3, 16, 16), torch.rand(4, 3, 16, 16)
    penalised, grad = [], torch.autograd.grad

    def spy(*args, **kwargs):
        if kwargs.get("create_graph"):  # the penalty's double backward
            penalised.append(adversary.steps.item())
        return grad(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", spy)
    hinges = [adversary.discriminator_step(x, fakes).item() for _ in range(2 * R1_INTERVAL + 1)]
    assert penalised == [0, R1_INTERVAL, 2 * R1_INTERVAL]
    state = adversary.optimizer.state_dict()["state"]
    assert [s["step"].item() for s in state.values()] == [len(hinges)] * len(state)
    assert adversary.steps.item() == len(hinges)  # the head start counts these steps
    assert adversary.summary()["discriminator_loss"] == pytest.approx(
        sum(hinges) / len(hinges), abs=1e-4)


def test_training_does_not_import_the_evaluation():
    """Training needs none of the metrics, nor the EfficientNet features they may load."""
    code = ("import sys, kitten_mixer.training.experiment; "
            "print(sorted(m for m in sys.modules if m.startswith('kitten_mixer.evaluation')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_diff_augment_moves_colours_and_pixels_and_lets_gradients_through():
    x = torch.rand(4, 3, 16, 16, requires_grad=True)
    torch.manual_seed(0)
    y = diff_augment(x)
    assert y.shape == x.shape and not torch.allclose(y, x)
    holes = (y == 0).all(1).flatten(1).sum(1)  # pixels black in every channel: the cutout
    assert (holes >= 4 * 4).all() and (holes <= 7 * 7).all()
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    torch.manual_seed(0)
    assert torch.equal(diff_augment(x), y)  # drawn from torch's generator: resumable


def test_the_config_round_trips_and_refuses_a_frozen_encoder_without_a_model():
    config = ExperimentConfig(model=VAEConfig(**TINY), init="runs/base",
                              adversarial=AdversarialConfig(mixes=0.5, start_epoch=3))
    assert ExperimentConfig.from_dict(config.to_dict()) == config
    assert ExperimentConfig().adversarial is None
    with pytest.raises(ValueError, match="decoder_only fine-tunes a trained decoder"):
        ExperimentConfig(adversarial=AdversarialConfig())
    with pytest.raises(ValueError, match="mixes must be from 0 to 1"):
        AdversarialConfig(mixes=2)
    with pytest.raises(ValueError, match="unknown adversarial settings: \\['fur'\\]"):
        AdversarialConfig.from_dict({"fur": 1.0})
    assert ExperimentConfig(adversarial={"decoder_only": False}).adversarial.decoder_only is False


# Each removed option at the value that meant "off", as older configs and runs hold it, and at
# a value that switched it on.
REMOVED_OFF = {"r1_interval": 4, "critic_steps": 1, "ramp": 0, "max_weight": 1e4,
               "fixed_weight": None, "feature_matching": 0.0, "detail": 0.0}
REMOVED_ON = {"r1_interval": 1, "critic_steps": 3, "ramp": 500, "max_weight": 6.0,
              "fixed_weight": 10.0, "feature_matching": 1.0, "detail": 1.0}


def test_a_config_with_the_removed_options_off_loads_as_one_without_them(tmp_path):
    assert REMOVED_OPTIONS == REMOVED_OFF
    settings = {"model": TINY, "init": "runs/base", "adversarial": {"channels": 8, "r1": 0.01}}
    (tmp_path / "new.json").write_text(json.dumps(settings))
    settings["adversarial"] |= REMOVED_OFF
    settings["model"] = TINY | {"refine_scale": 1, "noise": 0, "refine_blocks": 0}
    settings["refine_only"] = False  # removed later, with the model's refine_blocks
    (tmp_path / "old.json").write_text(json.dumps(settings))
    old = ExperimentConfig.read(tmp_path / "old.json")
    assert old == ExperimentConfig.read(tmp_path / "new.json")
    assert "detail" not in old.to_dict()["adversarial"]
    assert ExperimentConfig(adversarial=REMOVED_OFF, init="runs/base").adversarial \
        == AdversarialConfig()


def test_a_config_that_trains_a_refiner_alone_names_the_commit_it_lives_on_in(tmp_path):
    config = tmp_path / "refiner.json"
    config.write_text(json.dumps({"model": TINY, "init": "runs/base", "refine_only": True}))
    with pytest.raises(TrainingError, match="experiment option 'refine_only' = True was "
                                            "removed; it lives on in commit 1a3d062"):
        ExperimentConfig.read(config)


@pytest.mark.parametrize("name", sorted(REMOVED_ON))
def test_a_config_that_sets_a_removed_option_is_refused_in_one_line(name, tmp_path, capsys):
    config = tmp_path / "old.json"
    config.write_text(json.dumps({"model": TINY, "init": "runs/base",
                                  "adversarial": {"channels": 8, name: REMOVED_ON[name]}}))
    message = (f"adversarial option {name!r} = {REMOVED_ON[name]!r} was removed; it lives on "
               f"in commit {REVIVE_FROM}")
    with pytest.raises(TrainingError) as error:
        ExperimentConfig.read(config)
    assert str(error.value) == f"{config}: {message}"
    with pytest.raises(ValueError, match=message):
        ExperimentConfig(adversarial={name: REMOVED_ON[name]}, init="runs/base")
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"),
                 "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err == f"kitten-mixer: error: {config}: {message}\n"


def test_a_config_that_sets_a_removed_model_option_is_refused(tmp_path):
    config = tmp_path / "old.json"
    config.write_text(json.dumps({"model": TINY | {"upsample": "resize", "refine": 6,
                                                   "noise": 4}}))
    with pytest.raises(TrainingError, match=f"{config}: model option 'noise' = 4 was removed; "
                                            f"it lives on in commit {REVIVE_FROM}"):
        ExperimentConfig.read(config)


def test_the_adaptive_weight_balances_the_two_gradients(tiny_model):
    adversary = Adversary(AdversarialConfig(factor=1.0, augment=False), tiny_model)
    x = torch.rand(4, 3, 16, 16)
    x_hat, mean, _ = tiny_model(x)
    reconstruction = (x_hat - x).pow(2).sum((1, 2, 3)).mean()
    fooling, fakes = adversary.generator_term(x_hat, mean, reconstruction)
    assert torch.equal(fakes, x_hat.detach())
    # Its gradient at the decoder's last layer is as large as the reconstruction's.
    rec = torch.autograd.grad(reconstruction, adversary.last_layer, retain_graph=True)[0]
    gan = torch.autograd.grad(fooling, adversary.last_layer, retain_graph=True)[0]
    assert gan.norm().item() == pytest.approx(rec.norm().item(), rel=1e-2)  # less its 1e-4
    before = [p.detach().clone() for p in adversary.discriminator.parameters()]
    loss = adversary.discriminator_step(x, fakes)
    assert torch.isfinite(loss) and adversary.steps.item() == 1
    assert any(not torch.equal(a, b) for a, b in
               zip(before, adversary.discriminator.parameters()))


def test_the_adaptive_weight_stops_at_factor_times_its_ceiling(tiny_model, monkeypatch):
    x = torch.rand(4, 3, 16, 16)
    x_hat, mean, _ = tiny_model(x)
    reconstruction = (x_hat - x).pow(2).sum((1, 2, 3)).mean()
    weights = []
    for ceiling in (1e4, 1e-3):
        monkeypatch.setattr(adversarial, "MAX_WEIGHT", ceiling)
        adversary = Adversary(AdversarialConfig(factor=0.5, augment=False), tiny_model)
        adversary.generator_term(x_hat, mean, reconstruction)
        weights.append(adversary.tally[0].item())  # this step's weight
    assert weights[0] > 1e-3  # the gradient ratio, unclamped
    assert weights[1] == pytest.approx(0.5e-3)


def test_a_held_weight_is_measured_every_weight_every_updates_and_survives_a_restore(
        tiny_model):
    adversary = Adversary(AdversarialConfig(weight_every=3, augment=False), tiny_model)
    x = torch.rand(4, 3, 16, 16)
    weights = []
    for scale in (1, 10, 10, 10, 10):  # a reconstruction's gradient ten times as large
        x_hat, mean, _ = tiny_model(x)  # a fresh graph: the discriminator has stepped
        reconstruction = (x_hat - x).pow(2).sum((1, 2, 3)).mean()
        before = adversary.tally[0].item()
        _, fakes = adversary.generator_term(x_hat, mean, scale * reconstruction)
        weights.append(adversary.tally[0].item() - before)
        adversary.discriminator_step(x, fakes)
    # Measured at the first and fourth updates: the larger gradient is heard only then.
    assert weights[1] == weights[2] == weights[0]
    assert weights[3] == pytest.approx(10 * weights[0], rel=0.2) and weights[4] == weights[3]
    restored = Adversary(AdversarialConfig(weight_every=3, augment=False), tiny_model)
    restored.restore(adversary.checkpoint())
    assert restored.held_weight.item() == weights[4]
    # A checkpoint from before the weight was held restores without it, measured anew.
    older = adversary.checkpoint()
    del older["discriminator"]["held_weight"]
    restored.restore(older)
    assert restored.held_weight.item() == 0
    x_hat, mean, _ = tiny_model(x)
    reconstruction = (x_hat - x).pow(2).sum((1, 2, 3)).mean()
    restored.generator_term(x_hat, mean, reconstruction)
    assert restored.held_weight.item() > 0


def test_with_a_head_start_the_decoder_hears_the_discriminator_only_after_it(tiny_model):
    adversary = Adversary(AdversarialConfig(head_start=2), tiny_model)
    x = torch.rand(4, 3, 16, 16)
    x_hat, mean, _ = tiny_model(x)
    reconstruction = (x_hat - x).pow(2).sum((1, 2, 3)).mean()
    for _ in range(2):
        fooling, fakes = adversary.generator_term(x_hat, mean, reconstruction)
        assert fooling.item() == 0
        adversary.discriminator_step(x, fakes)
    fooling, _ = adversary.generator_term(x_hat, mean, reconstruction)
    assert fooling.item() != 0 and fooling.requires_grad


def test_mixes_replace_a_share_of_the_fakes(tiny_model):
    adversary = Adversary(AdversarialConfig(mixes=0.5), tiny_model)
    x = torch.rand(8, 3, 16, 16)
    x_hat, mean, _ = tiny_model(x)
    fakes = adversary.fakes(x_hat, mean)
    assert fakes.shape == x_hat.shape
    assert torch.equal(fakes[4:], x_hat[4:]) and not torch.equal(fakes[:4], x_hat[:4])


def test_the_decoders_average_starts_at_the_stage_and_is_lent_for_validating_and_saving(
        tiny_model):
    adversary = Adversary(AdversarialConfig(ema=0.75), tiny_model)
    weight = tiny_model.decoder[0].weight
    with torch.no_grad():
        weight.fill_(1.0)
    adversary.update_average()  # the stage's first step: the average starts from the weights
    assert torch.equal(adversary.average[0], weight)
    adversary.steps += 1
    with torch.no_grad():
        weight.fill_(3.0)
    adversary.update_average()
    assert torch.allclose(adversary.average[0], torch.full_like(weight, 1.5))  # 0.75 * 1 + 0.25 * 3
    with adversary.averaged():
        assert torch.allclose(weight, torch.full_like(weight, 1.5))
    assert torch.equal(weight, torch.full_like(weight, 3.0))  # its own weights are back
    plain = Adversary(AdversarialConfig(), tiny_model)
    assert len(plain.average) == 0
    with plain.averaged():
        assert torch.equal(weight, torch.full_like(weight, 3.0))
    with pytest.raises(ValueError, match="ema"):
        AdversarialConfig(ema=1.0)


@pytest.fixture
def base(tmp_path, photo_folder):
    """A tiny VAE trained for one epoch: the model the adversarial stage fine-tunes."""
    config = ExperimentConfig(model=VAEConfig(**TINY), batch_size=8, epochs=1, lr=3e-3,
                              precision="fp32")
    run_experiment(config, photo_folder, tmp_path / "base", device="cpu", progress=False)
    return tmp_path / "base"


def fine_tune(base, **adversarial) -> ExperimentConfig:
    return ExperimentConfig(model=VAEConfig(**TINY), batch_size=8, epochs=2, lr=1e-3,
                            precision="fp32", flip=True, init=str(base),
                            adversarial=AdversarialConfig(channels=8, **adversarial))


def test_the_mix_watch_draws_morphs_at_its_steps_without_touching_the_training(
        tiny_model, tmp_path):
    faces = (torch.rand(5, 3, 16, 16) * 255).to(torch.uint8)  # two pairs; the fifth unused
    watch = MixWatch(faces, tmp_path / "mixes", frames=5, zoom=2)
    tiny_model.train()
    weights = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    rng = torch.get_rng_state()
    assert watch(tiny_model, 2) is None and not (tmp_path / "mixes").exists()
    path = watch(tiny_model, 25)
    assert path == tmp_path / "mixes" / "step-00025.png"
    with Image.open(path) as picture:  # 5 frames of 32 px a row, 2 rows, 2 px between
        assert picture.size == (5 * 34 + 2, 2 * 34 + 2)
    assert torch.equal(torch.get_rng_state(), rng)  # a watched run trains as an unwatched one
    assert tiny_model.training
    assert all(torch.equal(v, weights[k]) for k, v in tiny_model.state_dict().items())
    with pytest.raises(ValueError, match="at least two uint8 faces"):
        MixWatch(faces[:1], tmp_path)


@pytest.mark.slow  # three tiny trainings
def test_a_decoder_only_fine_tune_keeps_the_encoder_and_resumes_to_the_bit(
        tmp_path, photo_folder, base):
    config = fine_tune(base, mixes=0.25, ema=0.9, r1=0.01, weight_every=3)
    run_experiment(config, photo_folder, tmp_path / "straight", device="cpu", progress=False)
    run_experiment(replace(config, epochs=1), photo_folder, tmp_path / "resumed", device="cpu",
                   progress=False)
    run_experiment(config, photo_folder, tmp_path / "resumed", device="cpu", resume=True,
                   progress=False)
    straight, resumed = (load_checkpoint(RunFolder(tmp_path / name).checkpoint(2))
                         for name in ("straight", "resumed"))
    watched = sorted(p.name for p in (tmp_path / "straight" / "mixes").iterdir())
    assert watched[0] == "step-00001.png"  # the first mixes that heard the discriminator
    assert watched == sorted(p.name for p in (tmp_path / "resumed" / "mixes").iterdir())
    for part in ("model", "adversary"):
        flat_a, flat_b = _tensors(straight[part]), _tensors(resumed[part])
        assert flat_a.keys() == flat_b.keys() and flat_a
        for name, tensor in flat_a.items():
            assert torch.equal(tensor, flat_b[name]), (part, name)
    start, _ = load_model(base, "cpu")
    tuned = straight["model"]
    for name, weights in start.state_dict().items():
        same = torch.equal(weights.float(), tuned[name].float())
        assert same == (not name.startswith("decoder")), name
    # The saved model is the decoder's moving average; the checkpoint trains on its own weights.
    saved, _ = load_model(tmp_path / "straight", "cpu")
    average = straight["adversary"]["discriminator"]
    decoder = [name for name, _ in saved.named_parameters() if name.startswith("decoder")]
    for i, name in enumerate(decoder):
        assert torch.equal(saved.state_dict()[name], average[f"average.{i}"]), name
    assert not torch.equal(saved.state_dict()[decoder[0]], tuned[decoder[0]])


@pytest.mark.slow  # two tiny trainings
def test_an_end_to_end_stage_after_a_warm_up_trains_the_encoder_too(tmp_path, photo_folder,
                                                                    base):
    config = replace(fine_tune(base, decoder_only=False, start_epoch=2, augment=False), epochs=2)
    history = run_experiment(config, photo_folder, tmp_path / "run", device="cpu",
                             progress=False)
    assert len(history) == 2 and all(torch.isfinite(torch.tensor(r["train_loss"]))
                                     for r in history)
    first = load_checkpoint(RunFolder(tmp_path / "run").checkpoint(2))
    assert first["adversary"]["discriminator"]["steps"].item() > 0  # only epoch 2 had one
    start, _ = load_model(base, "cpu")
    assert not torch.equal(start.state_dict()["mean.weight"].float(),
                           first["model"]["mean.weight"].float())


def _tensors(tree, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor of a nested dict or list, by its path."""
    if isinstance(tree, torch.Tensor):
        return {prefix: tree}
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) \
        if isinstance(tree, (list, tuple)) else []
    out = {}
    for key, value in items:
        out.update(_tensors(value, f"{prefix}/{key}"))
    return out
