"""Face finders against hand-labelled cat faces: how many they find, how often their first box is
right, how many false boxes they give, and how fast, on the development and the test photos.

For every labelled photo it runs each finder on the photo's bytes (decoding included), on one
thread, and prints a markdown table, one row per finder and photo set:

  recall             labelled faces matched by a returned box (IoU >= 0.5), also split by the
                     face's size (its box's side over the photo's longest side: small < 0.2,
                     large >= 0.4) and by pose (frontal, or turned or tilted: face_poses.json)
  first box right    photos whose first box matches a labelled face, over the photos that have
                     a labelled face and got a box
  false boxes        returned boxes that match no labelled face, per photo
  ms                 median and p90 wall time per photo

    python benchmarks/face_finder.py                  # dev (photos 1-150) and test (151-200)
    python benchmarks/face_finder.py --sets held-out test --misses

Finders: the plain cascades (OpenCV's defaults on the full-size grey photo), the tuned cascades
that were the finder until the learned one (benchmarks/cascades.py), and the learned one.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import torch
from cascades import CASCADE_FILES, find_with_cascades

from kitten_mixer.faces import find_cat_faces
from kitten_mixer.images import open_photo

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "data" / "photos.zip"
SETS = {"dev": REPO / "labels" / "face_boxes.json",
        "test": REPO / "labels" / "face_boxes_test.json"}
# Training learns real faces from every other development photo
# (kitten_mixer.training.face_finder): the others are reported on their own too, as photos whose
# faces were not learned from.
HELD_OUT = "dev, faces not learned"
POSES = REPO / "labels" / "face_poses.json"
SIZES = (("small", 0.0, 0.2), ("medium", 0.2, 0.4), ("large", 0.4, 9.0))
Box = tuple[int, int, int, int]
Finder = Callable[[bytes], list[Box]]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def plain_cascades() -> Finder:
    """Both cascades with OpenCV's defaults on the full-size grey photo."""
    cascades = [cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, f))
                for f in CASCADE_FILES]

    def find(photo: bytes) -> list[Box]:
        grey = np.asarray(open_photo(photo, reduce_to=None).convert("L"))
        return [(int(x), int(y), int(x + w), int(y + h))
                for cascade in cascades for x, y, w, h in cascade.detectMultiScale(grey)]
    return find


def run(finder: Finder, photos: dict[str, bytes]) -> tuple[dict[str, list[Box]], list[float]]:
    """Boxes per photo, and milliseconds per photo."""
    finder(next(iter(photos.values())))  # load weights and cascades outside the timing
    found, ms = {}, []
    for name, data in photos.items():
        began = time.perf_counter()
        found[name] = [tuple(b[:4]) for b in finder(data)]
        ms.append((time.perf_counter() - began) * 1000)
    return found, ms


def face_groups(labels: dict[str, list[Box]], poses: dict[str, list[str]],
                sides: dict[str, float]) -> dict[str, list[tuple[str, int]]]:
    """The labelled faces (photo, index) of each size and pose group."""
    groups: dict[str, list[tuple[str, int]]] = {g: [] for g, *_ in SIZES}
    groups.update({"frontal": [], "turned/tilted": []})
    for name, boxes in labels.items():
        for i, (x0, y0, x1, y1) in enumerate(boxes):
            share = np.sqrt((x1 - x0) * (y1 - y0)) / sides[name]
            groups[next(g for g, lo, hi in SIZES if lo <= share < hi)].append((name, i))
            groups["frontal" if poses[name][i] == "frontal" else "turned/tilted"].append((name, i))
    return groups


def score(labels: dict[str, list[Box]], found: dict[str, list[Box]],
          groups: dict[str, list[tuple[str, int]]]) -> dict[str, str]:
    """The table's cells for one finder on one photo set."""
    def hit(name: str, i: int) -> bool:
        return any(iou(labels[name][i], g) >= 0.5 for g in found[name])

    def share(faces: list[tuple[str, int]]) -> str:
        got = sum(hit(*face) for face in faces)
        return f"{got / max(len(faces), 1):.2f} ({got}/{len(faces)})"

    everyone = [(name, i) for name, boxes in labels.items() for i in range(len(boxes))]
    tried = [name for name, boxes in labels.items() if boxes and found[name]]
    right = sum(any(iou(b, found[name][0]) >= 0.5 for b in labels[name]) for name in tried)
    false = sum(all(iou(b, g) < 0.5 for b in labels[name]) for name in labels
                for g in found[name])
    cells = {"recall": share(everyone)}
    cells.update({group: share(faces) for group, faces in groups.items()})
    cells["first box right"] = f"{right / max(len(tried), 1):.2f} ({right}/{len(tried)})"
    cells["false boxes / photo"] = f"{false / len(labels):.2f}"
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=Path, default=PHOTOS, help="zip of photos")
    parser.add_argument("--sets", nargs="+", default=["dev", "test"],
                        choices=["dev", "held-out", "test"],
                        help="held-out: the development photos whose faces were not learned")
    parser.add_argument("--misses", action="store_true", help="list photos with a missed face")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    if (busy := os.getloadavg()[0]) > 1.0:
        print(f"note: load average {busy:.1f} on {os.cpu_count()} cores: timings are slower "
              "than on an idle machine")
    poses = json.loads(POSES.read_text())
    finders = {"plain cascades": plain_cascades(), "tuned cascades (until now)": find_with_cascades,
               "learned": find_cat_faces}
    header = None
    rows = []
    for set_name in args.sets:
        path = SETS["dev" if set_name == "held-out" else set_name]
        labels = {name: [tuple(b) for b in boxes]
                  for name, boxes in json.loads(path.read_text()).items()}
        if set_name == "held-out":
            set_name, labels = HELD_OUT, dict(list(labels.items())[1::2])
        with zipfile.ZipFile(args.photos) as archive:
            photos = {name: archive.read(name) for name in labels}
        sides = {name: max(open_photo(data, reduce_to=None).size) for name, data in photos.items()}
        groups = face_groups(labels, poses, sides)
        faces = sum(len(b) for b in labels.values())
        print(f"{set_name}: {len(labels)} photos, {faces} faces, "
              f"{sum(not b for b in labels.values())} photos with no frontal face")
        for title, finder in finders.items():
            found, ms = run(finder, photos)
            cells = score(labels, found, groups)
            cells["ms p50 / p90"] = f"{np.median(ms):.0f} / {np.percentile(ms, 90):.0f}"
            header = header or ["photos", "finder", *cells]
            rows.append([set_name, title, *cells.values()])
            if args.misses:
                missed = [name for name, boxes in labels.items()
                          if any(all(iou(b, g) < 0.5 for g in found[name]) for b in boxes)]
                print(f"  {title} missed a face in:", " ".join(missed) or "none")
    print()
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
