"""Saved models and checkpoints: safetensors folders, atomic, with clear errors when damaged."""

from __future__ import annotations

import json

import pytest
import torch

from kitten_mixer import VAE, KittenMixer
from kitten_mixer.errors import ModelFileError
from kitten_mixer.model import load_model
from kitten_mixer.storage import atomic_write, load_checkpoint, save_checkpoint, save_model


def test_model_folder_round_trip(tmp_path, tiny_model):
    save_model(tiny_model, tmp_path / "m", metrics={"val_loss": 1.5}, note="hello")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json",
                                                                  "model.safetensors"]
    loaded, config = load_model(tmp_path / "m")
    assert config["metrics"] == {"val_loss": 1.5} and config["note"] == "hello"
    assert config["architecture"] == tiny_model.config.to_dict()
    for (k, a), (_, b) in zip(tiny_model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    assert not loaded.training  # ready for inference
    assert VAE.load(tmp_path / "m").config == tiny_model.config


def test_half_precision_files_load_as_float32(tmp_path):
    model = VAE()
    save_model(model, tmp_path / "half", dtype=torch.float16)
    size = (tmp_path / "half" / "model.safetensors").stat().st_size
    assert size < 16_000_000  # 7.5 M parameters in 2 bytes each
    loaded = VAE.load(tmp_path / "half")
    assert loaded.mean.weight.dtype == torch.float32
    assert torch.allclose(loaded.mean.weight, model.mean.weight, atol=1e-3)


def test_weights_are_not_pickles(tmp_path, tiny_model):
    save_model(tiny_model, tmp_path / "m")
    header = (tmp_path / "m" / "model.safetensors").read_bytes()[:200]
    assert b"\x80\x02" not in header[:2] and b"__metadata__" in header


def test_truncated_weights_give_a_clear_error(tmp_path, tiny_model):
    save_model(tiny_model, tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="damaged or truncated"):
        load_model(tmp_path / "m")
    with pytest.raises(ModelFileError, match="damaged or truncated"):
        KittenMixer.load(tmp_path / "m")


def test_config_that_does_not_match_the_weights(tmp_path, tiny_model):
    save_model(tiny_model, tmp_path / "m")
    config_path = tmp_path / "m" / "config.json"
    config = json.loads(config_path.read_text())
    config["architecture"]["latent_dims"] = 9
    config_path.write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match="do not match.*shape"):
        load_model(tmp_path / "m")
    config["architecture"]["hidden_channels"] = [3, 8, 16, 32]
    config_path.write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match="missing"):
        load_model(tmp_path / "m")
    config["architecture"]["norm"] = "weird"
    config_path.write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match="invalid architecture"):
        load_model(tmp_path / "m")


def test_missing_and_broken_folders(tmp_path, tiny_model):
    with pytest.raises(ModelFileError, match="no such model folder"):
        load_model(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFileError, match="not a saved model"):
        load_model(tmp_path / "empty")
    save_model(tiny_model, tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text("{broken")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load_model(tmp_path / "m")


def test_checkpoint_round_trip_keeps_structure_and_types(tmp_path):
    state = {"epoch": 3, "optimizer": {"state": {0: {"step": torch.tensor(5.0),
                                                     "exp_avg": torch.randn(4)}},
                                       "param_groups": [{"lr": 0.1, "betas": (0.9, 0.99),
                                                         "params": [0], "foreach": None}]},
             "history": [{"loss": float("nan")}], "rng": {"cpu": torch.get_rng_state()}}
    save_checkpoint(tmp_path / "c.safetensors", state)
    loaded = load_checkpoint(tmp_path / "c.safetensors")
    assert loaded["epoch"] == 3
    assert list(loaded["optimizer"]["state"]) == [0]  # integer keys stay integers
    assert torch.equal(loaded["optimizer"]["state"][0]["exp_avg"],
                       state["optimizer"]["state"][0]["exp_avg"])
    assert loaded["optimizer"]["param_groups"][0]["betas"] == [0.9, 0.99]
    assert torch.equal(loaded["rng"]["cpu"], state["rng"]["cpu"])


def test_checkpoint_truncated_mid_file(tmp_path):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, {"w": torch.randn(1000)})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1000])
    with pytest.raises(ModelFileError, match="damaged or truncated"):
        load_checkpoint(path)
    save_model(VAE(16, 16, 4, [3, 4]), tmp_path / "m")
    with pytest.raises(ModelFileError, match="not a Kitten Mixer training checkpoint"):
        load_checkpoint(tmp_path / "m" / "model.safetensors")


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")

    def failing(tmp):
        tmp.write_text("half of the new")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_write(target, failing)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]  # no temporary left behind
