"""The `kitten-mixer` command: train models and mix cats from the shell."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path

from PIL import Image

from kitten_mixer import distributed
from kitten_mixer.errors import KittenMixerError
from kitten_mixer.experiment import PRESETS, ExperimentConfig, run_experiment
from kitten_mixer.gallery import load_gallery
from kitten_mixer.images import centre_crop, image_grid, open_photo
from kitten_mixer.mixer import METHODS, KittenMixer


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kitten-mixer", description="Mix two cats into one with a beta-VAE.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = commands.add_parser("train", help="train a VAE on a folder or zip of photos",
                            description="Train a VAE on a folder or zip of photos. The run "
                            "folder becomes a saved model (KittenMixer.load(OUT)).")
    t.add_argument("--data", required=True, help="a folder (searched recursively) or a .zip")
    t.add_argument("--out", required=True, help="the run folder")
    source = t.add_mutually_exclusive_group()
    source.add_argument("--preset", choices=sorted(PRESETS), default="v6",
                        help="one of the original six variants (default: v6)")
    source.add_argument("--config", help="a JSON experiment config (ExperimentConfig fields)")
    t.add_argument("--epochs", type=_positive_int, help="total epochs to reach")
    t.add_argument("--batch-size", type=_positive_int)
    t.add_argument("--lr", type=_positive_float, help="learning rate")
    t.add_argument("--seed", type=int)
    t.add_argument("--flip", action="store_true", help="mirror half the faces each epoch")
    t.add_argument("--precision", choices=["auto", "bf16", "fp16", "fp32"])
    t.add_argument("--compile", action="store_true", help="torch.compile the model")
    t.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    t.set_defaults(run=_train)

    m = commands.add_parser("mix", help="morph one cat photo into another",
                            description="Morph cat photo A into cat photo B, as an animated "
                            "GIF (.gif) or one strip of images (.png).")
    m.add_argument("a", nargs="?", help="photo of the first cat")
    m.add_argument("b", nargs="?", help="photo of the second cat")
    m.add_argument("--demo", action="store_true",
                   help="mix two cats that ship with the model instead of photos")
    m.add_argument("--steps", type=_positive_int, default=11,
                   help="images from A to B, both ends included (default: 11)")
    m.add_argument("--method", choices=METHODS, default="linear")
    m.add_argument("--model", help="a saved-model folder (default: the shipped model)")
    m.add_argument("--zoom", type=_positive_int, default=2, help="enlarge images (default: 2)")
    m.add_argument("-o", "--output", required=True, help="morph.gif or morph.png")
    m.set_defaults(run=_mix)
    return parser


def _train(args: argparse.Namespace) -> None:
    config = ExperimentConfig.read(args.config) if args.config else PRESETS[args.preset]
    overrides = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                 "seed": args.seed, "precision": args.precision,
                 "flip": args.flip or None, "compile": args.compile or None}
    config = replace(config, **{k: v for k, v in overrides.items() if v is not None})
    try:
        run_experiment(config, args.data, args.out, device=args.device, resume=args.resume)
    finally:
        main_process = distributed.rank() == 0
        distributed.shutdown()
    if main_process:
        print(f"saved model: {args.out} (load it with KittenMixer.load({str(args.out)!r}))")


def _mix(args: argparse.Namespace) -> None:
    output = Path(args.output)
    if output.suffix.lower() not in (".gif", ".png"):
        raise KittenMixerError(f"{output}: the output must end in .gif or .png")
    if not args.demo and not (args.a and args.b):
        raise KittenMixerError("give two photos (A B), or --demo")
    mixer = KittenMixer.load(args.model)
    if args.demo:
        a, b = load_gallery(mixer.folder).codes[:2]
        ends = []  # the ends of the morph are the cats themselves
    else:
        a, b = args.a, args.b
        ends = [centre_crop(open_photo(p), mixer.image_size) for p in (a, b)]
    frames = mixer.interpolate(a, b, args.steps, args.method)
    size = (frames[0].width * args.zoom, frames[0].height * args.zoom)
    frames = [f.resize(size, Image.Resampling.LANCZOS) for f in frames]
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix.lower() == ".gif":
        loop = frames + frames[-2:0:-1]  # there and back again
        loop[0].save(output, save_all=True, append_images=loop[1:], duration=120, loop=0)
    else:
        ends = [e.resize(size, Image.Resampling.LANCZOS) for e in ends]
        strip = [ends[0], *frames, ends[1]] if ends else frames
        image_grid(strip, columns=len(strip)).save(output)
    print(f"wrote {output} ({args.steps} steps, {args.method})")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except KittenMixerError as e:
        print(f"kitten-mixer: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kitten-mixer: interrupted; the last checkpoint is kept", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
