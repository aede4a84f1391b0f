"""Kitten store speed: the server time of one keep, one get and one nursery page, one visitor
at a time (no other load), on SQLite and, given a URL, on PostgreSQL.

Each kitten is what the app keeps: a 500-value code (the shipped model's), two parents, two
gene values and a 64x64 PNG of a face (about 10 KB). The store is filled with --count kittens
first, a third of them public, so the nursery's pages are real queries. Goal: a keep under
20 ms.

    python benchmarks/store_speed.py [--count 300] [--db postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from conftest import kitten_png  # noqa: E402 (the tests' generated faces)

from kitten_mixer.store import KittenStore, Parent  # noqa: E402


class Clock:
    """Two seconds between keeps: one visitor keeps all, within the rate limit."""

    def __init__(self):
        self.time = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        self.time += timedelta(seconds=2)
        return self.time


def timed(times: list[float], action, *args, **kwargs):
    began = time.perf_counter()
    result = action(*args, **kwargs)
    times.append((time.perf_counter() - began) * 1000)
    return result


def measure(store: KittenStore, count: int) -> dict[str, list[float]]:
    pictures = [kitten_png(i) for i in range(20)]
    times: dict[str, list[float]] = {"keep": [], "get": [], "nursery page": [],
                                     "nursery page, most bred": []}
    ids = []
    for i in range(count):
        parents = [Parent("gallery", "7078", 0.6),
                   Parent("kitten", ids[-1], 0.4) if ids else Parent("upload", "", 0.4)]
        code = torch.randn(500)
        kitten = timed(times["keep"], store.keep, "benchmark-visitor", code, parents,
                       {0: 0.5, 3: -1.2}, "blake2b:benchmark", pictures[i % len(pictures)],
                       public=i % 3 == 0)
        ids.append(kitten.id)
    rng = np.random.default_rng(0)
    for i in range(count):
        timed(times["get"], store.get, ids[rng.integers(len(ids))])
        if i < 100:
            timed(times["nursery page"], store.nursery, page=i % 5)
            timed(times["nursery page, most bred"], store.nursery, "most_bred", page=i % 5)
    return times


def report(name: str, times: dict[str, list[float]]) -> None:
    print(f"{name}:")
    for action, values in times.items():
        p90 = float(np.percentile(values, 90))
        print(f"  {action:<24} median {statistics.median(values):6.2f} ms, "
              f"p90 {p90:6.2f} ms ({len(values)} times)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=300, help="kittens to keep (default: 300)")
    parser.add_argument("--db", help="also a PostgreSQL store's URL (an empty database)")
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as folder:
        with KittenStore.open(folder=folder, clock=Clock()) as store:
            report(f"SQLite ({store.url}, WAL, synchronous=FULL)", measure(store, args.count))
    if args.db:
        with KittenStore.open(args.db, clock=Clock()) as store:
            report(f"PostgreSQL ({store.url})", measure(store, args.count))


if __name__ == "__main__":
    main()
