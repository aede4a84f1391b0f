"""Print the adversarial stage's ablation table of docs/experiments.md (section 4, sharp cats).

Its rows come from the records `kitten-mixer evaluate` writes: the shipped weights measured
again with every column (experiments/shipped/default.json) and the fine-tuned runs
(experiments/gan-*.json). Each run's sharpness and KID are also given as a ratio to the
shipped model's, the form the sharp-cats goals take (KID at most a third, sharpness at least
0.5 of the photos').

    kitten-mixer evaluate src/kitten_mixer/weights/default --data ../shared/data/cats.zip \\
        --results experiments/shipped --report /tmp/shipped.md
    python scripts/sharp_numbers.py
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

from kitten_mixer.evaluation.records import read_records

RECIPE = "gan-decoder"  # the run the others each change one setting of

COLUMNS = [("PSNR", "psnr", "{:.2f}"), ("SSIM", "ssim", "{:.3f}"),
           ("sharpness", "sharpness", "{:.3f}"),
           ("arc-mix sharpness", "mix_sharpness_slerp", "{:.3f}"),
           ("kitten sharpness", "kitten_sharpness", "{:.3f}"),
           ("KID recon", "kid_reconstructions", "{:.3f}"),
           ("KID arc mixes", "kid_mixes_slerp", "{:.3f}"),
           ("KID line mixes", "kid_mixes", "{:.3f}"),
           ("KID kittens", "kid_kittens", "{:.3f}"),
           ("smoothness", "smoothness", "{:.2f}")]


def cell(value: float | None, form: str, base: float | None) -> str:
    if value is None:
        return "-"
    text = form.format(value)
    return f"{text} ({value / base:.2f}x)" if base else text


def minutes(record: dict[str, Any], history: Path | None) -> str:
    """The stage's training time: its median epoch times its epochs (epochs that shared the
    CPU with an evaluation are not counted against it)."""
    train = record["training"]
    if history is not None and history.is_file():
        seconds = [float(line.split(",")[7]) for line in history.read_text().splitlines()[1:]]
        return f"{statistics.median(seconds) * len(seconds) / 60:.1f}"
    return f"{train['seconds'] / 60:.1f}" if train.get("seconds") else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=Path, default=Path("experiments"))
    parser.add_argument("--runs", type=Path, help="the run folders, for their epoch times")
    args = parser.parse_args()
    shipped = json.loads((args.records / "shipped" / "default.json").read_text())
    runs = sorted((r for r in read_records(args.records) if r["name"].startswith("gan-")),
                  key=lambda r: (r["name"] != RECIPE, r["name"]))
    base = shipped["test"]
    print("| model | adversarial settings | " + " | ".join(c[0] for c in COLUMNS)
          + " | minutes |")
    print("|---|---|" + "---|" * len(COLUMNS) + "---|")
    print("| shipped | - | " + " | ".join(cell(base.get(k), f, None) for _, k, f in COLUMNS)
          + " | - |")
    recipe = next((r["experiment"]["adversarial"] for r in runs if r["name"] == RECIPE), {})
    for record in runs:
        settings = record["experiment"]["adversarial"]
        changed = ", ".join(f"{k} {v}" for k, v in settings.items()
                            if v != recipe.get(k)) or "the recipe"
        ratio = {"sharpness", "mix_sharpness_slerp", "kitten_sharpness", "kid_reconstructions",
                 "kid_mixes_slerp", "kid_mixes", "kid_kittens"}
        cells = [cell(record["test"].get(k), f, base.get(k) if k in ratio else None)
                 for _, k, f in COLUMNS]
        history = args.runs / record["name"] / "history.csv" if args.runs else None
        print(f"| {record['name']} | {changed} | "
              + " | ".join(cells) + f" | {minutes(record, history)} |")


if __name__ == "__main__":
    main()
