"""Print the adversarial stage's ablation tables (docs/archive/experiments.md, section 4).

Its rows come from the records `kitten-mixer evaluate` writes: w48, the model shipped when
the sharp-cats goals were set, measured with every column
(experiments/records/shipped/w48.json), the fine-tunes of w48's decoder
(experiments/records/gan-*.json), and a base model with a resize-convolution decoder
(experiments/records/shipped/resize-base.json, as `kitten-mixer ship` made it) and its
adversarial stages (experiments/records/resize-gan*.json), and short stages started from the
model shipped then (experiments/records/shipped-*.json). Each run's sharpness and KID
are also given as a ratio to w48's, the form the sharp-cats goals take (KID at most a third,
sharpness at least 0.5 of the photos'); with --runs, the minutes come from the runs' epoch
times, and each resize stage's whole recipe (base and stage) is added up. A run trained on one
thread (two runs at once on the two cores), or stopped before its last epoch, says so beside
its minutes, which then count for no recipe.

    python scripts/sharp_numbers.py [--runs runs]

w48's record is what `kitten-mixer evaluate src/kitten_mixer/weights/default --results
experiments/records/shipped` wrote while w48 was the default model (default.json, renamed when the
next model shipped).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path
from typing import Any

from kitten_mixer.evaluation.records import read_records
from kitten_mixer.model import REMOVED_OPTIONS as REMOVED_MODEL_OPTIONS
from kitten_mixer.model import VAEConfig
from kitten_mixer.storage import read_history
from kitten_mixer.training.adversarial import REMOVED_OPTIONS, AdversarialConfig

REFERENCE = "w48"  # the model the sharp-cats goals are measured against, shipped until 4.4
RECIPE = "gan-decoder"  # the run the others each change one setting of
# The base model with a resize-convolution decoder, measured as shipped (with the sampler the
# kittens' KID needs: experiments/records/shipped/resize-base.json), and the run it was shipped
# from.
RESIZE_BASE = "resize-base"
RESIZE_BASE_RUN = "resize-200ep"
RESIZE_RECIPE = "resize-gan"  # the recipe's stage on that base
# The model the short stages started from, shipped until the perceptual stage replaced it
# (experiments/records/shipped/resize-gan-r1-refine16.json: its default.json of that time).
STAGES_FROM = "resize-gan-r1-refine16"
SHIPPED = "default"  # the model shipped now (experiments/records/shipped/default.json)

COLUMNS = [("PSNR", "psnr", "{:.2f}"), ("SSIM", "ssim", "{:.3f}"),
           ("sharpness", "sharpness", "{:.3f}"),
           ("arc-mix sharpness", "mix_sharpness_slerp", "{:.3f}"),
           ("kitten sharpness", "kitten_sharpness", "{:.3f}"),
           ("KID recon", "kid_reconstructions", "{:.3f}"),
           ("KID arc mixes", "kid_mixes_slerp", "{:.3f}"),
           ("KID line mixes", "kid_mixes", "{:.3f}"),
           ("KID kittens", "kid_kittens", "{:.3f}"),
           ("checkerboard", "checkerboard", "{:.2f}"),
           ("smoothness", "smoothness", "{:.2f}")]


def cell(value: float | None, form: str, base: float | None) -> str:
    if value is None:
        return "-"
    text = form.format(value)
    return f"{text} ({value / base:.2f}x)" if base else text


def minutes(record: dict[str, Any], history: Path | None) -> float:
    """A run's training time: its median epoch times its epochs (epochs that shared the CPU
    with an evaluation are not counted against it), from its history when there is one, else
    from its record; NaN when unknown."""
    train = record["training"]
    seconds = [row["seconds"] for row in read_history(history)] \
        if history is not None and history.is_file() else []
    if seconds:
        return statistics.median(seconds) * len(seconds) / 60
    return train["seconds"] / 60 if train.get("seconds") else float("nan")


def table(records: list[dict[str, Any]], base: dict[str, Any], recipe_name: str,
          runs: Path | None) -> dict[str, float]:
    """Print one table: the reference model's row, then each run's (a base model first, then the
    recipe, then the runs that change it); return each run's minutes."""
    records = sorted(records, key=lambda r: (r["experiment"].get("adversarial") is not None,
                                             r["name"] != recipe_name, r["name"]))
    print("| model | changed from the recipe | " + " | ".join(c[0] for c in COLUMNS)
          + " | minutes |")
    print("|---|---|" + "---|" * len(COLUMNS) + "---|")
    print(f"| {REFERENCE} | - | " + " | ".join(cell(base.get(k), f, None) for _, k, f in COLUMNS)
          + " | - |")
    # The recipe's settings; those its record predates are at their defaults, and options
    # since removed (docs/removed-options.md) at their old defaults.
    experiment = next((r["experiment"] for r in records if r["name"] == recipe_name), {})
    recipe = AdversarialConfig().to_dict() | REMOVED_OPTIONS | experiment.get("adversarial", {})
    architecture = VAEConfig().to_dict() | REMOVED_MODEL_OPTIONS | experiment.get("model", {})
    ratio = {"sharpness", "mix_sharpness_slerp", "kitten_sharpness", "kid_reconstructions",
             "kid_mixes_slerp", "kid_mixes", "kid_kittens"}
    spent = {}
    for record in records:
        settings = record["experiment"].get("adversarial")
        model = VAEConfig().to_dict() | REMOVED_MODEL_OPTIONS \
            | record["experiment"].get("model", {})
        seed = record["experiment"].get("seed", 0)
        changed = "none: the base model" if settings is None else ", ".join(
            [f"{k} {v}" for k, v in model.items() if v != architecture[k]]
            + [f"{k} {v}" for k, v in settings.items() if v != recipe.get(k)]
            + ([f"seed {seed}"] if seed != experiment.get("seed", 0) else [])) or "the recipe"
        cells = [cell(record["test"].get(k), f, base.get(k) if k in ratio else None)
                 for _, k, f in COLUMNS]
        run = RESIZE_BASE_RUN if record["name"] == RESIZE_BASE else record["name"]
        history = runs / run / "history.csv" if runs else None
        taken = minutes(record, history)
        one_thread = record["training"].get("threads") == 1  # two runs at once, a core each
        done, planned = record["training"].get("epochs_trained"), record["experiment"]["epochs"]
        stopped = done is not None and done < planned  # stopped by hand, as hopeless
        note = " (1 thread)" if one_thread else f" (stopped at epoch {done} of {planned})" \
            if stopped else ""
        spent_text = "-" if math.isnan(taken) else f"{taken:.1f}{note}"
        print(f"| {record['name']} | {changed} | " + " | ".join(cells) + f" | {spent_text} |")
        if not one_thread and not stopped:  # their minutes say nothing of a recipe's time
            spent[record["name"]] = taken
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=Path, default=Path("experiments/records"))
    parser.add_argument("--runs", type=Path, help="the run folders, for their epoch times")
    args = parser.parse_args()
    reference = json.loads((args.records / "shipped" / f"{REFERENCE}.json").read_text())
    records = read_records(args.records)
    base = reference["test"]
    print(f"Fine-tunes of {REFERENCE}'s decoder (stride-2 transposed convolutions):\n")
    table([r for r in records if r["name"].startswith("gan-")], base, RECIPE, args.runs)
    resize = [r for r in records if r["name"].startswith("resize-gan")]
    base_record = args.records / "shipped" / f"{RESIZE_BASE}.json"
    if resize and base_record.is_file():
        resize.append(json.loads(base_record.read_text()))
        print("\nA new base model whose decoder upsamples by resize-convolution, and its "
              "stages:\n")
        spent = table(resize, base, RESIZE_RECIPE, args.runs)
        for name, stage in spent.items():
            if name != RESIZE_BASE and RESIZE_BASE in spent:
                print(f"\n{name}: the whole recipe takes {spent[RESIZE_BASE]:.1f} minutes of "
                      f"base training and {stage:.1f} of adversarial stage: "
                      f"{spent[RESIZE_BASE] + stage:.1f} minutes", end="")
        print()
    shipped = [r for r in records if r["name"].startswith("shipped-")]
    shipped_record = args.records / "shipped" / f"{STAGES_FROM}.json"
    if shipped and shipped_record.is_file():
        shipped.append(json.loads(shipped_record.read_text()))
        print(f"\nShort stages started from the model then shipped ({STAGES_FROM}, whose own "
              f"stage is the recipe they change), minutes on this session's machine:\n")
        table(shipped, base, STAGES_FROM, args.runs)
    now = args.records / "shipped" / f"{SHIPPED}.json"
    if now.is_file():
        print(f"\nThe model shipped now ({SHIPPED}), as the sharp-cats goals measure it (its arc "
              "bends about its cats' centre, as the package's; w48's record, about the "
              "origin, as the goals were set):\n")
        table([json.loads(now.read_text())], base, SHIPPED, args.runs)


if __name__ == "__main__":
    main()
