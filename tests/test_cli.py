"""The kitten-mixer command: train, resume, mix photos or the model's own cats; one-line errors
for bad arguments and files, and help that tells the truth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

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
                 "1", "--resume"]) == 0
    printed, said = capsys.readouterr()
    assert "40 image files, 40 distinct faces" in printed and "epoch 2/2" in printed
    assert f"note: {out} has no checkpoint yet: starting the run" in said
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
    grown_file = tmp_path / "grown.json"  # the run's own config, to 4 epochs: it grows
    grown_file.write_text(json.dumps(grown.to_dict() | {"epochs": 4}))
    assert main(["train", "--data", str(photo_folder), "--out", str(out), "--config",
                 str(grown_file), "--resume"]) == 0
    assert "epoch 4/4" in capsys.readouterr().out and stored_config(out).epochs == 4
    assert main(["train", "--data", str(photo_folder), "--out", str(out), "--config",
                 str(config_file), "--epochs", "5", "--resume"]) == 2  # another config
    assert f"--config: {config_file} is not the config {out} was started with" \
        in capsys.readouterr().err and stored_config(out).epochs == 4
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
    (tmp_path / "empty").mkdir()
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
    (["sample", "-n", "2", "--seed", "99999999999999999999", "-o", "grid.png"],
     "--seed: must be from 0 to"),
    (["mix", "--demo", "--model", "file", "-o", "m.gif"],
     "--model: file: is a file; a saved model is a folder"),
    (["mix", "--demo", "-o", "photos"], "-o/--out: photos: is a folder; give a file name in it"),
    (["mix", "--demo", "-o", "file/m.gif"], "-o/--out: file: is a file, not a folder"),
    (["train", "--data", "photos", "-o", "file"], "-o/--out: file: is a file, not a folder"),
    (["train", "--data", "photos", "-o", "run", "--config", "nothing.json"],
     "--config: nothing.json: no such file"),
    (["train", "--data", "photos", "-o", "run", "--config", "photos"],
     "--config: photos: is a folder, not a file"),
    (["explore", "--data", "photos", "-o", "file/report"],
     "-o/--out: file/report: file is a file, not a folder"),
    (["evaluate", "file", "--data", "photos"], "runs: file: is a file; a saved model is a folder"),
    (["train-faces", "--faces", "photos", "--photos", "photos", "--boxes", "nowhere.json",
      "-o", "finder.safetensors"], "--boxes: nowhere.json: no such file"),
    (["gallery", "-o", "sheet.txt"], "sheet.txt: must end in"),
    (["app", "--gallery", "text.jpg"], "--gallery: text.jpg: is a file but not a zip; give a "
     "folder or a .zip of photos"),
    (["app", "--gallery", "empty"], "--gallery: empty: holds no .jpg, .jpeg, .png, .webp or .bmp"),
    (["app", "--gallery", "nowhere"], "--gallery: nowhere: no such file or folder"),
    (["app", "--model", "file"], "--model: file: is a file; a saved model is a folder"),
    # refused by the command
    (["mix", "--demo", "-o", "morph.bmp"], "morph.bmp: the output must end in .gif or .png"),
    (["mix", "-o", "m.gif"], "give two cats (A B: photos, or ids that `kitten-mixer gallery` "
     "lists, e.g. 7078 13660), or --demo"),
    (["mix", CAT, "-o", "m.gif"], "give two cats"),
    (["mix", "--demo", CAT, "-o", "m.gif"], "give two cats (A B) or --demo, not both"),
    (["mix", "--demo", CAT, CAT, "-o", "m.gif"], "not both"),
    (["mix", "missing.jpg", CAT, "-o", "m.gif"],
     "missing.jpg: no such file (or mix the model's own cats by id: `kitten-mixer gallery` "
     "lists its 120 ids, e.g. 7078, 13660"),
    (["mix", "99999", "7078", "-o", "m.gif"],
     "99999: no such file, nor the id of a cat of the model's gallery"),
    (["mix", "cat:99999", "7078", "-o", "m.gif"], "cat:99999: no such cat in the model's gallery"),
    (["mix", "folder.jpg", CAT, "-o", "m.gif"], "folder.jpg: is a folder; give a photo (a file) "
     "or the id of a cat of the model's gallery"),
    (["mix", "photos", CAT, "-o", "m.gif"], "photos: is a folder; give a photo"),
    (["mix", "text.jpg", CAT, "-o", "m.gif"], "text.jpg: not an image"),
    pytest.param(["mix", "locked.png", CAT, "-o", "m.gif"], "locked.png: Permission denied",
                 marks=pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")),
    (["mix", "--demo", "--model", "nowhere", "-o", "m.gif"], "nowhere: no such model folder"),
    (["mix", "--demo", "--model", "not-a-model", "-o", "m.gif"], "not-a-model: not a saved"),
    (["sample", "-n", "2", "-o", "file/grid.png"], "file: is a file, not a folder"),
    (["sample", "-n", "2", "-o", "folder.jpg"], "folder.jpg: is a folder, not a file"),
    (["app", "--model", "not-a-model"], "not-a-model: not a saved model (no config.json)"),
    (["train", "--data", "nowhere", "-o", "run"], "nowhere: no such file or folder"),
    (["train", "--data", "photos", "-o", "run", "--config", "bad.json"], "unknown VAE settings"),
    (["evaluate", "not-a-model", "--data", "photos", "--no-kid"], "not-a-model: not a saved"),
    (["explore", "--data", "nowhere", "-o", "report"], "nowhere: not a folder or a zip"),
    (["train-faces", "--faces", "photos", "--photos", "nowhere.zip", "--boxes", "bad.json",
      "-o", "finder.safetensors"], "nowhere.zip: no such file or folder"),
    (["train-faces", "--faces", "photos", "--photos", "photos", "--boxes", "bad.json",
      "-o", "finder.pt"], "finder.pt: the finder's weights go in a .safetensors file"),
]


@pytest.mark.parametrize("args, message", BAD_INPUT)
def test_bad_input_ends_in_one_line_without_a_traceback(workspace, capsys, monkeypatch, args,
                                                          message):
    from kitten_mixer.webapp import launch

    monkeypatch.setattr(launch, "run_app", lambda *args: pytest.fail("the app started"))
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


@pytest.mark.parametrize("command", [[], ["evaluate"], ["app"], ["gallery"]])
def test_help_everywhere_else(command, capsys):
    with pytest.raises(SystemExit) as stop:
        main([*command, "--help"])
    assert stop.value.code == 0 and "usage: kitten-mixer" in capsys.readouterr().out


def _mix(tmp_path, *cats, out="m.gif"):
    status = main(["mix", *cats, "--steps", "3", "--zoom", "1", "-o", str(tmp_path / out)])
    return status, (tmp_path / out).read_bytes() if status == 0 else None


def test_mix_takes_the_shipped_gallery_cats_by_id(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    demo = _mix(tmp_path, "--demo", out="demo.gif")
    assert demo[0] == 0
    assert _mix(tmp_path, "7078", "13660") == demo  # the demo's cats are the gallery's first two
    assert _mix(tmp_path, "cat:7078", "cat:13660") == demo
    status, other = _mix(tmp_path, "7078", "3896")
    assert status == 0 and other != demo[1]
    assert main(["mix", "7078", "13660", "--steps", "4", "--zoom", "1", "-o", "s.png"]) == 0
    with Image.open(tmp_path / "s.png") as strip:
        assert strip.size == (4 * 66 + 2, 68)  # codes, not photos: no photo at the ends
    write_photos(tmp_path / "photos", 1)
    assert main(["mix", "photos/cat000.png", "13660", "--steps", "3", "-o", "p.gif"]) == 0
    capsys.readouterr()

    (tmp_path / "7078").write_text("a file named like a gallery cat")
    assert main(["mix", "7078", "13660", "-o", "m.gif"]) == 2  # the file wins, and is no photo
    err = capsys.readouterr().err.splitlines()
    assert err[0] == ("kitten-mixer: note: 7078 is the file here, not the gallery's cat 7078 "
                      "(write cat:7078 for the cat)")
    assert err[-1] == "kitten-mixer: error: 7078: not an image Pillow can read"
    assert _mix(tmp_path, "cat:7078", "13660") == demo


def test_gallery_lists_the_ids_mix_takes(tmp_path, capsys):
    assert main(["gallery", "-o", str(tmp_path / "sheet.png")]) == 0
    heading, *rows, wrote = capsys.readouterr().out.splitlines()
    assert heading.startswith("120 cats in the gallery of the shipped model (mix two: "
                              "kitten-mixer mix 7078 ")
    ids = [row.split() for row in rows]
    assert len(ids) == 12 and all(len(row) == 10 for row in ids)
    assert ids[0][:2] == ["7078", "13660"] and len({i for row in ids for i in row}) == 120
    with Image.open(tmp_path / "sheet.png") as sheet:
        assert sheet.size == (10 * 66 + 2, 12 * 66 + 2)  # one row of faces per row of ids
    assert wrote == f"wrote {tmp_path / 'sheet.png'} (their faces, row by row as listed)"


def test_the_app_checks_its_gallery_and_model_before_starting(workspace, monkeypatch):
    from kitten_mixer.webapp import launch

    started = []
    monkeypatch.setattr(launch, "run_app", lambda *args, **store: started.append((args, store))
                        or 0)
    assert main(["app", "--gallery", "photos", "--port", "8600"]) == 0
    assert started == [((8600, "photos", None), {"data_dir": None, "db": None})]
    with zipfile.ZipFile("photos.zip", "w") as archive:
        archive.write("photos/cat000.png")
    assert main(["app", "--gallery", "photos.zip"]) == 0 and len(started) == 2


def test_the_app_is_told_where_the_kitten_store_is(workspace, monkeypatch):
    from kitten_mixer.webapp import launch

    started = []
    monkeypatch.setattr(launch, "run_app", lambda *args, **store: started.append(store) or 0)
    assert main(["app", "--data-dir", "kept"]) == 0
    assert main(["app", "--db", "postgresql+psycopg://cats@db/kittens"]) == 0
    assert started == [{"data_dir": "kept", "db": None},
                       {"data_dir": None, "db": "postgresql+psycopg://cats@db/kittens"}]
    assert launch.app_environment(data_dir="kept")["KITTEN_MIXER_DATA"].endswith("kept")
    with pytest.raises(SystemExit):  # one place or the other, not both
        main(["app", "--data-dir", "kept", "--db", "sqlite:///x.db"])


def test_help_tells_the_truth(capsys):
    for command in ([], ["app"], ["mix"]):
        with pytest.raises(SystemExit):
            main([*command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "in your browser" not in text  # the app prints its address; it opens nothing
    assert "serve the web app; open the address it prints" in text
    assert "It prints the address to open in a browser" in text
    assert "the first cat: a photo, or a gallery cat's id" in text
    assert "`kitten-mixer mix 7078 13660 -o morph.gif` needs no photo" in text
