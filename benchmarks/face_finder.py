"""Face finder: how many hand-labelled cat faces `find_cat_faces` finds, and how fast.

For every photo labelled in benchmarks/face_boxes.json it runs the finder on the photo's bytes
(decoding included) and reports:

  recall               labelled faces matched by any returned box (IoU >= 0.5)
  first-box precision  photos whose first box matches a labelled face, over the photos that have
                       a labelled face and got a box
  boxes on no-face     photos labelled with no frontal face that still got a box
  ms per photo         median and p90 wall time (and CPU time, which load on the machine affects
                       less)

    python benchmarks/face_finder.py                    # ../shared/data/photos.zip
    python benchmarks/face_finder.py --baseline         # also the plain cascades, for comparison
    python benchmarks/face_finder.py --photos photos.zip --boxes my_boxes.json --misses

--baseline also runs both cascades with OpenCV's defaults (scale step 1.1, 3 neighbours) on the
full-size grey photo, first cascade's boxes first.
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

from kitten_mixer.faces import CASCADE_FILES, find_cat_faces
from kitten_mixer.images import open_photo

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "data" / "photos.zip"
BOXES = REPO / "benchmarks" / "face_boxes.json"
Box = tuple[int, int, int, int]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def score(labels: dict[str, list[Box]], found: dict[str, list[Box]]) -> dict[str, float]:
    """Recall, first-box precision and boxes on no-face photos of `found` against `labels`."""
    faces = matched = first_right = first_tried = no_face = no_face_boxed = 0
    for name, boxes in labels.items():
        got = found[name]
        faces += len(boxes)
        matched += sum(any(iou(b, g) >= 0.5 for g in got) for b in boxes)
        if boxes and got:
            first_tried += 1
            first_right += any(iou(b, got[0]) >= 0.5 for b in boxes)
        if not boxes:
            no_face += 1
            no_face_boxed += bool(got)
    return {"faces": faces, "matched": matched, "recall": matched / max(faces, 1),
            "first_right": first_right, "first_tried": first_tried,
            "first_precision": first_right / max(first_tried, 1),
            "no_face": no_face, "no_face_boxed": no_face_boxed}


def baseline_finder() -> Callable[[bytes], list[Box]]:
    """Both cascades with OpenCV's defaults on the full-size grey photo."""
    cascades = [cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, f))
                for f in CASCADE_FILES]

    def find(photo: bytes) -> list[Box]:
        grey = np.asarray(open_photo(photo, reduce_to=None).convert("L"))
        return [(int(x), int(y), int(x + w), int(y + h))
                for cascade in cascades for x, y, w, h in cascade.detectMultiScale(grey)]
    return find


def run(finder: Callable[[bytes], list[Box]], photos: dict[str, bytes],
        repeats: int) -> tuple[dict[str, list[Box]], list[float], list[float]]:
    """Boxes per photo, and the best-of-`repeats` wall and CPU milliseconds per photo."""
    found, wall, cpu = {}, [], []
    for name, data in photos.items():
        best_wall = best_cpu = float("inf")
        for _ in range(repeats):
            began, began_cpu = time.perf_counter(), time.process_time()
            found[name] = [tuple(b) for b in finder(data)]
            best_wall = min(best_wall, time.perf_counter() - began)
            best_cpu = min(best_cpu, time.process_time() - began_cpu)
        wall.append(best_wall * 1000)
        cpu.append(best_cpu * 1000)
    return found, wall, cpu


def report(title: str, result: dict[str, float], wall: list[float], cpu: list[float]) -> None:
    print(f"{title}:\n"
          f"  recall               {result['recall']:.3f}"
          f"  ({result['matched']}/{result['faces']} faces)\n"
          f"  first-box precision  {result['first_precision']:.3f}"
          f"  ({result['first_right']}/{result['first_tried']} photos)\n"
          f"  boxes on no-face     {result['no_face_boxed']}/{result['no_face']} photos\n"
          f"  ms per photo         median {np.median(wall):.0f}, p90 "
          f"{np.percentile(wall, 90):.0f}  (CPU median {np.median(cpu):.0f}, "
          f"p90 {np.percentile(cpu, 90):.0f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=Path, default=PHOTOS, help="zip of photos")
    parser.add_argument("--boxes", type=Path, default=BOXES, help="hand-labelled face boxes")
    parser.add_argument("--baseline", action="store_true",
                        help="also time the plain cascades with OpenCV's defaults")
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs per photo; the fastest counts (default: 1)")
    parser.add_argument("--misses", action="store_true", help="list photos with a missed face")
    args = parser.parse_args()

    labels = {name: [tuple(b) for b in boxes]
              for name, boxes in json.loads(args.boxes.read_text()).items()}
    with zipfile.ZipFile(args.photos) as archive:
        photos = {name: archive.read(name) for name in labels}
    count = sum(len(b) for b in labels.values())
    print(f"{len(labels)} labelled photos, {count} faces, "
          f"{sum(not b for b in labels.values())} photos with no frontal face "
          f"(OpenCV {cv2.__version__}, {cv2.getNumThreads()} threads)")
    if (busy := os.getloadavg()[0]) > 0.5:
        print(f"warning: load average {busy:.1f}: timings will be slower than on an idle machine")

    finders = {"find_cat_faces": find_cat_faces}
    if args.baseline:
        finders = {"baseline (plain cascades, OpenCV defaults)": baseline_finder(), **finders}
    for title, finder in finders.items():
        finder(next(iter(photos.values())))  # load the cascades outside the timing
        found, wall, cpu = run(finder, photos, args.repeats)
        report(title, score(labels, found), wall, cpu)
        if args.misses:
            missed = [name for name, boxes in labels.items()
                      if any(all(iou(b, g) < 0.5 for g in found[name]) for b in boxes)]
            print("  missed a face in:", " ".join(missed) or "none")


if __name__ == "__main__":
    main()
