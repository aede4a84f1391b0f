"""Kitten Mixer: a convolutional beta-VAE for cat faces, its trainer, and a morphing API.

`import kitten_mixer` loads what using a model needs; the trainer loads the first time one of
its names is asked for (`kitten_mixer.train`, `from kitten_mixer import run_experiment`), so the
app and the command line's mixing never import it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from kitten_mixer.data import CatFaces, FaceLoader, load_faces
from kitten_mixer.errors import (
    DataError,
    KittenMixerError,
    ModelFileError,
    MorphError,
    PhotoError,
    TrainingError,
)
from kitten_mixer.loss import BetaLoss, LossConfig
from kitten_mixer.mixer import KittenMixer
from kitten_mixer.model import VAE, VAEConfig
from kitten_mixer.morph import interpolate_latents

if TYPE_CHECKING:
    from kitten_mixer.training.config import PRESETS, ExperimentConfig
    from kitten_mixer.training.experiment import run_experiment
    from kitten_mixer.training.loop import validation_loss
    from kitten_mixer.training.original import train

__version__ = "0.1.0"

# The trainer's public names, and the module each comes from.
_TRAINING = {"PRESETS": "config", "ExperimentConfig": "config", "run_experiment": "experiment",
             "validation_loss": "loop", "train": "original"}

__all__ = [
    "VAE", "VAEConfig", "BetaLoss", "LossConfig", "train", "validation_loss", "KittenMixer",
    "interpolate_latents", "load_faces", "CatFaces", "FaceLoader", "ExperimentConfig", "PRESETS",
    "run_experiment", "KittenMixerError", "PhotoError", "DataError", "ModelFileError", "MorphError",
    "TrainingError",
]


def __getattr__(name: str) -> Any:
    if name in _TRAINING:
        module = importlib.import_module(f"kitten_mixer.training.{_TRAINING[name]}")
        value = getattr(module, name)
        globals()[name] = value  # asked once, then found like any other name
        return value
    raise AttributeError(f"module 'kitten_mixer' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
