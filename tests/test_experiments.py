"""Choosing and shipping models: evaluate, report, sweep, ship, sample and explore."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest
import torch
from conftest import TINY, write_photos
from PIL import Image

from kitten_mixer import ExperimentConfig, KittenMixer, VAEConfig, run_experiment
from kitten_mixer.cli import main
from kitten_mixer.data import load_faces
from kitten_mixer.evaluation.evaluate import (
    evaluate_model,
    interpolation_grid,
    reconstruction_grid,
    sampler_for,
)
from kitten_mixer.evaluation.records import END, START, read_records, update_report
from kitten_mixer.explore import explore
from kitten_mixer.ship import ship_model
from kitten_mixer.shipping.gallery import load_gallery, pick_varied
from kitten_mixer.shipping.sampler import load_sampler

TINY_RUN = ExperimentConfig(model=VAEConfig(**TINY), batch_size=8, epochs=2,
                            val_fraction=0.2, test_fraction=0.25, precision="fp32")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained for two epochs on 60 generated photos: (run folder, photos)."""
    root = tmp_path_factory.mktemp("trained")
    write_photos(root / "photos", 60, size=(32, 32))
    run_experiment(TINY_RUN, root / "photos", root / "run", device="cpu", progress=False)
    return root / "run", root / "photos"


def test_evaluate_model_reports_every_number(trained):
    run, photos = trained
    mixer = KittenMixer.load(run)
    faces = torch.randint(0, 256, (12, 3, 16, 16), dtype=torch.uint8)
    result = evaluate_model(mixer, faces, features=lambda x: x.flatten(1)[:, :50], morphs=3,
                            mixes=10, kittens=torch.randn(6, 8))
    assert 0 < result.psnr < 60 and -1 <= result.ssim <= 1
    assert result.sharpness > 0 and result.kl > 0 and 0 <= result.active_units <= 8
    assert result.smoothness >= 1 and result.kid_mixes is not None
    assert result.mix_sharpness_slerp > 0 and result.kid_mixes_slerp is not None
    assert result.kitten_sharpness > 0 and result.kid_kittens is not None
    again = evaluate_model(mixer, faces, morphs=3, mixes=10)
    assert again.psnr == result.psnr and again.kid_mixes is None  # deterministic
    assert again.kid_kittens is None and again.kitten_sharpness is None  # no kittens asked


def test_grids_have_one_cell_per_image(trained):
    mixer = KittenMixer.load(trained[0])
    faces = torch.randint(0, 256, (3, 3, 16, 16), dtype=torch.uint8)
    grid = reconstruction_grid([mixer, mixer], faces)
    assert grid.size == (3 * 18 + 2, 3 * 18 + 2)  # photo + 2 models, 3 rows
    assert reconstruction_grid([mixer], faces, with_photos=False).size == (18 + 2, 3 * 18 + 2)
    morphs = interpolation_grid([mixer] * 2, faces, [(0, 1), (1, 2)], 5)
    assert morphs.size == (5 * 18 + 2, 4 * 18 + 2)  # 2 pairs x 2 models
    large = reconstruction_grid([mixer], faces, with_photos=False, zoom=3)
    assert large.size == (48 + 4, 3 * 50 + 2)
    assert interpolation_grid([mixer], faces, [(0, 1)], 5, zoom=3).size == (5 * 50 + 2, 52)


def test_kittens_come_from_the_sampler_that_fits_the_encoder(trained, tmp_path):
    mixer = KittenMixer.load(trained[0])
    assert sampler_for(mixer) is None  # a run: no sampler beside it
    shipped = tmp_path / "shipped"
    ship_model(trained[0], trained[1], shipped, label="tiny", gallery_size=4, components=2,
               genes=2)
    assert sampler_for(KittenMixer.load(shipped)) is not None
    tuned = KittenMixer.load(trained[0])  # as if fine-tuned from `shipped`, encoder frozen
    tuned.config = {**tuned.config, "experiment": {"init": str(shipped),
                                                   "adversarial": {"decoder_only": True}}}
    assert torch.equal(sampler_for(tuned).sample(3, seed=0),
                       load_sampler(shipped).sample(3, seed=0))
    # A fine-tune of that fine-tune, its run folder beside it: still the first encoder.
    middle = tmp_path / "middle"
    shutil.copytree(trained[0], middle)
    config = json.loads((middle / "config.json").read_text())
    config["experiment"] = {"init": str(shipped), "decoder_only": True}
    (middle / "config.json").write_text(json.dumps(config))
    twice = KittenMixer.load(trained[0])
    twice.config = {**twice.config, "experiment": {"init": str(middle), "decoder_only": True}}
    assert torch.equal(sampler_for(twice).sample(3, seed=0),
                       load_sampler(shipped).sample(3, seed=0))
    config["experiment"]["decoder_only"] = False  # the middle one trained its encoder
    (middle / "config.json").write_text(json.dumps(config))
    assert sampler_for(twice) is None
    twice.config["experiment"]["init"] = str(tmp_path / "gone")  # its start is not here
    assert sampler_for(twice) is None
    tuned.config["experiment"]["adversarial"]["decoder_only"] = False  # a new encoder
    assert sampler_for(tuned) is None


