"""Files on disk: saved models and training checkpoints, safetensors only, written atomically.

A saved model is a folder: `model.safetensors` (weights) and `config.json` (architecture,
training settings, data fingerprint, metrics). A training checkpoint is one safetensors file
that holds every tensor of the run (weights, optimizer moments, RNG state) with the rest of its
state as JSON in the file's metadata. Nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from kitten_mixer.errors import ModelFileError
from kitten_mixer.model import VAE, VAEConfig

MODEL_FORMAT = "kitten-mixer-model/1"
CHECKPOINT_FORMAT = "kitten-mixer-checkpoint/1"
WEIGHTS_FILE = "model.safetensors"
_UMASK = os.umask(0)
os.umask(_UMASK)
CONFIG_FILE = "config.json"


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` on a temporary file beside `path`, then move it into place.

    A process killed at any moment leaves either the old file or the new one, never half of one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes files private; these are ordinary files
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
    """Write a text file atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write a JSON file atomically, indented for people."""
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def _write_safetensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor],
                       metadata: dict[str, str]) -> None:
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except Exception as e:  # safetensors raises its own error types for every kind of damage
        raise ModelFileError(f"{path}: damaged or truncated safetensors file ({e})") from None
    return tensors, metadata


def save_model(model: VAE, folder: str | os.PathLike, dtype: torch.dtype | None = None,
               **info: Any) -> Path:
    """Write `model` as a saved-model folder; `info` (training, data, metrics...) joins its config.

    `dtype=torch.float16` halves the file; loading always gives float32 weights.
    """
    folder = Path(folder)
    state = model.state_dict()
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    _write_safetensors(folder / WEIGHTS_FILE, state, {"format": MODEL_FORMAT})
    write_json(folder / CONFIG_FILE,
               {"format": MODEL_FORMAT, "architecture": model.config.to_dict(), **info})
    return folder


def read_config(folder: str | os.PathLike) -> dict[str, Any]:
    """The config.json of a saved-model folder."""
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise ModelFileError(f"{folder}: not a saved model (no {CONFIG_FILE})")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelFileError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(config, dict) or "architecture" not in config:
        raise ModelFileError(f"{path}: has no 'architecture' section")
    return config


def build_model(architecture: dict[str, Any], source: str) -> VAE:
    """A fresh VAE from an architecture dict, with a clear error if the dict is wrong."""
    try:
        return VAE.from_config(VAEConfig.from_dict(architecture))
    except (TypeError, ValueError) as e:
        raise ModelFileError(f"{source}: invalid architecture ({e})") from None


def load_weights(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load `state` into `model`, naming what does not match if anything does not."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        problems = []
        if missing:
            problems.append(f"{len(missing)} weights missing (e.g. {missing[0]})")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if wrong:
            k = wrong[0]
            problems.append(f"{len(wrong)} of another shape (e.g. {k}: "
                            f"{tuple(state[k].shape)} in the file, {tuple(own[k].shape)} expected)")
        raise ModelFileError(f"{source}: the weights do not match the architecture: "
                             + "; ".join(problems))
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})


def load_model(folder: str | os.PathLike,
               map_location: str | torch.device = "cpu") -> tuple[VAE, dict[str, Any]]:
    """A saved-model folder as (VAE in eval mode, its config dict)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFileError(f"{folder}: no such model folder")
    config = read_config(folder)
    model = build_model(config["architecture"], str(folder / CONFIG_FILE))
    state, _ = _read_safetensors(folder / WEIGHTS_FILE)
    load_weights(model, state, str(folder))
    return model.to(map_location).eval(), config


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


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write a training state (nested dicts and lists of tensors and plain values) atomically."""
    tensors: dict[str, torch.Tensor] = {}
    packed = _pack(state, "state", tensors)
    _write_safetensors(path, tensors, {"format": CHECKPOINT_FORMAT, "state": json.dumps(packed)})


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """A training state written by `save_checkpoint`."""
    path = Path(path)
    tensors, metadata = _read_safetensors(path)
    if metadata.get("format") != CHECKPOINT_FORMAT or "state" not in metadata:
        raise ModelFileError(f"{path}: not a Kitten Mixer training checkpoint")
    try:
        return _unpack(json.loads(metadata["state"]), tensors)
    except (json.JSONDecodeError, KeyError) as e:
        raise ModelFileError(f"{path}: damaged checkpoint state ({e})") from None
