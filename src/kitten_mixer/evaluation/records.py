"""Experiment records: one JSON per evaluated run, and the markdown tables made from them.

`kitten-mixer evaluate RUN...` writes `experiments/records/<run>.json` (the run's config, data
fingerprint, training time and hardware, and every metric on the test split) and rewrites the
part of its `--report` file (`docs/results.md` by default, section "All evaluated runs")
between the result markers from all the records in its `--results` folder, so that the tables
can always be regenerated from the command line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kitten_mixer.evaluation.evaluate import Evaluation
from kitten_mixer.mixer import KittenMixer
from kitten_mixer.storage import RunFolder, read_history, write_json, write_text

START, END = "<!-- results:start -->", "<!-- results:end -->"


def run_record(name: str, mixer: KittenMixer, evaluation: Evaluation) -> dict[str, Any]:
    """Everything worth keeping about one evaluated run."""
    config = mixer.config
    rows = read_history(RunFolder(mixer.folder).history) if mixer.folder else []
    seconds = sum(r["seconds"] for r in rows) if rows else None
    epochs = len(rows) or None
    parameters = sum(p.numel() for p in mixer.model.parameters())
    return {"name": name, "architecture": config.get("architecture"),
            "experiment": config.get("experiment"), "data": config.get("data"),
            "training": {**config.get("training", {}), "epochs_trained": epochs,
                         "seconds": seconds, "best_epoch": config.get("metrics", {}).get("epoch")},
            "parameters": parameters, "test": evaluation.as_row()}


def write_record(folder: str | os.PathLike, record: dict[str, Any]) -> Path:
    path = Path(folder) / f"{record['name']}.json"
    write_json(path, record)
    return path


def read_records(folder: str | os.PathLike) -> list[dict[str, Any]]:
    """Every record in the folder, sorted by name."""
    return [json.loads(p.read_text()) for p in sorted(Path(folder).glob("*.json"))]


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) < 0.01 and value != 0:
            return f"{value:.4f}"
        return f"{value:.{digits}f}"
    return str(value)


def results_table(records: list[dict[str, Any]]) -> str:
    """The markdown tables: test-split metrics, then how each model was trained."""
    lines = ["| model | PSNR dB | SSIM | sharpness | mix sharpness (slerp) | KL nats "
             "| active units | smoothness | KID recon | KID mixes (slerp) | KID kittens |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        t = r["test"]
        lines.append(
            f"| {r['name']} | {_fmt(t['psnr'])} | {_fmt(t['ssim'], 3)} | {_fmt(t['sharpness'])} "
            f"| {_fmt(t['mix_sharpness'])} ({_fmt(t.get('mix_sharpness_slerp'))}) "
            f"| {_fmt(t['kl'], 0)} | {t['active_units']}/{t['latent_dims']} "
            f"| {_fmt(t['smoothness'])} | {_fmt(t['kid_reconstructions'], 4)} "
            f"| {_fmt(t['kid_mixes'], 4)} ({_fmt(t.get('kid_mixes_slerp'), 4)}) "
            f"| {_fmt(t.get('kid_kittens'), 4)} |")
    lines += ["", "| model | parameters | loss | beta | epochs (best) | training time "
              "| images/s | hardware |", "|---|---|---|---|---|---|---|---|"]
    for r in records:
        train = r["training"]
        loss = train.get("loss", {})
        seconds = train.get("seconds")
        rate = (train.get("epochs_trained") or 0) * (r["data"] or {}).get("splits", {}).get(
            "train", 0) / seconds if seconds else None
        hardware = f"{train.get('hardware', 'CPU')}, {train.get('threads', '?')} threads, " \
                   f"{train.get('precision', '?')}"
        lines.append(
            f"| {r['name']} | {r['parameters'] / 1e6:.2f} M | {loss.get('likelihood', '-')} "
            f"| {loss.get('beta', '-')} "
            f"| {train.get('epochs_trained')} ({train.get('best_epoch')}) "
            f"| {_fmt(seconds / 60 if seconds else None, 1)} min | {_fmt(rate, 0)} "
            f"| {hardware} |")
    return "\n".join(lines)


def update_report(report: str | os.PathLike, records: list[dict[str, Any]]) -> None:
    """Replace the tables between the result markers of `report` (created if missing)."""
    path = Path(report)
    text = path.read_text() if path.is_file() else f"# Experiments\n\n{START}\n{END}\n"
    if START not in text or END not in text:
        text += f"\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    write_text(path, f"{head}{START}\n{results_table(records)}\n{END}{tail}")