@pytest.mark.slow  # the KID's EfficientNet features
def test_evaluate_command_writes_records_report_and_figures(trained, tmp_path, capsys):
    run, photos = trained
    report = tmp_path / "experiments.md"
    report.write_text(f"# Notes kept\n\n{START}\nold\n{END}\n\nThe end.\n")
    assert main(["evaluate", str(run), "--data", str(photos), "--results",
                 str(tmp_path / "records"), "--report", str(report), "--figures",
                 str(tmp_path / "figs")]) == 0
    record = json.loads((tmp_path / "records" / "run.json").read_text())
    assert record["data"]["fingerprint"] and record["experiment"]["batch_size"] == 8
    assert record["training"]["epochs_trained"] == 2 and record["training"]["seconds"] > 0
    assert record["test"]["kid_mixes"] is not None  # the ImageNet features loaded offline
    text = report.read_text()
    assert text.startswith("# Notes kept") and text.endswith("The end.\n") and "old" not in text
    assert "| run |" in text
    assert (tmp_path / "figs" / "reconstructions.png").is_file()
    assert (tmp_path / "figs" / "interpolations.png").is_file()
    assert (tmp_path / "figs" / "morphs.png").is_file()
    assert (tmp_path / "figs" / "reconstructions-large.png").is_file()
    assert (tmp_path / "figs" / "morphs-large.png").is_file()
    assert record["test"]["kid_kittens"] is None  # a run without a sampler


def test_report_tables_come_from_the_records_alone(tmp_path):
    records = tmp_path / "records"
    records.mkdir()
    base = {"architecture": {}, "experiment": {}, "data": {"splits": {"train": 100}},
            "training": {"loss": {"likelihood": "bce", "beta": 1.0}, "epochs_trained": 2,
                         "seconds": 10.0, "hardware": "a CPU", "threads": 2,
                         "precision": "float32", "best_epoch": 2},
            "parameters": 1000,
            "test": {"psnr": 20.0, "ssim": 0.5, "sharpness": 0.1, "mix_sharpness": 0.1,
                     "kl": 10.0, "active_units": 3, "latent_dims": 8, "smoothness": 1.2,
                     "kid_reconstructions": None, "kid_mixes": None, "seconds": 1.0}}
    for name in ("b", "a"):
        (records / f"{name}.json").write_text(json.dumps({**base, "name": name}))
    update_report(tmp_path / "new.md", read_records(records))
    text = (tmp_path / "new.md").read_text()
    assert text.index("| a |") < text.index("| b |")
    assert "| a | 20.00 | 0.500 |" in text and "20 images/s" not in text
    assert "| 0.10 (-) |" in text  # records from before the spherical mixes still load
    assert "| 20 |" in text  # 2 epochs x 100 images in 10 s


def test_ship_writes_gallery_map_and_sampler(trained, tmp_path):
    run, photos = trained
    mixer = ship_model(run, photos, tmp_path / "shipped", "a tiny test model", gallery_size=5,
                       components=2)
    config = json.loads((tmp_path / "shipped" / "config.json").read_text())
    assert config["label"] == "a tiny test model" and config["data"]["fingerprint"]
    gallery = load_gallery(tmp_path / "shipped")
    assert len(gallery) == 5 and gallery.codes.shape == (5, 8)
    assert gallery.map.shape == (5, 2) and gallery.map.min() >= 0 and gallery.map.max() <= 1
    assert len(mixer.sample(4, seed=0)) == 4
    size = (tmp_path / "shipped" / "model.safetensors").stat().st_size
    assert size < (run / "model.safetensors").stat().st_size * 0.6  # float16


