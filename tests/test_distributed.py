"""The same trainer under torchrun: two CPU processes (gloo), sharded data, rank 0 writes."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import REPO, TINY, write_photos

from kitten_mixer import ExperimentConfig, KittenMixer, run_experiment


@pytest.mark.slow
def test_two_processes_train_one_model(tmp_path):
    write_photos(tmp_path / "photos", 48, size=(24, 24))
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"model": TINY, "batch_size": 8, "val_fraction": 0.2,
                                  "test_fraction": 0.0, "precision": "fp32"}))
    out = tmp_path / "run"
    torchrun = shutil.which("torchrun")
    launcher = [torchrun] if torchrun else [sys.executable, "-m", "torch.distributed.run"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        launcher + ["--standalone", "--nproc_per_node", "2", "-m", "kitten_mixer.cli", "train",
                    "--data", str(tmp_path / "photos"), "--out", str(out), "--config",
                    str(config), "--epochs", "2", "--device", "cpu"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("epoch 2/2") == 1  # rank 0 alone reports
    with open(out / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    train_images = json.loads((out / "config.json").read_text())["data"]["splits"]["train"]
    assert train_images >= 30
    mixer = KittenMixer.load(out)
    assert mixer.config["training"]["processes"] == 2
    assert mixer.latent_dims == TINY["latent_dims"]


@pytest.mark.slow
def test_two_processes_fine_tune_against_one_discriminator(tmp_path):
    """The adversarial stage under torchrun: the decoder's gradients go through DDP, the
    discriminator's are averaged by hand; both ranks must stay in step to the end."""
    write_photos(tmp_path / "photos", 48, size=(24, 24))
    base = {"model": TINY, "batch_size": 8, "val_fraction": 0.2, "test_fraction": 0.0,
            "precision": "fp32"}
    run_experiment(ExperimentConfig.from_dict({**base, "epochs": 1}), tmp_path / "photos",
                   tmp_path / "base", device="cpu", progress=False)
    (tmp_path / "gan.json").write_text(json.dumps(
        {**base, "init": str(tmp_path / "base"), "lr": 1e-3,
         "adversarial": {"channels": 8, "mixes": 0.25, "head_start": 2}}))
    torchrun = shutil.which("torchrun")
    launcher = [torchrun] if torchrun else [sys.executable, "-m", "torch.distributed.run"]
    result = subprocess.run(
        launcher + ["--standalone", "--nproc_per_node", "2", "-m", "kitten_mixer.cli", "train",
                    "--data", str(tmp_path / "photos"), "--out", str(tmp_path / "gan"),
                    "--config", str(tmp_path / "gan.json"), "--epochs", "2", "--device", "cpu"],
        cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
        timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    with open(tmp_path / "gan" / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert all(float(r["discriminator_loss"]) > 0 for r in rows)
    assert KittenMixer.load(tmp_path / "gan").config["training"]["processes"] == 2
