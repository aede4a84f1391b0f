"""Kitten Mixer: a convolutional beta-VAE for cat faces, its trainer, and a morphing API."""

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
from kitten_mixer.training.config import PRESETS, ExperimentConfig
from kitten_mixer.training.experiment import run_experiment
from kitten_mixer.training.loop import validation_loss
from kitten_mixer.training.original import train

__version__ = "0.1.0"

__all__ = [
    "VAE", "VAEConfig", "BetaLoss", "LossConfig", "train", "validation_loss", "KittenMixer",
    "interpolate_latents", "load_faces", "CatFaces", "FaceLoader", "ExperimentConfig", "PRESETS",
    "run_experiment", "KittenMixerError", "PhotoError", "DataError", "ModelFileError", "MorphError",
    "TrainingError",
]
