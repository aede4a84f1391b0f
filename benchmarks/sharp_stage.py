"""Speed of the sharp-cats stage: a training step with the perceptual term and the critic.

The stage's step is the trainer's own (training.loop._pass, as `kitten-mixer train` runs it)
on batches of the training faces, timed for two set-ups of the same config, in turns:

- every update: the adversarial weight measured on every update of the decoder (a second pass
  back through the reconstruction's loss, the perceptual network included) and the
  perceptual network's weights in the default layout;
- the config's: the weight measured every `weight_every` updates (from the config) and held
  in between, the perceptual network channels-last, as the trainer now runs it.

Both start from the config's init with the discriminator past its head start (so every step
hears it). It prints each one's seconds a step and an epoch (of the config's batches), and
their ratio.

    python benchmarks/sharp_stage.py \
        experiments/configs/perceptual-lite1-texture-critic-strong-held.json --threads 2
    python benchmarks/sharp_stage.py CONFIG --steps 20 --rounds 2 --threads 2

Run it on an idle machine: beside another busy process, both slow down.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch
from common import prepare_threads

from kitten_mixer import ExperimentConfig
from kitten_mixer.data import load_faces
from kitten_mixer.device import autocast_dtype, hardware_name
from kitten_mixer.loss import BetaLoss
from kitten_mixer.model import VAE
from kitten_mixer.training.adversarial import Adversary
from kitten_mixer.training.experiment import _decoder, _start_from
from kitten_mixer.training.loop import Placement, _pass
from kitten_mixer.training.perceptual import PerceptualLoss

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cats.zip"


def stage(config: ExperimentConfig, batches: list[torch.Tensor], channels_last: bool) -> float:
    """Seconds a step of the stage over `batches`, after one untimed step."""
    torch.manual_seed(config.seed)
    model = VAE.from_config(config.model)
    _start_from(model, config.init)
    adversary = Adversary(config.adversarial, model)
    adversary.steps.fill_(config.adversarial.head_start)  # the decoder hears it at once
    perceptual = PerceptualLoss(config.perceptual, model)
    model.to(memory_format=torch.channels_last)  # as the trainer lays the VAE out
    if channels_last:
        perceptual.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(_decoder(model), lr=config.lr, fused=True)
    where = Placement(torch.device("cpu"), autocast_dtype(config.precision, torch.device("cpu")),
                      True)
    loss = BetaLoss.from_config(config.loss)
    run = lambda part: _pass(model, part, loss, where, optimizer,  # noqa: E731
                             adversary=adversary, perceptual=perceptual)
    run(batches[:1])
    began = time.perf_counter()
    run(batches[1:])
    return (time.perf_counter() - began) / (len(batches) - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", type=Path, help="a config with a perceptual term and a critic")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--steps", type=int, default=17, help="timed steps a turn (and one)")
    parser.add_argument("--rounds", type=int, default=2, help="turns of each set-up")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    prepare_threads(args.threads, "slower, and their ratio less sure")
    config = ExperimentConfig.read(args.config)
    if config.adversarial is None or config.perceptual is None or not config.init:
        raise SystemExit(f"{args.config}: needs a perceptual term, a critic and an init")
    train = load_faces(args.data, (config.model.image_h, config.model.image_w)).split(
        config.val_fraction, config.test_fraction)["train"].images
    batches = list(train[:config.batch_size * (args.steps + 1)].split(config.batch_size))
    setups = {"every update": (replace(config, adversarial=replace(config.adversarial,
                                                                    weight_every=1)), False),
              f"the config's (weight every {config.adversarial.weight_every}, channels-last)":
                  (config, True)}
    seconds = {name: [] for name in setups}
    for _ in range(args.rounds):
        for name, (setup, channels_last) in setups.items():
            seconds[name].append(stage(setup, batches, channels_last))
    steps = len(train) // config.batch_size
    print(f"{hardware_name(torch.device('cpu'))}, {torch.get_num_threads()} thread(s), "
          f"{args.steps} steps x {args.rounds} rounds, batch {config.batch_size}")
    best = {name: min(times) for name, times in seconds.items()}
    for name, step in best.items():
        print(f"{name}: {step:.3f} s a step, {step * steps:.0f} s an epoch of {steps} steps")
    before, now = best.values()
    print(f"ratio: {before / now:.2f}x as fast")


if __name__ == "__main__":
    main()
