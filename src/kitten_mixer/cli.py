"""The `kitten-mixer` command: train models and mix cats from the shell."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import torch

from kitten_mixer import cli_inputs as inputs
from kitten_mixer.data import training_splits
from kitten_mixer.device import PRECISIONS
from kitten_mixer.errors import KittenMixerError
from kitten_mixer.evaluation import evaluate as evaluation
from kitten_mixer.evaluation import records as reports
from kitten_mixer.explore import explore
from kitten_mixer.images import enlarge, image_grid
from kitten_mixer.mixer import DEFAULT_MODEL, KittenMixer, NoFaceFound
from kitten_mixer.morph import DEFAULT_METHOD, METHODS, MIN_STEPS, morph_file
from kitten_mixer.ship import ship_model, write_model_genes
from kitten_mixer.shipping.genes import DEFAULT_GENES
from kitten_mixer.storage import ModelFolder, read_config
from kitten_mixer.store.cli import add_kittens_command, store_location
from kitten_mixer.training import distributed
from kitten_mixer.training.config import PRESETS, ExperimentConfig
from kitten_mixer.training.experiment import run_experiment, stored_config

# Upper bounds keep a typo from asking for gigabytes: 256 images at zoom 8 are 200 MB of pixels.
MAX_IMAGES = 256
MAX_ZOOM = 8
# New kittens decoded for their KID in `evaluate`, from the sampler that fits the model.
KITTENS = 500


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kitten-mixer", description="Mix two cats into one with a beta-VAE.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = commands.add_parser("train", help="train a VAE on a folder or zip of photos",
                            description="Train a VAE on a folder or zip of photos. The run "
                            "folder becomes a saved model (KittenMixer.load(OUT)).")
    t.add_argument("--data", required=True, help="a folder (searched recursively) or a .zip")
    t.add_argument("-o", "--out", required=True, type=inputs.output_folder, help="the run folder")
    source = t.add_mutually_exclusive_group()
    source.add_argument("--preset", choices=sorted(PRESETS), default="v6",
                        help="one of the original six variants (default: v6)")
    source.add_argument("--config", type=inputs.input_file,
                        help="a JSON experiment config (ExperimentConfig fields)")
    t.add_argument("--epochs", type=inputs.whole_number(1), help="total epochs to reach")
    t.add_argument("--batch-size", type=inputs.whole_number(1))
    t.add_argument("--lr", type=inputs.positive_number, help="learning rate")
    t.add_argument("--seed", type=inputs.seed, help="(default: the preset's or the config's)")
    t.add_argument("--flip", action="store_true", help="mirror half the faces each epoch")
    t.add_argument("--shift", type=inputs.whole_number(0), metavar="PIXELS",
                   help="move each face up to PIXELS pixels each epoch (default: 0)")
    t.add_argument("--precision", choices=PRECISIONS)
    t.add_argument("--compile", action="store_true", help="torch.compile the model")
    t.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    t.add_argument("--resume", action="store_true",
                   help="continue the run in --out with its own settings, to --epochs or "
                        "its --config's epochs (start it if it has no checkpoint yet)")
    t.set_defaults(handler=_train)

    m = commands.add_parser("mix", help="morph one cat into another: photos or the model's cats",
                            description="Morph cat A into cat B, as an animated GIF (.gif) or "
                            "one strip of images (.png). Each cat is a photo, or the id of a cat "
                            "in the model's gallery (`kitten-mixer gallery` lists them): "
                            "`kitten-mixer mix 7078 13660 -o morph.gif` needs no photo. Where a "
                            "file has an id's name, the file is meant; cat:7078 always means "
                            "the gallery's cat.")
    m.add_argument("a", nargs="?", help="the first cat: a photo, or a gallery cat's id")
    m.add_argument("b", nargs="?", help="the second cat: a photo, or a gallery cat's id")
    m.add_argument("--demo", action="store_true",
                   help="mix the first two cats of the model's gallery, without A and B "
                   "(for the shipped model: 7078 and 13660)")
    m.add_argument("--steps", type=inputs.whole_number(MIN_STEPS, MAX_IMAGES), default=11,
                   help="images from A to B, both ends included (default: 11)")
    m.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD,
                   help=f"the arc (slerp) or the straight line (default: {DEFAULT_METHOD})")
    m.add_argument("--no-find", dest="find", action="store_false",
                   help="photos are face crops already: use their centres as they are "
                   "(by default a whole-scene photo is cropped around its cat's face)")
    m.add_argument("--model", type=inputs.model_folder,
                   help="a saved-model folder (default: the shipped model)")
    m.add_argument("--zoom", type=inputs.whole_number(1, MAX_ZOOM), default=2,
                   help="enlarge images (default: 2)")
    m.add_argument("-o", "--out", dest="output", metavar="OUT", required=True,
                   type=inputs.output_file, help="morph.gif or morph.png")
    m.set_defaults(handler=_mix)

    s = commands.add_parser("sample", help="draw new kittens from the model's sampler",
                            description="Draw new kittens where real cats' codes lie, as a grid.")
    s.add_argument("-n", type=inputs.whole_number(1, MAX_IMAGES), default=16,
                   help="how many (default: 16)")
    s.add_argument("--seed", type=inputs.seed, help="the same seed draws the same kittens")
    s.add_argument("--model", type=inputs.model_folder,
                   help="a saved-model folder with a sampler (default: shipped)")
    s.add_argument("--zoom", type=inputs.whole_number(1, MAX_ZOOM), default=2,
                   help="enlarge images (default: 2)")
    s.add_argument("-o", "--out", dest="output", metavar="OUT", type=inputs.image_file,
                   required=True, help="grid.png")
    s.set_defaults(handler=_sample)

    e = commands.add_parser("evaluate", help="measure runs on the test split",
                            description="Measure trained runs on the test split of --data; "
                            "write one JSON record per run and the tables of the report.")
    e.add_argument("runs", nargs="+", type=inputs.model_folder,
                   help="run folders (or saved-model folders)")
    e.add_argument("--data", required=True, help="the photos the runs were trained on")
    e.add_argument("--results", default="experiments/records", help="the records' folder")
    e.add_argument("--report", default="docs/results.md", help="markdown to update")
    e.add_argument("--figures", type=inputs.output_folder,
                   help="write the reconstruction and interpolation grids here")
    e.add_argument("--with-photos", action="store_true",
                   help="put the photos themselves in the reconstruction grid (for local "
                   "use: the photos are not ours to publish)")
    e.add_argument("--no-kid", action="store_true", help="skip the KID columns (no extras)")
    e.set_defaults(handler=_evaluate)

    w = commands.add_parser("sweep", help="train and measure the original six variants",
                            description="Train presets v1-v6 with the same budget each "
                            "(resuming any that stopped), then evaluate them all.")
    w.add_argument("--data", required=True, help="a folder (searched recursively) or a .zip")
    w.add_argument("-o", "--out", default="runs/sweep", type=inputs.output_folder,
                   help="one run folder per preset in here (default: runs/sweep)")
    w.add_argument("--epochs", type=inputs.whole_number(1), default=25,
                   help="per preset (default: 25)")
    w.add_argument("--presets", default=",".join(sorted(PRESETS)),
                   help="comma-separated (default: all six)")
    w.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    w.add_argument("--results", default="experiments/records")
    w.add_argument("--report", default="docs/results.md")
    w.add_argument("--figures", default="docs/images", type=inputs.output_folder,
                   help="(default: docs/images)")
    w.set_defaults(handler=_sweep)

    h = commands.add_parser("ship", help="make a run the model the package ships",
                            description="Write a run's weights (float16), a gallery of "
                            "varied test cats with a 2-D map, and a sampler into a folder.")
    h.add_argument("run", type=inputs.model_folder, help="a run folder (what train writes)")
    h.add_argument("--data", required=True, help="the photos the run was trained on")
    h.add_argument("--label", required=True, help="what the model is, for people")
    h.add_argument("-o", "--out", default=DEFAULT_MODEL, type=inputs.output_folder,
                   help="target folder (default: the package's default model)")
    h.set_defaults(handler=_ship)

    g = commands.add_parser("genes", help="find a model's genes: directions to tune cats along",
                            description="Find the main directions of the training cats' codes "
                            "(principal components) and save them in the model's folder as "
                            "genes.safetensors, for tuning cats in the app and the library.")
    g.add_argument("model", type=inputs.model_folder,
                   help="a saved-model folder (it gains genes.safetensors)")
    g.add_argument("--data", required=True, help="the photos the model was trained on")
    g.add_argument("-n", type=inputs.whole_number(1, MAX_IMAGES), default=DEFAULT_GENES,
                   help=f"how many genes (default: {DEFAULT_GENES})")
    g.set_defaults(handler=_genes)

    x = commands.add_parser("explore", help="report on a data set of photos",
                            description="Counts, duplicates, sizes and modes, a sample grid, "
                            "the mean face, colour and brightness histograms, as markdown.")
    x.add_argument("--data", required=True, help="a folder (searched recursively) or a .zip")
    x.add_argument("-o", "--out", required=True, type=inputs.output_folder, help="report folder")
    x.set_defaults(handler=_explore)

    f = commands.add_parser("train-faces", help="train the cat-face finder",
                            description="Train the face finder's four networks from tight face "
                            "crops and whole-scene photos with hand-drawn face boxes (about an "
                            "hour on one thread of a shared 2-core CPU), and save them as one "
                            ".safetensors file. The last one reads EfficientNet-Lite1's ImageNet "
                            "filters: pip install -e '.[train]'.")
    f.add_argument("--faces", required=True, help="a zip or folder of tight cat-face crops")
    f.add_argument("--photos", required=True, help="a zip of whole-scene cat photos")
    f.add_argument("--boxes", required=True, type=inputs.input_file,
                   help="JSON of the face boxes of the photos to learn from (keep test photos "
                   "out of it), as in labels/face_boxes.json")
    f.add_argument("--seed", type=inputs.seed, default=0, help="(default: 0)")
    f.add_argument("-o", "--out", required=True, type=inputs.output_file,
                   help="the finder's weights, a .safetensors file")
    f.set_defaults(handler=_train_faces)

    a = commands.add_parser("app", parents=[store_location()],
                            help="serve the web app; open the address it prints",
                            description="Serve the Kitten Mixer web app on this machine "
                            "(loopback only) until Ctrl+C. It prints the address to open in "
                            "a browser: http://127.0.0.1:PORT.")
    a.add_argument("--port", type=inputs.whole_number(1, 65535), default=8501,
                   help="(default: 8501)")
    a.add_argument("--gallery", type=inputs.photo_source, help="a folder or zip of cat photos to "
                   "show instead of the cats embedded with the model")
    a.add_argument("--model", type=inputs.model_folder,
                   help="a saved-model folder (default: the shipped model)")
    a.set_defaults(handler=_app)

    y = commands.add_parser("gallery", help="list the ids of the model's own cats, to mix",
                            description="List the ids of the cats in the model's gallery, "
                            f"{inputs.GALLERY_COLUMNS} to a line, to give to `mix` "
                            "(the app's links name them alike: ?a=7078&b=13660).")
    y.add_argument("--model", type=inputs.model_folder,
                   help="a saved-model folder (default: the shipped model)")
    y.add_argument("-o", "--out", dest="output", metavar="OUT", type=inputs.image_file,
                   help="also draw their faces in a grid (sheet.png), one row per line")
    y.add_argument("--zoom", type=inputs.whole_number(1, MAX_ZOOM), default=1,
                   help="enlarge the faces (default: 1)")
    y.set_defaults(handler=_gallery)
    add_kittens_command(commands)
    return parser


def _train(args: argparse.Namespace) -> None:
    overrides = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                 "seed": args.seed, "precision": args.precision,
                 "flip": args.flip or None, "shift": args.shift,
                 "compile": args.compile or None}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    stored = stored_config(args.out) if args.resume else None
    if args.resume and stored is None:
        print(f"kitten-mixer: note: {args.out} has no checkpoint yet: starting the run",
              file=sys.stderr)
    if stored is not None:  # the run's own config, from its checkpoint
        changed = sorted(set(overrides) - {"epochs"})
        if changed:
            raise KittenMixerError(f"--{changed[0].replace('_', '-')}: a resumed run keeps the "
                                   "settings it was started with; only --epochs can change")
        if args.config:  # its epochs can grow the run; its other settings must be the run's
            asked = ExperimentConfig.read(args.config)
            if replace(asked, epochs=stored.epochs) != stored:
                raise KittenMixerError(f"--config: {args.config} is not the config {args.out} "
                                       "was started with; a resumed run keeps that one, and "
                                       "only its epochs can change")
            overrides.setdefault("epochs", asked.epochs)
        config = stored
    else:
        config = ExperimentConfig.read(args.config) if args.config else PRESETS[args.preset]
    try:
        config = replace(config, **overrides)
    except ValueError as e:
        raise KittenMixerError(str(e)) from None
    try:
        run_experiment(config, args.data, args.out, device=args.device, resume=args.resume)
    finally:
        main_process = distributed.rank() == 0
        distributed.shutdown()
    if main_process:
        print(f"saved model: {args.out} (load it with KittenMixer.load({str(args.out)!r}))")


def _mix(args: argparse.Namespace) -> None:
    output = morph_file(args.output)  # a wrong suffix fails before any work
    given = inputs.mix_cats(args.a, args.b, args.demo)  # checked before the model loads
    mixer = KittenMixer.load(args.model)
    a, b = inputs.cats(given, mixer.folder)  # gallery cats as codes: no photo at their end
    with warnings.catch_warnings(record=True) as notes:
        warnings.simplefilter("always", NoFaceFound)
        morph = mixer.morph(a, b, args.steps, args.method, find=args.find)
    for note in notes:
        print(f"kitten-mixer: note: {note.message}", file=sys.stderr)
    morph.enlarged(args.zoom).save(output)
    print(f"wrote {output} ({args.steps} steps, {args.method})")


def _gallery(args: argparse.Namespace) -> None:
    inputs.show_gallery(KittenMixer.load(args.model), args.output, args.zoom)


def _sample(args: argparse.Namespace) -> None:
    kittens = KittenMixer.load(args.model).sample(args.n, args.seed)
    columns = min(8, args.n)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    image_grid([enlarge(kitten, args.zoom) for kitten in kittens], columns).save(args.output)
    print(f"wrote {args.output} ({args.n} new kittens)")


def _evaluate_runs(runs: list[str], data: str, results: str, report: str,
                   figures: str | None, with_photos: bool = False, kid: bool = True) -> None:
    mixers = [KittenMixer.load(run) for run in runs]
    test = training_splits(mixers[0].config, data, mixers[0].image_size)["test"]
    features = real = None
    if kid:
        from kitten_mixer.evaluation.features import efficientnet_features

        features = efficientnet_features()
        real = features(test.images.float() / 255)  # once for every model
    for run, mixer in zip(runs, mixers):
        sampler = evaluation.sampler_for(mixer)
        kittens = sampler.sample(KITTENS, seed=0) if sampler is not None else None
        result = evaluation.evaluate_model(mixer, test.images, features, real,
                                           kittens=kittens)
        record = reports.run_record(Path(run).name, mixer, result)
        print(f"{Path(run).name}: PSNR {result.psnr:.2f} dB, SSIM {result.ssim:.3f}, "
              f"sharpness {result.sharpness:.2f}, KID mixes {result.kid_mixes}", flush=True)
        reports.write_record(results, record)
    reports.update_report(report, reports.read_records(results))
    if figures:
        Path(figures).mkdir(parents=True, exist_ok=True)
        rows = test.images[torch.tensor(evaluation.random_pairs(4, len(test), seed=1)).flatten()]
        evaluation.reconstruction_grid(mixers, rows, with_photos).save(
            Path(figures) / "reconstructions.png")
        pairs = evaluation.random_pairs(8, len(test), seed=2)
        evaluation.interpolation_grid(mixers, test.images, pairs[:1]).save(
            Path(figures) / "interpolations.png")
        evaluation.interpolation_grid(mixers, test.images, pairs).save(
            Path(figures) / "morphs.png")
        # Large enough to see fur: 16 faces 3 times larger, and the 8 morphs in 7 steps twice
        # as large (a few MB of PNG for two models).
        rows = test.images[torch.tensor(evaluation.random_pairs(8, len(test), seed=1)).flatten()]
        evaluation.reconstruction_grid(mixers, rows, with_photos, zoom=3).save(
            Path(figures) / "reconstructions-large.png")
        evaluation.interpolation_grid(mixers, test.images, pairs, steps=7, zoom=2).save(
            Path(figures) / "morphs-large.png")
    print(f"wrote {results}/ and {report}")


def _evaluate(args: argparse.Namespace) -> None:
    _evaluate_runs(args.runs, args.data, args.results, args.report, args.figures,
                   args.with_photos, not args.no_kid)


def _sweep(args: argparse.Namespace) -> None:
    names = [p.strip() for p in args.presets.split(",") if p.strip()]
    unknown = [p for p in names if p not in PRESETS]
    if unknown:
        raise KittenMixerError(f"unknown presets {unknown}; choose from {sorted(PRESETS)}")
    runs = []
    for name in names:
        out = Path(args.out) / name
        print(f"== {name}", flush=True)
        run_experiment(replace(PRESETS[name], epochs=args.epochs), args.data, out,
                       device=args.device, resume=True)
        runs.append(str(out))
    _evaluate_runs(runs, args.data, args.results, args.report, args.figures)


def _ship(args: argparse.Namespace) -> None:
    ship_model(args.run, args.data, args.out, args.label)
    print(f"shipped {args.run} to {args.out}")


def _genes(args: argparse.Namespace) -> None:
    genes = write_model_genes(args.model, args.data, args.n)
    spreads = ", ".join(f"{float(s):.2f}" for s in genes.spread)
    print(f"wrote {ModelFolder(args.model).genes} ({len(genes)} genes; spreads {spreads})")


def _train_faces(args: argparse.Namespace) -> None:
    from kitten_mixer.imagenet import imagenet_network
    from kitten_mixer.training.face_finder import train_finder  # only this command trains it

    if Path(args.out).suffix != ".safetensors":
        raise KittenMixerError(f"{args.out}: the finder's weights go in a .safetensors file")
    for source in (args.faces, args.photos):
        if not Path(source).exists():
            raise KittenMixerError(f"{source}: no such file or folder")
    imagenet_network("lite1")  # the last check's filters: without them, fail now, not in an hour
    train_finder(args.faces, args.photos, args.boxes, args.out, seed=args.seed)
    print(f"saved face finder: {args.out} (load it with FaceFinder.load({args.out!r}))")


def _explore(args: argparse.Namespace) -> None:
    print(f"wrote {explore(args.data, args.out)}")


def _app(args: argparse.Namespace) -> int:
    from kitten_mixer.webapp.launch import run_app  # Streamlit loads only for this command

    read_config(args.model or DEFAULT_MODEL)  # not a model: fails here, not on the page
    return run_app(args.port, args.gallery, args.model, data_dir=args.data_dir, db=args.db)


def _error(message: str) -> int:
    """Print `message` as one line on stderr; the exit status of a command given bad input."""
    print(f"kitten-mixer: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Run one command. Bad input ends in one line on stderr; a bug keeps its traceback."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    try:
        status = args.handler(args)
    except KittenMixerError as e:
        return _error(str(e))
    except OSError as e:  # unreadable inputs, unwritable outputs, a full disk
        return _error(inputs.os_error_message(e))
    except KeyboardInterrupt:
        kept = "; the last checkpoint is kept" if args.command in ("train", "sweep") else ""
        print(f"kitten-mixer: interrupted{kept}", file=sys.stderr)
        return 130
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
