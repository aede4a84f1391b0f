"""Everything on disk: the layout of model and run folders, and reading and writing their files.

A saved model is a folder:

    model.safetensors     the weights
    config.json           architecture, training settings, data fingerprint, metrics
    gallery.safetensors   cats shipped with the model: codes, ids, places on a map (optional)
    sampler.safetensors   a density of real cats' codes to draw new kittens from (optional)
    genes.safetensors     the main directions of the codes, to tune a cat along (optional)

A training run is a saved-model folder (its best model by validation loss) with more:

    history.csv                     one row per epoch, per-image losses
    best-train/                     the best model by training loss (a saved-model folder)
    epochs/epoch-0003.safetensors   the whole training state, its config included

Every file is written atomically: a process killed at any moment leaves the old file or the
new one, never half of one. Tensors are stored as safetensors, nothing is ever unpickled, and
a missing or damaged file is a ModelFileError that names it.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from kitten_mixer.errors import ModelFileError

MODEL_FORMAT = "kitten-mixer-model/1"
CHECKPOINT_FORMAT = "kitten-mixer-checkpoint/2"  # /2: the run's config travels in the state
_CHECKPOINT_NAME = re.compile(r"epoch-(\d+)\.safetensors$")


class ModelFolder:
    """The files of a saved model."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    @property
    def weights(self) -> Path:
        return self.path / "model.safetensors"

    @property
    def config(self) -> Path:
        return self.path / "config.json"

    @property
    def gallery(self) -> Path:
        return self.path / "gallery.safetensors"

    @property
    def sampler(self) -> Path:
        return self.path / "sampler.safetensors"

    @property
    def genes(self) -> Path:
        return self.path / "genes.safetensors"


class RunFolder(ModelFolder):
    """The files of a training run: a saved model (the best by validation loss) and more."""

    @property
    def history(self) -> Path:
        return self.path / "history.csv"

    @property
    def best_train(self) -> ModelFolder:
        return ModelFolder(self.path / "best-train")

    def checkpoint(self, epoch: int) -> Path:
        return self.path / "epochs" / f"epoch-{epoch:04d}.safetensors"

    def checkpoints(self) -> list[tuple[int, Path]]:
        """(epoch, path) of every epoch checkpoint, newest first."""
        found = []
        for path in (self.path / "epochs").glob("epoch-*.safetensors"):
            if match := _CHECKPOINT_NAME.search(path.name):
                found.append((int(match.group(1)), path))
        return sorted(found, reverse=True)


# ---- atomic writes ------------------------------------------------------------------------------

@functools.cache
def _umask() -> int:
    """The process's umask, read once (setting it is the only way to read it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` on a temporary file beside `path`, then move it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes files private; these are ordinary
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temporaries(folder: str | os.PathLike) -> None:
    """Delete what `atomic_write` left behind in a process that was killed mid-write."""
    for path in Path(folder).rglob(".*.tmp"):
        if path.is_file():
            path.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write a JSON file atomically, indented for people."""
    write_text(path, json.dumps(data, indent=2) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelFileError(f"{path}: not valid JSON ({e})") from None


def write_tensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor],
                  metadata: dict[str, str] | None = None) -> None:
    """Write tensors (any device, any layout) as one safetensors file, atomically."""
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def read_tensors(path: str | os.PathLike, missing: str | None = None
                 ) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and metadata of a safetensors file; `missing` explains an absent file."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: {missing or 'no such file'}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except Exception as e:  # safetensors raises its own error types for every kind of damage
        raise ModelFileError(f"{path}: damaged or truncated safetensors file ({e})") from None
    return tensors, metadata


# ---- saved models -------------------------------------------------------------------------------

def save_model(model: torch.nn.Module, path: str | os.PathLike, dtype: torch.dtype | None = None,
               **info: Any) -> ModelFolder:
    """Write a model (anything with `state_dict()` and `config.to_dict()`) as a saved-model
    folder; `info` (training, data, metrics...) joins its config.json. `dtype=torch.float16`
    halves the file."""
    folder = ModelFolder(path)
    state = model.state_dict()
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    write_tensors(folder.weights, state, {"format": MODEL_FORMAT})
    write_json(folder.config,
               {"format": MODEL_FORMAT, "architecture": model.config.to_dict(), **info})
    return folder


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    """The config.json of a saved-model folder."""
    folder = ModelFolder(path)
    if not folder.path.is_dir():
        raise ModelFileError(f"{folder.path}: no such model folder")
    if not folder.config.is_file():
        raise ModelFileError(f"{folder.path}: not a saved model (no {folder.config.name})")
    config = read_json(folder.config)
    if not isinstance(config, dict) or "architecture" not in config:
        raise ModelFileError(f"{folder.config}: has no 'architecture' section")
    return config


def read_model(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The weights and the config of a saved-model folder."""
    config = read_config(path)
    weights, _ = read_tensors(ModelFolder(path).weights)
    return weights, config


# ---- training runs ------------------------------------------------------------------------------

def write_history(path: str | os.PathLike, rows: list[dict[str, Any]]) -> None:
    """The epochs of a run as CSV, one row each, columns in the rows' order."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, out.getvalue())


def read_history(path: str | os.PathLike) -> list[dict[str, float]]:
    """The rows of a history.csv as numbers; no file, no rows."""
    if not Path(path).is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write a training state (nested dicts and lists of tensors and plain values)."""
    tensors: dict[str, torch.Tensor] = {}
    packed = _pack(state, "state", tensors)
    write_tensors(path, tensors, {"format": CHECKPOINT_FORMAT, "state": json.dumps(packed)})


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """A training state written by `save_checkpoint`."""
    tensors, metadata = read_tensors(path)
    if metadata.get("format") != CHECKPOINT_FORMAT or "state" not in metadata:
        raise ModelFileError(f"{path}: not a Kitten Mixer training checkpoint of this version "
                             f"({metadata.get('format', 'no format')})")
    try:
        return _unpack(json.loads(metadata["state"]), tensors)
    except (json.JSONDecodeError, KeyError) as e:
        raise ModelFileError(f"{path}: damaged checkpoint state ({e})") from None


def _pack(obj: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """JSON-able `obj` with every tensor moved into `tensors` and replaced by its key."""
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj
        return {"__tensor__": prefix}
    if isinstance(obj, dict):  # as pairs: optimizer states have integer keys
        return {"__items__": [[k, _pack(v, f"{prefix}.{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [_pack(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store a {type(obj).__name__} in a checkpoint ({prefix})")


def _unpack(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict) and "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if isinstance(obj, dict) and "__items__" in obj:
        return {k: _unpack(v, tensors) for k, v in obj["__items__"]}
    if isinstance(obj, list):
        return [_unpack(v, tensors) for v in obj]
    return obj
