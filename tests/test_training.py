"""The trainer: bit-exact resume, per-image history, best models, safe stops and kills."""

from __future__ import annotations

import csv
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace

import pytest
import torch
from conftest import REPO, TINY
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from kitten_mixer import (
    VAE,
    BetaLoss,
    ExperimentConfig,
    FaceLoader,
    KittenMixer,
    VAEConfig,
    run_experiment,
    train,
    validation_loss,
)
from kitten_mixer.errors import TrainingError
from kitten_mixer.storage import RunFolder, load_checkpoint, save_checkpoint
from kitten_mixer.training.adversarial import AdversarialConfig
from kitten_mixer.training.experiment import stored_config


def run(model_dir, faces, epochs, precision="fp32", fused=False, **options):
    """Build every object afresh (as a new process would) and train to `epochs`."""
    torch.manual_seed(1234)  # a different init each time unless a checkpoint restores it
    model = VAE.from_config(VAEConfig(**TINY))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0, fused=fused)
    loss = BetaLoss(beta=0.5, warmup_steps=5)
    train_loader = FaceLoader(faces[:24], batch_size=8, flip=True, seed=1)
    val_loader = FaceLoader(faces[24:], batch_size=8, shuffle=False)
    history = train(model, train_loader, val_loader, epochs, 1, "cpu", model_dir, optimizer,
                    loss, seed=0, precision=precision, progress=False, **options)
    return model, optimizer, history


# The fused kernel is what the command line trains with; it pairs moments and weights by raw
# memory, so it also checks that restored moments get the channels-last layout back.
@pytest.mark.parametrize("precision, fused", [("fp32", False), ("auto", False), ("fp32", True)])
def test_resume_gives_identical_weights(tmp_path, tiny_faces, precision, fused):
    straight, straight_opt, _ = run(tmp_path / "straight", tiny_faces, 2, precision, fused)
    run(tmp_path / "resumed", tiny_faces, 1, precision, fused)
    resumed, resumed_opt, history = run(tmp_path / "resumed", tiny_faces, 2, precision, fused)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    a_state, b_state = straight_opt.state_dict()["state"], resumed_opt.state_dict()["state"]
    assert all(torch.equal(a_state[k]["exp_avg_sq"], b_state[k]["exp_avg_sq"]) for k in a_state)
    assert [row["epoch"] for row in history] == [1, 2]


def test_a_cosine_run_resumed_with_more_epochs_anneals_to_its_new_end(tmp_path, tiny_faces):
    def cosine_run(epochs):
        model = VAE.from_config(VAEConfig(**TINY))
        optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)
        return train(model, FaceLoader(tiny_faces, 8), None, epochs, 1, "cpu", tmp_path,
                     optimizer, BetaLoss(), scheduler=scheduler, progress=False)

    cosine_run(2)
    rates = [row["lr"] for row in cosine_run(4)]
    # Epochs 3 and 4 run at the rates a 4-epoch cosine gives them, not the old one's zero.
    assert rates[:2] == pytest.approx([0.01, 0.005])
    assert rates[2:] == pytest.approx([0.01 * (1 + math.cos(math.pi * e / 4)) / 2
                                       for e in (2, 3)])


