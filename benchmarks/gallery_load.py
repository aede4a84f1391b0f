"""Gallery load: how long the app takes to load a folder or zip of photos as its gallery.

`kitten-mixer app --gallery PATH` reads every photo once per server: whole-scene photos are
cropped around their cat's face, each face is encoded, and the map is computed. This times
that load (core.load_resources) on one torch thread, as the app runs.

    python benchmarks/gallery_load.py [--gallery ../shared/data/photos.zip] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from common import prepare_threads

from kitten_mixer.webapp.core import load_resources

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gallery", type=Path, default=REPO.parent / "shared/data/photos.zip")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    prepare_threads(1, "slower")
    seconds = []
    for _ in range(args.repeat):
        began = time.perf_counter()
        resources = load_resources(gallery=args.gallery)
        seconds.append(time.perf_counter() - began)
    print(f"{len(resources.cats)} cats from {args.gallery.name}: median "
          f"{statistics.median(seconds):.1f} s over {args.repeat} loads "
          f"({', '.join(f'{s:.1f}' for s in seconds)} s)")
    print(f"README: the {len(resources.cats)} scene photos of `{args.gallery.name}` take "
          f"{statistics.median(seconds):.1f} s to load, once per server.")


if __name__ == "__main__":
    main()
