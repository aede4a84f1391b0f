"""The config of a training run, one JSON-able dataclass, and the original project's presets."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from kitten_mixer.data import TEST_FRACTION, VAL_FRACTION
from kitten_mixer.errors import TrainingError
from kitten_mixer.loss import LossConfig
from kitten_mixer.model import VAEConfig, drop_removed
from kitten_mixer.training.adversarial import AdversarialConfig
from kitten_mixer.training.perceptual import PerceptualConfig

log = logging.getLogger(__name__)

LR_SCHEDULES = ("constant", "cosine")
REMOVED_OPTIONS = {"refine_only": False}  # the experiment's, at the value that meant "off"


@dataclass
class ExperimentConfig:
    """A whole training run: architecture, loss, optimisation and data split."""

    model: VAEConfig = field(default_factory=VAEConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    lr_schedule: str = "constant"  # or "cosine": down to zero at the last epoch
    epochs: int = 20
    epochs_per_checkpoint: int = 1
    flip: bool = False  # mirror half the training faces, a fresh half every epoch
    shift: int = 0  # move each training face up to this many pixels, afresh every epoch
    seed: int = 0
    val_fraction: float = VAL_FRACTION
    test_fraction: float = TEST_FRACTION
    precision: str = "auto"
    compile: bool = False
    grad_clip: float | None = None  # largest gradient norm of a step; None: no clipping
    # Fine-tuning: start from the weights of this saved model (same architecture) instead of
    # a random init. A relative path is read from the current directory.
    init: str | None = None
    # Train the decoder alone, the encoder frozen, so that a shipped model's gallery codes,
    # map and sampler stay valid (adversarial.decoder_only does the same for that stage).
    decoder_only: bool = False
    # The decoder's learning rate where it differs from the encoder's (lr): a stage that
    # reshapes the codes can keep a trained decoder's drawing by moving it more slowly.
    # None: lr for every weight. The schedule scales both alike.
    decoder_lr: float | None = None
    # Arc mixes in the losses (perceptual.mixes, adversarial.mixes) bend about the centre of
    # the training faces' codes, as the package's morphs do (KittenMixer.centre), not about
    # the origin. The centre is measured once, from the init model: the encoder must be frozen.
    arc_centre: bool = False
    # The perceptual term (training/perceptual.py): None trains on the likelihood alone.
    perceptual: PerceptualConfig | None = None
    # The adversarial stage (training/adversarial.py): None trains without a discriminator.
    adversarial: AdversarialConfig | None = None

    def __post_init__(self) -> None:
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}")
        if self.batch_size < 1 or self.epochs < 1 or self.lr <= 0:
            raise ValueError("batch_size and epochs must be at least 1, lr positive")
        if not 0 <= self.shift < min(self.model.image_h, self.model.image_w):
            raise ValueError(f"shift must be at least 0 pixels and less than the faces' size, "
                             f"not {self.shift}")
        if isinstance(self.perceptual, dict):
            self.perceptual = PerceptualConfig.from_dict(self.perceptual)
        if isinstance(self.adversarial, dict):
            self.adversarial = AdversarialConfig.from_dict(self.adversarial)
        if self.adversarial is not None and self.adversarial.decoder_only and not self.init:
            raise ValueError("adversarial.decoder_only fine-tunes a trained decoder: give init "
                             "(a saved model), or set decoder_only to false")
        if self.decoder_only and not self.init:
            raise ValueError("decoder_only fine-tunes a trained decoder: give init (a saved "
                             "model), or set decoder_only to false")
        if self.arc_centre and not (self.decoder_only or (self.adversarial
                                                          and self.adversarial.decoder_only)):
            raise ValueError("arc_centre measures the codes' centre once: it needs the encoder "
                             "frozen (decoder_only)")
        if self.decoder_lr is not None:
            if self.decoder_lr <= 0:
                raise ValueError("decoder_lr must be positive (or null: lr for every weight)")
            if self.decoder_only or (self.adversarial and self.adversarial.decoder_only):
                raise ValueError("decoder_lr is the decoder's rate beside the encoder's; with "
                                 "the encoder frozen (decoder_only) set lr instead")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: ExperimentConfig | None = None
                  ) -> ExperimentConfig:
        """A config from a dict; keys it lacks keep the values of `base` (or the defaults).
        Options since removed (docs/removed-options.md) are dropped at their old "off" value
        and refused at any other (ValueError)."""
        base = base or cls()
        data = drop_removed(data, REMOVED_OPTIONS, "experiment")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown experiment settings: {sorted(unknown)}")
        data = dict(data)
        if "model" in data:
            data["model"] = VAEConfig.from_dict({**base.model.to_dict(), **data["model"]})
        if "loss" in data:
            data["loss"] = LossConfig(**{**base.loss.to_dict(), **data["loss"]})
        if data.get("perceptual") is not None:
            start = base.perceptual.to_dict() if base.perceptual else {}
            data["perceptual"] = PerceptualConfig.from_dict({**start, **data["perceptual"]})
        if data.get("adversarial") is not None:
            start = base.adversarial.to_dict() if base.adversarial else {}
            data["adversarial"] = AdversarialConfig.from_dict({**start, **data["adversarial"]})
        return replace(base, **data)

    @classmethod
    def read(cls, path: str | os.PathLike, base: ExperimentConfig | None = None
             ) -> ExperimentConfig:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TrainingError(f"{path}: no such config file") from None
        except json.JSONDecodeError as e:
            raise TrainingError(f"{path}: not valid JSON ({e})") from None
        try:
            return cls.from_dict(data, base)
        except (TypeError, ValueError) as e:
            raise TrainingError(f"{path}: {e}") from None


def _original(beta: float, **model: Any) -> ExperimentConfig:
    return ExperimentConfig(model=VAEConfig(**model), loss=LossConfig(beta=beta))


# The original project's six variants (see SEED_NOTES): its architecture at five betas, and a
# smaller network (v3, whose exact size the original does not give: half the channels and one
# layer less, 128 latent units: 1.66 M parameters instead of 7.5 M).
PRESETS: dict[str, ExperimentConfig] = {
    "v1": _original(1.0),
    "v2": _original(2.0),
    "v3": _original(1.0, hidden_channels=[3, 16, 32, 64], latent_dims=128),
    "v4": _original(0.5),
    "v5": _original(0.05),
    "v6": _original(0.005),
}
