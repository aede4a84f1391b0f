"""The kitten-mixer command: train, resume, mix; one-line errors for bad arguments and files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from conftest import TINY, write_photos
from PIL import Image

from kitten_mixer.cli import main
from kitten_mixer.storage import save_model


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps({"model": TINY, "loss": {"beta": 0.1}, "batch_size": 8,
                                "val_fraction": 0.2, "test_fraction": 0.1}))
    return path


def test_train_then_resume_then_mix(tmp_path, photo_folder, config_file, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", str(photo_folder), "--out", str(out), "--config",
                 str(config_file), "--epochs", "2", "--lr", "0.003", "--flip", "--shift",
                 "1"]) == 0
    printed = capsys.readouterr().out
    assert "40 image files, 40 distinct faces" in printed and "epoch 2/2" in printed
    experiment = json.loads((out / "experiment.json").read_text())
    assert experiment["lr"] == 0.003 and experiment["flip"] and experiment["shift"] == 1
    assert experiment["model"]["latent_dims"] == 8

    assert main(["train", "--data", str(photo_folder), "--out", str(out), "--config",
                 str(config_file), "--epochs", "3"]) == 2
    assert "add --resume" in capsys.readouterr().err
    assert main(["train", "--data", str(photo_folder), "--out", str(out), "--epochs", "3",
                 "--resume"]) == 0
    assert "epoch 3/3" in capsys.readouterr().out
    grown = json.loads((out / "experiment.json").read_text())
    assert grown["epochs"] == 3 and grown["lr"] == 0.003  # the rest as the run was started
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["distinct"] == 40 and len(config["data"]["fingerprint"]) == 16

    photos = sorted(photo_folder.iterdir())
    gif, png = tmp_path / "morph.gif", tmp_path / "strip.png"
    assert main(["mix", str(photos[0]), str(photos[1]), "--model", str(out), "--steps", "5",
                 "-o", str(gif)]) == 0
    with Image.open(gif) as animation:
        assert animation.n_frames == 8 and animation.size == (32, 32)  # 5 there, 3 back
    assert main(["mix", str(photos[0]), str(photos[1]), "--model", str(out), "--steps", "4",
                 "--method", "linear", "--zoom", "1", "-o", str(png)]) == 0
    with Image.open(png) as strip:
        assert strip.size == (6 * 18 + 2, 20)  # photo, 4 steps, photo, with 2 px gaps


def test_a_negative_shift_is_refused_before_anything_runs(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["train", "--data", "nowhere", "--out", "run", "--shift", "-1"])
    assert stop.value.code == 2
    assert "--shift: must be at least 0, not -1" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["mix", "a.jpg", "b.jpg", "-o", "out.bmp"], "must end in .gif or .png"),
    (["mix", "-o", "out.gif"], "give two photos"),
    (["mix", "missing1.jpg", "missing2.jpg", "-o", "out.gif"], "missing1.jpg: no such file"),
    (["mix", "a", "b", "--model", "nowhere", "-o", "out.gif"], "nowhere: no such model folder"),
    (["train", "--data", "nowhere", "--out", "run"], "nowhere: no such file or folder"),
])
def test_bad_arguments_give_one_line_errors(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_text_file_named_jpg(tmp_path, tiny_model, capsys):
    save_model(tiny_model, tmp_path / "m")
    (tmp_path / "a.jpg").write_text("hello")
    write_photos(tmp_path, 1)
    assert main(["mix", str(tmp_path / "a.jpg"), str(tmp_path / "cat000.png"), "--model",
                 str(tmp_path / "m"), "-o", str(tmp_path / "o.gif")]) == 2
    assert "a.jpg: not an image" in capsys.readouterr().err


def test_bad_numbers_and_choices_are_refused_by_argparse(capsys):
    for args in (["mix", "a", "b", "--steps", "0", "-o", "x.gif"],
                 ["train", "--data", "d", "--out", "o", "--preset", "v9"],
                 ["train", "--data", "d", "--out", "o", "--lr", "-1"]):
        with pytest.raises(SystemExit) as stop:
            main(args)
        assert stop.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_a_bad_config_file(tmp_path, photo_folder, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"model": {"latent_size": 4}}')
    assert main(["train", "--data", str(photo_folder), "--out", str(tmp_path / "r"),
                 "--config", str(bad)]) == 2
    assert "unknown VAE settings" in capsys.readouterr().err


def test_help_everywhere():
    exe = shutil.which("kitten-mixer")
    command = [exe] if exe else [sys.executable, "-m", "kitten_mixer.cli"]
    for sub in ([], ["train"], ["mix"]):
        result = subprocess.run(command + sub + ["--help"], capture_output=True, text=True)
        assert result.returncode == 0 and "usage: kitten-mixer" in result.stdout