def test_ship_then_sample_commands(trained, tmp_path, capsys):
    assert main(["ship", str(trained[0]), "--data", str(trained[1]), "--label", "test",
                 "-o", str(tmp_path / "m")]) == 0
    test_faces = load_faces(trained[1], 16).split(0.2, 0.25)["test"]
    assert len(load_gallery(tmp_path / "m")) == len(test_faces)  # all: fewer than 120
    out = tmp_path / "grid.png"
    assert main(["sample", "-n", "5", "--seed", "1", "--model", str(tmp_path / "m"),
                 "--zoom", "1", "-o", str(out)]) == 0
    with Image.open(out) as grid:
        assert grid.size == (5 * 18 + 2, 18 + 2)
    assert main(["sample", "-n", "2", "--model", str(trained[0]), "-o", str(out)]) == 2
    assert "no sampler" in capsys.readouterr().err


@pytest.mark.slow  # two trainings and the KID's EfficientNet features
def test_sweep_trains_and_evaluates_presets(tmp_path, monkeypatch, photo_folder):
    from kitten_mixer import cli

    tiny = {name: replace(TINY_RUN, loss=replace(TINY_RUN.loss, beta=beta))
            for name, beta in (("v1", 1.0), ("v6", 0.005))}
    monkeypatch.setattr(cli, "PRESETS", tiny)
    args = ["sweep", "--data", str(photo_folder), "--out", str(tmp_path / "sweep"),
            "--epochs", "1", "--presets", "v1,v6", "--results", str(tmp_path / "records"),
            "--report", str(tmp_path / "report.md"), "--figures", str(tmp_path / "figs")]
    assert main(args) == 0
    assert sorted(p.name for p in (tmp_path / "records").iterdir()) == ["v1.json", "v6.json"]
    assert main(args[:8] + ["v7"] + args[9:]) == 2


def test_explore_writes_a_report(tmp_path):
    write_photos(tmp_path / "photos", 6, size=(40, 30))
    first = (tmp_path / "photos" / "cat000.png").read_bytes()
    (tmp_path / "photos" / "copy.png").write_bytes(first)
    (tmp_path / "photos" / "broken.jpg").write_text("no")
    report = explore(tmp_path / "photos", tmp_path / "report", samples=4)
    text = report.read_text()
    assert "8 image files" in text and "6 distinct faces" in text and "1 unreadable" in text
    assert "| 40x30 | 7 |" in text and "| RGB | 7 |" in text
    for png in ("samples.png", "mean-face.png", "colour-histogram.png",
                "brightness-histogram.png"):
        assert (tmp_path / "report" / png).is_file()


def test_varied_picks_spread_out():
    codes = torch.cat([torch.zeros(50, 2), torch.tensor([[10.0, 0.0], [0.0, 10.0]])])
    assert set(pick_varied(codes, 3)[1:]) == {50, 51}


def test_fine_tuning_starts_from_a_saved_model(trained, tmp_path):
    run, photos = trained
    start = KittenMixer.load(run).model.state_dict()
    # a learning rate too small to move anything: the run keeps the weights it started from
    tuned = replace(TINY_RUN, init=str(run), epochs=1, lr=1e-12)
    run_experiment(tuned, photos, tmp_path / "tuned", device="cpu", progress=False)
    after = KittenMixer.load(tmp_path / "tuned").model.state_dict()
    assert all(torch.allclose(start[k], after[k], atol=1e-6) for k in start)
    other = replace(tuned, model=VAEConfig(**{**TINY, "latent_dims": 4}))
    with pytest.raises(Exception, match="architecture differs"):
        run_experiment(other, photos, tmp_path / "other", device="cpu", progress=False)


def test_decoder_lr_moves_the_decoder_at_its_own_rate(trained, tmp_path):
    run, photos = trained
    start = KittenMixer.load(run).model.state_dict()
    # the encoder learns, the decoder at a rate too small to move it
    tuned = replace(TINY_RUN, init=str(run), epochs=1, lr=1e-2, decoder_lr=1e-12)
    run_experiment(tuned, photos, tmp_path / "tuned", device="cpu", progress=False)
    after = KittenMixer.load(tmp_path / "tuned").model.state_dict()
    encoder = [k for k in start if k.split(".")[0] in ("encoder", "mean", "log_var")]
    decoder = [k for k in start if k not in encoder and start[k].is_floating_point()]
    assert encoder and decoder
    assert all(torch.allclose(start[k], after[k], atol=1e-6) for k in decoder)
    assert not all(torch.allclose(start[k], after[k], atol=1e-6) for k in encoder)
    for frozen in ({"decoder_only": True}, {"decoder_lr": 0.0}):
        with pytest.raises(ValueError, match="decoder_lr"):
            ExperimentConfig.from_dict({"init": str(run), "decoder_lr": 1e-4, **frozen})
