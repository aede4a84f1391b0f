"""The app's upload step with the learned face finder and with the cascades it replaced: the
server time from an uploaded photo's bytes to its cat (find the face, crop it, encode it, draw
the preview), which is what an upload adds before the morph.

It reads the test photos of photos.zip (151-200) as the app receives them and calls the app's
own `read_upload` on one torch thread, as `kitten-mixer app` runs, once per finder per photo
(finders alternating, so that both see the same machine), and prints the median and p90 of
each and their ratio, and the median of the photos where no face is found (for those the
learned finder also guesses where a face would be, from the same pass):

    python benchmarks/upload_speed.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import zipfile
from pathlib import Path

from cascades import find_with_cascades
from common import prepare_threads

import kitten_mixer.faces as faces
from kitten_mixer.webapp.core import load_resources, read_upload

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "data" / "photos.zip"
TEST_BOXES = REPO / "labels" / "face_boxes_test.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="passes over the photos (default 2)")
    args = parser.parse_args()
    prepare_threads(1, "slower and noisier")
    resources = load_resources()
    with zipfile.ZipFile(PHOTOS) as archive:
        photos = [(name, archive.read(name)) for name in json.loads(TEST_BOXES.read_text())]
    learned = faces.look_for_cat_faces
    # What read_upload calls: the learned finder's boxes and, where it finds none, its guess
    # (where framing by hand starts), or the cascades' boxes alone, as the app had them.
    finders = {"learned finder": learned,
               "tuned cascades": lambda data, most: (find_with_cascades(data, most), None)}
    times: dict[str, list[float]] = {name: [] for name in finders}
    missed: dict[str, list[float]] = {name: [] for name in finders}
    read_upload(resources, *photos[0])  # first-call costs (weights, kernels) are not timed
    for _ in range(args.rounds):
        for name, data in photos:
            for finder_name, finder in finders.items():
                faces.look_for_cat_faces = finder
                began = time.perf_counter()
                upload = read_upload(resources, name, data)
                times[finder_name].append((time.perf_counter() - began) * 1000)
                assert upload.cat is not None, (name, upload.error)
                if upload.missed:
                    missed[finder_name].append(times[finder_name][-1])
    faces.look_for_cat_faces = learned
    print(f"{len(photos)} test photos x {args.rounds}, one torch thread, app's read_upload:")
    for finder_name, ms in times.items():
        p90 = statistics.quantiles(ms, n=10)[-1]
        print(f"  {finder_name}: median {statistics.median(ms):.0f} ms, p90 {p90:.0f} ms; "
              f"{len(missed[finder_name]) // args.rounds} photos with no face found, median "
              f"{statistics.median(missed[finder_name] or [0]):.0f} ms")
    ratio = statistics.median(times["learned finder"]) / statistics.median(times["tuned cascades"])
    print(f"learned / cascades (median): {ratio:.2f}x")


if __name__ == "__main__":
    main()
