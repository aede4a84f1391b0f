"""The kitten-mixer command: train, resume, mix; one-line errors for bad arguments and files."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import TINY, write_photos
from PIL import Image

from kitten_mixer.cli import main
from kitten_mixer.training.experiment import stored_config


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
    experiment = stored_config(out)
    assert experiment.lr == 0.003 and experiment.flip and experiment.shift == 1
    assert experiment.model.latent_dims == 8

    assert main(["train", "--data", str(photo_folder), "--out", str(out), "--config",
                 str(config_file), "--epochs", "3"]) == 2
    assert "add --resume" in capsys.readouterr().err
    assert main(["train", "--data", str(photo_folder), "--out", str(out), "--epochs", "3",
                 "--resume"]) == 0
    assert "epoch 3/3" in capsys.readouterr().out
    grown = stored_config(out)
    assert grown.epochs == 3 and grown.lr == 0.003  # the rest as the run was started
    assert main(["train", "--data", str(photo_folder), "--out", str(out), "--epochs", "4",
                 "--lr", "0.1", "--resume"]) == 2
    assert "only --epochs can change" in capsys.readouterr().err
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


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A folder to run commands in, holding inputs that are wrong in every way the rows need."""
    monkeypatch.chdir(tmp_path)
    write_photos(tmp_path / "photos", 4)
    (tmp_path / "text.jpg").write_text("hello, not a cat")
    write_photos(tmp_path, 1)[0].rename(tmp_path / "locked.png")
    (tmp_path / "locked.png").chmod(0)
    (tmp_path / "folder.jpg").mkdir()
    (tmp_path / "not-a-model").mkdir()
    (tmp_path / "not-a-model" / "notes.txt").write_text("no config.json here")
    (tmp_path / "file").write_text("a file where a folder should be")
    (tmp_path / "bad.json").write_text('{"model": {"latent_size": 4}}')
    return tmp_path


CAT = "photos/cat000.png"
BAD_INPUT = [
    # refused by argparse, before anything runs
    (["mix", "--demo", "--steps", "1", "-o", "m.gif"], "--steps: must be from 2 to"),
    (["mix", "--demo", "--steps", "x", "-o", "m.gif"], "'x' is not a whole number"),
    (["mix", "--demo", "--zoom", "9", "-o", "m.gif"], "--zoom: must be from 1 to 8, not 9"),
    (["mix", "--demo"], "the following arguments are required: -o/--out"),
    (["sample", "-n", "0", "-o", "grid.png"], "-n: must be from 1 to"),
    (["sample", "-o", "grid.txt"], "grid.txt: must end in"),
    (["train", "--data", "photos", "-o", "run", "--epochs", "0"], "must be at least 1, not 0"),
    (["train", "--data", "photos", "-o", "run", "--lr", "-1"], "must be a positive number"),
    (["train", "--data", "photos", "-o", "run", "--lr", "nan"], "must be a positive number"),
    (["train", "--data", "photos", "-o", "run", "--shift", "-1"], "must be at least 0, not -1"),
    (["train", "--data", "photos", "-o", "run", "--preset", "v9"], "invalid choice: 'v9'"),
    (["app", "--port", "70000"], "--port: must be from 1 to 65535"),
    # refused by the command
    (["mix", "--demo", "-o", "morph.bmp"], "morph.bmp: the output must end in .gif or .png"),
    (["mix", "-o", "m.gif"], "give two photos"),
    (["mix", "missing.jpg", CAT, "-o", "m.gif"], "missing.jpg: no such file"),
    (["mix", "folder.jpg", CAT, "-o", "m.gif"], "folder.jpg: no such file"),
    (["mix", "text.jpg", CAT, "-o", "m.gif"], "text.jpg: not an image"),
    pytest.param(["mix", "locked.png", CAT, "-o", "m.gif"], "locked.png: Permission denied",
                 marks=pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")),
    (["mix", "--demo", "--model", "nowhere", "-o", "m.gif"], "nowhere: no such model folder"),
    (["mix", "--demo", "--model", "not-a-model", "-o", "m.gif"], "not-a-model: not a saved"),
    (["mix", "--demo", "-o", "file/m.gif"], "file: File exists"),
    (["sample", "-n", "2", "-o", "file/grid.png"], "file: File exists"),
    (["train", "--data", "nowhere", "-o", "run"], "nowhere: no such file or folder"),
    (["train", "--data", "photos", "-o", "run", "--config", "nothing.json"], "nothing.json"),
    (["train", "--data", "photos", "-o", "run", "--config", "bad.json"], "unknown VAE settings"),
    (["evaluate", "not-a-model", "--data", "photos", "--no-kid"], "not-a-model: not a saved"),
    (["explore", "--data", "nowhere", "-o", "report"], "nowhere: not a folder or a zip"),
    (["explore", "--data", "photos", "-o", "file/report"], "file/report: Not a directory"),
    (["train-faces", "--faces", "photos", "--photos", "nowhere.zip", "--boxes", "bad.json",
      "-o", "finder.safetensors"], "nowhere.zip: no such file or folder"),
    (["train-faces", "--faces", "photos", "--photos", "photos", "--boxes", "bad.json",
      "-o", "finder.pt"], "finder.pt: the finder's weights go in a .safetensors file"),
]


@pytest.mark.parametrize("args, message", BAD_INPUT)
def test_bad_input_ends_in_one_line_without_a_traceback(workspace, capsys, args, message):
    try:
        status, refused_by_argparse = main(args), False
    except SystemExit as stop:
        status, refused_by_argparse = stop.code, True
    out, err = capsys.readouterr()
    *usage, line = err.splitlines() or [""]
    assert status == 2 and "Traceback" not in out + err
    assert line.startswith("kitten-mixer") and ": error: " in line and message in line
    if refused_by_argparse:  # argparse's usage, then its one line
        assert usage[0].startswith("usage: kitten-mixer")
    else:
        assert usage == []


def test_the_command_prints_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "kitten_mixer.cli", "mix", "--demo",
                             "--steps", "1", "-o", "x.gif"],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--steps: must be from 2 to" in result.stderr.splitlines()[-1]
    assert not (tmp_path / "x.gif").exists()


@pytest.mark.parametrize("command", ["train", "mix", "sample", "sweep", "ship", "explore"])
def test_every_command_that_writes_takes_o_out(command, capsys):
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0 and "-o OUT, --out OUT" in capsys.readouterr().out


@pytest.mark.parametrize("command", [[], ["evaluate"], ["app"]])
def test_help_everywhere_else(command, capsys):
    with pytest.raises(SystemExit) as stop:
        main([*command, "--help"])
    assert stop.value.code == 0 and "usage: kitten-mixer" in capsys.readouterr().out
