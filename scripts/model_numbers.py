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


def training_minutes(ours: dict[str, Any], records: list[dict[str, Any]],
                     shipped_records: Path) -> tuple[float, str]:
    """The shipped model's training minutes as recorded, and how they add up. A model
    fine-tuned from another (`init`, a shipped-form folder such as runs/resize-base) adds the
    time of the run that folder was shipped from, found through its record in `shipped_records`
    (experiments/records/shipped/<folder name>.json)."""
    stage = ours["training"]["seconds"] / 60
    init = ours["experiment"].get("init")
    if not init:
        return stage, f"{ours['training']['epochs_trained']} epochs"
    base_file = shipped_records / f"{Path(init).name}.json"
    if not base_file.is_file():
        sys.exit(f"{ours['name']} was fine-tuned from {init}: its record {base_file} is missing")
    base = shipped_record(records, json.loads(base_file.read_text()))
    minutes = base["training"]["seconds"] / 60
    return minutes + stage, (f"{minutes:.0f} for the base model {base['name']}, "
                             f"{base['training']['epochs_trained']} epochs, and {stage:.0f} for "
                             f"{ours['training']['epochs_trained']} epochs of fine-tuning")


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
          f"cats by KID; trained in {minutes:.0f} minutes as recorded "
          f"({parts}, {ours['training']['hardware']})")
    print("README, the arc and the line:")
    print(f"  halfway mixes keep {t['mix_sharpness'] / t['sharpness']:.0%} of its "
          f"reconstructions' sharpness on the line, "
          f"{t['mix_sharpness_slerp'] / t['sharpness']:.0%} on the arc")
    print("\nmodel card, metrics:")
    rows = [("PSNR", "psnr", "{:.2f} dB"), ("SSIM", "ssim", "{:.3f}"),
            ("sharpness (Laplacian variance vs photos)", "sharpness", "{:.2f}"),
            ("KID, reconstructions", "kid_reconstructions", "{:.3f}"),
            ("KID, 50/50 mixes of random pairs, straight line", "kid_mixes", "{:.3f}"),
            ("KID, 50/50 mixes, arc (the default)", "kid_mixes_slerp", "{:.3f}"),
            ("KL", "kl", "{:,.0f} nats"),
            ("morph smoothness (max / mean step, straight line)", "smoothness", "{:.2f}")]
    for label, key, form in rows:
        print(f"| {label} | {form.format(t[key])} | {form.format(b[key])} |")


if __name__ == "__main__":
    main()
