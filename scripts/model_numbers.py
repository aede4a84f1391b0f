"""Print the shipped model's numbers as the README and the model card give them.

The numbers come from the records `kitten-mixer evaluate` writes (experiments/records/*.json): the
shipped model's record is the one whose experiment config and data fingerprint match
src/kitten_mixer/weights/default/config.json, compared with the original's v6. After shipping
a new model and evaluating it, run this and copy its lines into README.md and
docs/model-card.md.

    python scripts/model_numbers.py [--records experiments/records] [--baseline v6]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from kitten_mixer.evaluation.records import read_records
from kitten_mixer.mixer import DEFAULT_MODEL
from kitten_mixer.storage import read_config


def shipped_record(records: list[dict[str, Any]], shipped: dict[str, Any]) -> dict[str, Any]:
    """The record of the run the shipped model was made from."""
    for record in records:
        if record.get("experiment") == shipped.get("experiment") and \
                (record.get("data") or {}).get("fingerprint") == shipped["data"]["fingerprint"]:
            return record
    sys.exit("no record matches the shipped model: run `kitten-mixer evaluate` on its run")


# Runs trained from the package's default folder name the model shipped at the time; its
# record is kept under experiments/records/shipped/ by its run's name once another ships.
DEFAULT_FOLDER_WAS = {"src/kitten_mixer/weights/default": "resize-gan-r1-refine16"}


def init_record(init: str, records: list[dict[str, Any]],
                shipped_records: Path) -> dict[str, Any]:
    """The record of the run a model was fine-tuned from: `init` is a run folder (runs/NAME,
    whose record is NAME), a shipped-form folder (runs/resize-base, found through its record in
    experiments/records/shipped/resize-base.json) or the default folder of its day."""
    name = DEFAULT_FOLDER_WAS.get(init, Path(init).name)
    shipped_file = shipped_records / f"{name}.json"
    if shipped_file.is_file():
        return shipped_record(records, json.loads(shipped_file.read_text()))
    found = next((r for r in records if r["name"] == name), None)
    if found is None:
        sys.exit(f"a run was fine-tuned from {init}: no record {name} in the records "
                 f"or in {shipped_file}")
    return found


def training_minutes(ours: dict[str, Any], records: list[dict[str, Any]],
                     shipped_records: Path) -> tuple[float, str]:
    """The shipped model's training minutes as recorded on the CPU, and how they add up: its
    own, and those of every run it was fine-tuned from (`init`), in training order. A stage
    trained on a GPU is named with its minutes there, which the CPU total leaves out."""
    chain = [ours]
    while init := chain[-1]["experiment"].get("init"):
        chain.append(init_record(init, records, shipped_records))
    total, parts = 0.0, []
    for record in reversed(chain):
        train = record["training"]
        minutes = train["seconds"] / 60
        where = "" if train.get("device", "cpu") == "cpu" else f" on an {train['hardware']}"
        parts.append(f"{minutes:.0f} for {record['name']}, {train['epochs_trained']} "
                     f"epochs{where}")
        total += minutes if not where else 0.0
    return total, "; ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=Path, default=Path("experiments/records"))
    parser.add_argument("--baseline", default="v6", help="the record to compare with")
    args = parser.parse_args()
    records = read_records(args.records)
    ours = shipped_record(records, read_config(DEFAULT_MODEL))
    base = next((r for r in records if r["name"] == args.baseline), None)
    if base is None:
        sys.exit(f"no record named {args.baseline} in {args.records}")
    t, b = ours["test"], base["test"]
    kid_gain = 1 - t["kid_mixes"] / b["kid_mixes"]
    minutes, parts = training_minutes(ours, records, args.records / "shipped")

    print(f"shipped model: {ours['name']} ({ours['parameters']:,} parameters); "
          f"baseline: {base['name']}\n")
    print("README, the shipped model:")
    print(f"  {t['psnr']:.2f} dB PSNR against {b['psnr']:.2f} for {base['name']}, SSIM "
          f"{t['ssim']:.3f} against {b['ssim']:.3f}, and mixes {kid_gain:.0%} closer to real "
          f"cats by KID; trained in {minutes:.0f} minutes as recorded on the CPU "
          f"({ours['training']['hardware']}: {parts})")
    # The run's record bends arcs about the origin (a run has no genes); the package bends
    # them about its cats' centre, as measured on the shipped folder (shipped/default.json).
    arc = package_arc(args.records / "shipped" / "default.json", ours)
    print("README, the arc and the line:")
    print(f"  halfway mixes keep {t['mix_sharpness'] / t['sharpness']:.0%} of its "
          f"reconstructions' sharpness on the line, "
          f"{arc['mix_sharpness_slerp'] / t['sharpness']:.0%} on the arc about its cats' "
          f"centre (KID {arc['kid_mixes_slerp']:.3f}; {t['kid_mixes_slerp']:.3f} about the "
          f"origin)")
    print("\nmodel card, metrics:")
    rows = [("PSNR", "psnr", "{:.2f} dB"), ("SSIM", "ssim", "{:.3f}"),
            ("sharpness (Laplacian variance vs photos)", "sharpness", "{:.2f}"),
            ("KID, reconstructions", "kid_reconstructions", "{:.3f}"),
            ("KID, 50/50 mixes of random pairs, straight line", "kid_mixes", "{:.3f}"),
            ("KID, 50/50 mixes, arc about the origin", "kid_mixes_slerp", "{:.3f}"),
            ("KL", "kl", "{:,.0f} nats"),
            ("morph smoothness (max / mean step, straight line)", "smoothness", "{:.2f}")]
    for label, key, form in rows:
        print(f"| {label} | {form.format(t[key])} | {form.format(b[key])} |")
    # v6's run has no genes, so no centre to bend its arcs about.
    print(f"| KID, 50/50 mixes, arc about the cats' centre (the default) | "
          f"{arc['kid_mixes_slerp']:.3f} | - |")


def package_arc(record_file: Path, ours: dict[str, Any]) -> dict[str, Any]:
    """The test numbers of the shipped folder's record, whose arcs bend about the cats'
    centre as the package's do; it must be the shipped model's."""
    if not record_file.is_file():
        sys.exit(f"no {record_file}: evaluate the shipped folder (docs/results.md, Reproducing)")
    record = json.loads(record_file.read_text())
    if record.get("experiment") != ours.get("experiment"):
        sys.exit(f"{record_file} is not the shipped model's record: evaluate it again")
    return record["test"]


if __name__ == "__main__":
    main()