def test_history_is_per_image_and_complete(tmp_path, tiny_faces):
    _, _, history = run(tmp_path, tiny_faces, 3)
    with open(tmp_path / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert set(rows[0]) == {"epoch", "train_loss", "train_reconstruction", "train_kl",
                            "val_loss", "val_reconstruction", "val_kl", "seconds",
                            "images_per_second", "lr"}
    last = history[-1]
    # Past the warm-up, loss = reconstruction + 0.5 KL, per image: about 16*16*3*0.69 nats.
    assert last["train_loss"] == pytest.approx(
        last["train_reconstruction"] + 0.5 * last["train_kl"], rel=1e-3)
    assert 50 < last["val_reconstruction"] < 1000
    assert history[0]["train_loss"] > history[-1]["train_loss"]  # it learns
    assert all(float(r["seconds"]) > 0 and float(r["images_per_second"]) > 0 for r in rows)


def test_history_records_the_rate_each_epoch_ran_at(tmp_path, tiny_faces):
    model = VAE.from_config(VAEConfig(**TINY))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    history = train(model, FaceLoader(tiny_faces, 8), None, 3, 1, "cpu", tmp_path, optimizer,
                    BetaLoss(1.0), scheduler=scheduler, progress=False)
    assert [row["lr"] for row in history] == pytest.approx([0.01, 0.005, 0.0025])
    resumed = VAE.from_config(VAEConfig(**TINY))
    optimizer = torch.optim.Adam(resumed.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    history = train(resumed, FaceLoader(tiny_faces, 8), None, 4, 1, "cpu", tmp_path, optimizer,
                    BetaLoss(1.0), scheduler=scheduler, progress=False)
    assert history[-1]["lr"] == pytest.approx(0.00125)  # the scheduler resumed too


def test_best_models_and_checkpoints_are_written(tmp_path, tiny_faces):
    _, _, history = run(tmp_path, tiny_faces, 4, keep_checkpoints=2, describe={"data": "fake"})
    best_epoch = min(history, key=lambda r: r["val_loss"])["epoch"]
    mixer = KittenMixer.load(tmp_path)
    assert mixer.config["metrics"]["epoch"] == best_epoch
    assert mixer.config["data"] == "fake"
    assert mixer.config["training"]["loss"]["beta"] == 0.5
    assert mixer.config["training"]["batch_size"] == 8
    best_train = KittenMixer.load(tmp_path / "best-train")
    assert best_train.config["metrics"]["train_loss"] == min(r["train_loss"] for r in history)
    assert [e for e, _ in RunFolder(tmp_path).checkpoints()] == [4, 3]  # older ones pruned


def test_a_folder_holding_a_run_is_not_overwritten(tmp_path, tiny_faces):
    run(tmp_path, tiny_faces, 1)
    with pytest.raises(TrainingError, match="already holds a training run"):
        run(tmp_path, tiny_faces, 2, resume=False)
    assert [e for e, _ in RunFolder(tmp_path).checkpoints()] == [1]


def test_damaged_newest_checkpoint_falls_back_to_the_one_before(tmp_path, tiny_faces, caplog):
    run(tmp_path, tiny_faces, 2)
    newest = RunFolder(tmp_path).checkpoints()[0][1]
    newest.write_bytes(newest.read_bytes()[:5000])
    _, _, history = run(tmp_path, tiny_faces, 3)
    assert "cannot resume from epoch-0002" in caplog.text
    assert [row["epoch"] for row in history] == [1, 2, 3]


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, tiny_faces):
    run(tmp_path, tiny_faces, 1)
    before = (tmp_path / "model.safetensors").read_bytes()

    class Exploding(BetaLoss):
        def terms(self, *args):
            total, rec, kl = super().terms(*args)
            return type(super().terms(*args))(total * float("nan"), rec, kl)

    model = VAE.from_config(VAEConfig(**TINY))
    optimizer = torch.optim.Adam(model.parameters())
    with pytest.raises(TrainingError, match="loss became.*epoch 2.*epoch-0001"):
        train(model, FaceLoader(tiny_faces, 8), None, 3, 1, "cpu", tmp_path, optimizer,
              Exploding(beta=0.5, warmup_steps=5), progress=False)
    assert [e for e, _ in RunFolder(tmp_path).checkpoints()] == [1]
    assert (tmp_path / "model.safetensors").read_bytes() == before
    assert (tmp_path / "history.csv").read_text().count("\n") == 2  # header + epoch 1


def test_the_original_call_with_a_torch_dataloader(tmp_path, tiny_faces):
    """Positional arguments as the original, (images, labels) batches, a plain loss."""

    class PlainLoss(nn.Module):
        def forward(self, x, x_hat, mean, log_var):
            return nn.functional.mse_loss(x_hat, x, reduction="sum") / len(x)

    images = tiny_faces.float() / 255
    loader = DataLoader(TensorDataset(images, torch.zeros(len(images))), batch_size=8,
                        shuffle=True)
    model = VAE(16, 16, 8, [3, 8, 16], 4, 2, 1, nn.LeakyReLU())
    history = train(model, loader, loader, 2, 1, "cpu", str(tmp_path),
                    torch.optim.Adam(model.parameters()), PlainLoss())
    assert len(history) == 2 and math.isnan(history[0]["train_kl"])
    assert math.isfinite(history[1]["train_loss"])
    assert VAE.load(tmp_path).config.latent_dims == 8


def test_validation_loss_reports_per_image_terms(tiny_model, tiny_faces):
    loader = FaceLoader(tiny_faces, 5, shuffle=False)
    stats = validation_loss(tiny_model, loader, BetaLoss(1.0), "cpu")
    assert stats["images"] == 32
    assert stats["loss"] == pytest.approx(stats["reconstruction"] + stats["kl"], rel=1e-4)


KILLABLE = textwrap.dedent("""
    import sys, torch
    from pathlib import Path
    from kitten_mixer import VAE, VAEConfig, BetaLoss, FaceLoader, train

    class Signalling(FaceLoader):
        \"\"\"Touches epoch-N.started once the first batch of epoch N has been handed out.\"\"\"

        def __iter__(self):
            for i, batch in enumerate(super().__iter__()):
                yield batch
                if i == 0:
                    (Path(sys.argv[1]) / f"epoch-{self.epoch}.started").touch()

    faces = torch.randint(0, 256, (600, 3, 16, 16), dtype=torch.uint8,
                          generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = VAE.from_config(VAEConfig(image_h=16, image_w=16, latent_dims=8,
                                      hidden_channels=[3, 16, 32]))
    Path(sys.argv[1]).mkdir(parents=True, exist_ok=True)
    train(model, Signalling(faces, 4, seed=0), None, int(sys.argv[2]), 1, "cpu", sys.argv[1],
          torch.optim.Adam(model.parameters(), 1e-3), BetaLoss(1.0), seed=0, progress=False)
""")


@pytest.mark.slow
def test_a_run_killed_mid_epoch_resumes(tmp_path):
    script = tmp_path / "killable.py"
    script.write_text(KILLABLE)
    run_dir = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, str(script), str(run_dir), "1000"], env=env,
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # Epoch 3 has started once its first step is done: the kill lands inside it, after the
    # checkpoints of epochs 1 and 2 and before any file of epoch 3.
    started = run_dir / "epoch-3.started"
    deadline = time.time() + 120
    while not started.exists() and time.time() < deadline:
        assert process.poll() is None, process.stderr.read().decode()
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert started.exists()
    assert [e for e, _ in RunFolder(run_dir).checkpoints()] == [2, 1]
    target = 4
    finished = subprocess.run([sys.executable, str(script), str(run_dir), str(target)],
                              env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    with open(run_dir / "history.csv") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == list(range(1, target + 1))
    assert RunFolder(run_dir).checkpoints()[0][0] == target
    assert not list(run_dir.rglob("*.tmp"))  # leftovers of a killed write are cleaned up
    KittenMixer.load(run_dir)


def test_a_run_resumes_from_its_checkpoint_alone(tmp_path, photo_folder):
    """The checkpoint holds the config: resuming with any other config (here the defaults,
    which describe a much larger network) continues the run as it was started, to the bit."""
    config = ExperimentConfig(model=VAEConfig(**TINY), batch_size=8, epochs=2, lr=3e-3,
                              flip=True, shift=1, lr_schedule="cosine", precision="fp32")
    run_experiment(config, photo_folder, tmp_path / "straight", device="cpu", progress=False)
    run_experiment(replace(config, epochs=1), photo_folder, tmp_path / "resumed", device="cpu",
                   progress=False)
    assert stored_config(tmp_path / "resumed") == replace(config, epochs=1)
    history = run_experiment(ExperimentConfig(epochs=2), photo_folder, tmp_path / "resumed",
                             device="cpu", resume=True, progress=False)
    assert [row["epoch"] for row in history] == [1, 2]
    straight, resumed = (load_checkpoint(RunFolder(tmp_path / name).checkpoint(2))["model"]
                         for name in ("straight", "resumed"))
    for name, weights in straight.items():
        assert torch.equal(weights, resumed[name]), name
    assert stored_config(tmp_path / "resumed").epochs == 2


def test_a_shift_must_be_smaller_than_the_faces():
    with pytest.raises(ValueError, match="less than the faces' size"):
        ExperimentConfig(model=VAEConfig(**TINY), shift=16)
    assert ExperimentConfig(model=VAEConfig(**TINY), shift=15).shift == 15


def test_a_run_of_an_older_version_resumes_unless_it_used_a_removed_option(tmp_path):
    """A run's checkpoint holds its whole config, with every option of its version: options
    since removed (docs/removed-options.md) are dropped at the value that meant "off"; a run
    that set one can only resume in the version that had it, and says which."""
    config = ExperimentConfig(model=VAEConfig(**TINY), init="runs/base",
                              adversarial=AdversarialConfig(channels=8, r1=0.01))
    stored = config.to_dict()
    stored["model"] |= {"refine_scale": 1, "noise": 0}
    stored["adversarial"] |= {"r1_interval": 4, "critic_steps": 1, "ramp": 0,
                              "max_weight": 10000.0, "fixed_weight": None,
                              "feature_matching": 0.0, "detail": 0.0}
    folder = RunFolder(tmp_path / "old")
    save_checkpoint(folder.checkpoint(1), {"epoch": 1, "config": stored})
    assert stored_config(folder.path) == config
    stored["adversarial"]["detail"] = 1.0
    save_checkpoint(folder.checkpoint(2), {"epoch": 2, "config": stored})
    with pytest.raises(TrainingError, match="epoch-0002.safetensors: adversarial option "
                                            "'detail' = 1.0 was removed; it lives on in commit"):
        stored_config(folder.path)
