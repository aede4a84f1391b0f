"""Face finders against hand-labelled cat faces and against pictures with no cat: how many faces
they find, how often their first box is right, how many false boxes they give, and how fast.

For every labelled photo it runs each finder on the photo's bytes (decoding included), on one
thread, and prints a markdown table, one row per finder and photo set:

  recall             labelled faces matched by a returned box (IoU >= 0.5) with its 95% Wilson
                     interval, also split by the face's size (its box's side over the photo's
                     longest side: small < 0.2, large >= 0.4) and by pose (frontal, or turned or
                     tilted: face_poses.json)
  first box right    photos whose first box matches a labelled face, over the photos that have
                     a labelled face and got a box (95% interval)
  false boxes        returned boxes that match no labelled face, per photo
  ms                 median and p90 wall time per photo

    python benchmarks/face_finder.py                   # dev (photos 1-150) and test (151-200)
    python benchmarks/face_finder.py --sets A B --finders learned --misses
    python benchmarks/face_finder.py --noise 1000       # seeded noise, flat colours, textures
    python benchmarks/face_finder.py --composites 400   # test faces on unseen backgrounds
    python benchmarks/face_finder.py --cross /tmp/cross # trains on one part, measures the other
    python benchmarks/face_finder.py --guesses          # where no face is found: the guesses
    python benchmarks/face_finder.py --face-threshold 0.6  # another face threshold

Sets: dev, test, and the parts of the development photos grouped by where they were taken
(labels/photo_groups.json: A is shelters, people and outdoors, B homes). --cross trains a finder
on each part's photos (kitten_mixer.training.face_finder, seed 0; kept in the folder given, and
reused when there) and measures it on the other part's photos and on test faces of cats.zip
pasted into unseen backgrounds and the other part's photo regions: how the finder does on
photos from places it never saw. --noise counts the pictures made in code
(kitten_mixer.training.textures.noise_photos, seed 0) in which a finder finds a face, and the
cartoon cats too; --composites finds test faces of cats.zip (the split training_splits gives
the shipped model, never learned by the finder) pasted into synthetic photos whose backgrounds
are textures no finder learned from.

Finders: the plain cascades (OpenCV's defaults on the full-size grey photo), the tuned cascades
that were the finder until the learned one (benchmarks/cascades.py), and the learned one
(--weights: another learned finder's weights).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

import kitten_mixer.faces.learned as learned
from kitten_mixer.data import load_faces
from kitten_mixer.faces import find_cat_faces, guess_cat_face
from kitten_mixer.faces.box import square_box
from kitten_mixer.images import open_photo

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
PHOTOS = DATA / "photos.zip"
CATS = DATA / "cats.zip"
SETS = {"dev": REPO / "labels" / "face_boxes.json",
        "test": REPO / "labels" / "face_boxes_test.json"}
GROUPS = REPO / "labels" / "photo_groups.json"
POSES = REPO / "labels" / "face_poses.json"
SIZES = (("small", 0.0, 0.2), ("medium", 0.2, 0.4), ("large", 0.4, 9.0))
# Seeds of the pictures made here: none of them is one training draws.
NOISE_SEED = 0
COMPOSITE_SEED = 1
Box = tuple[int, int, int, int]
Finder = Callable[[bytes], list[Box]]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def wilson(hits: int, total: int) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion."""
    if not total:
        return 0.0, 1.0
    z, p = 1.959964, hits / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def share(hits: int, total: int, interval: bool = False) -> str:
    text = f"{hits / max(total, 1):.2f} ({hits}/{total})"
    if interval:
        lo, hi = wilson(hits, total)
        text += f" [{lo:.2f}, {hi:.2f}]"
    return text


def plain_cascades() -> Finder:
    """Both cascades with OpenCV's defaults on the full-size grey photo."""
    import cv2
    from cascades import CASCADE_FILES

    cascades = [cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, f))
                for f in CASCADE_FILES]

    def find(photo: bytes) -> list[Box]:
        grey = np.asarray(open_photo(photo, reduce_to=None).convert("L"))
        return [(int(x), int(y), int(x + w), int(y + h))
                for cascade in cascades for x, y, w, h in cascade.detectMultiScale(grey)]
    return find


def tuned_cascades() -> Finder:
    import cv2
    from cascades import find_with_cascades

    cv2.setNumThreads(1)
    return find_with_cascades


def learned_finder(weights: Path | None = None, function: Callable = find_cat_faces,
                   face_threshold: float | None = None) -> Callable:
    """find_cat_faces (or another of kitten_mixer.faces' functions of a photo), with the
    finder saved at `weights` instead of the shipped one, and at another face threshold if
    given (the threshold saved with its weights otherwise)."""
    if weights is None and face_threshold is None:
        return function
    finder = learned.FaceFinder.load(weights or learned.WEIGHTS)
    if face_threshold is not None:
        finder.face_threshold = face_threshold

    def find(photo, *args):
        saved, learned._default = learned._default, finder
        try:
            return function(photo, *args)
        finally:
            learned._default = saved
    return find


def guesses(find: Callable, guess: Callable, labels: dict[str, list[Box]],
            photos_zip: Path) -> str:
    """Of the photos with a labelled face where the finder finds none, those where its guess
    (guess_cat_face: where framing the face by hand starts in the app) lies on a labelled face,
    IoU >= 0.5."""
    hits, missed = [], 0
    with zipfile.ZipFile(photos_zip) as archive:
        for name, boxes in labels.items():
            data = archive.read(name)
            if not boxes or find(data):
                continue
            missed += 1
            box = guess(data)
            if box is not None and any(iou(b, box) >= 0.5 for b in boxes):
                hits.append(name)
    return (f"no box in {missed} photos with a face; the guess lies on a face in {len(hits)}"
            + (f" ({' '.join(hits)})" if hits else ""))


def run(finder: Finder, photos: dict[str, bytes]) -> tuple[dict[str, list], list[float]]:
    """Boxes per photo, and milliseconds per photo."""
    finder(next(iter(photos.values())))  # load weights and cascades outside the timing
    found, ms = {}, []
    for name, data in photos.items():
        began = time.perf_counter()
        found[name] = list(finder(data))
        ms.append((time.perf_counter() - began) * 1000)
    return found, ms


def face_groups(labels: dict[str, list[Box]], poses: dict[str, list[str]],
                sides: dict[str, float]) -> dict[str, list[tuple[str, int]]]:
    """The labelled faces (photo, index) of each size and pose group."""
    groups: dict[str, list[tuple[str, int]]] = {g: [] for g, *_ in SIZES}
    groups.update({"frontal": [], "turned/tilted": []})
    for name, boxes in labels.items():
        for i, (x0, y0, x1, y1) in enumerate(boxes):
            side = np.sqrt((x1 - x0) * (y1 - y0)) / sides[name]
            groups[next(g for g, lo, hi in SIZES if lo <= side < hi)].append((name, i))
            groups["frontal" if poses[name][i] == "frontal" else "turned/tilted"].append((name, i))
    return groups


def tally(labels: dict[str, list[Box]], found: dict[str, list]) -> dict[str, int]:
    """Faces, faces found, photos tried (a face and a box), first boxes right, false boxes."""
    faces = sum(len(b) for b in labels.values())
    hit = sum(any(iou(b, g) >= 0.5 for g in found[n]) for n, bs in labels.items() for b in bs)
    tried = [n for n, boxes in labels.items() if boxes and found[n]]
    right = sum(any(iou(b, found[n][0]) >= 0.5 for b in labels[n]) for n in tried)
    false = sum(all(iou(b, g) < 0.5 for b in labels[n]) for n in labels for g in found[n])
    return {"faces": faces, "found": hit, "tried": len(tried), "right": right, "false": false,
            "photos": len(labels)}


def score(labels: dict[str, list[Box]], found: dict[str, list],
          groups: dict[str, list[tuple[str, int]]] | None) -> dict[str, str]:
    """The table's cells for one finder on one photo set."""
    counts = tally(labels, found)
    cells = {"recall [95%]": share(counts["found"], counts["faces"], True)}
    for group, faces in (groups or {}).items():
        got = sum(any(iou(labels[n][i], g) >= 0.5 for g in found[n]) for n, i in faces)
        cells[group] = share(got, len(faces))
    cells["first box right [95%]"] = share(counts["right"], counts["tried"], True)
    cells["false boxes / photo"] = f"{counts['false'] / counts['photos']:.2f}"
    return cells


def photo_set(name: str) -> dict[str, list[Box]]:
    """The labelled boxes of a set: dev, test, or a part (A, B) of the development photos."""
    path = SETS.get(name, SETS["dev"])
    labels = {n: [tuple(b) for b in boxes] for n, boxes in json.loads(path.read_text()).items()}
    if name in SETS:
        return labels
    groups = json.loads(GROUPS.read_text())
    part = set(groups["parts"][name])
    return {n: boxes for n, boxes in labels.items() if groups["photos"][n] in part}


def measure(title: str, finder, labels: dict[str, list[Box]], photos_zip: Path,
            poses: dict[str, list[str]], misses: bool) -> tuple[list[str], list[str]]:
    """One table row (and its header) for a finder on labelled photos."""
    with zipfile.ZipFile(photos_zip) as archive:
        photos = {name: archive.read(name) for name in labels}
    sides = {name: max(open_photo(data, reduce_to=None).size) for name, data in photos.items()}
    found, ms = run(finder, photos)
    cells = score(labels, found, face_groups(labels, poses, sides))
    cells["ms p50 / p90"] = f"{np.median(ms):.0f} / {np.percentile(ms, 90):.0f}"
    if misses:
        missed = [name for name, boxes in labels.items()
                  if any(all(iou(b, g) < 0.5 for g in found[name]) for b in boxes)]
        print(f"  {title} missed a face in:", " ".join(missed) or "none")
    return ["photos", "finder", *cells], [title, *cells.values()]


def noise(finder, count: int) -> str:
    """Pictures of noise, flat colours and textures, and cartoon cats, in which a face is found."""
    from kitten_mixer.training.textures import cartoon_photos, noise_photos

    pictures = noise_photos(count, NOISE_SEED)
    scores = [max((getattr(b, "score", 1.0) for b in finder(p)), default=0.0) for p in pictures]
    drawings = cartoon_photos(count // 5, NOISE_SEED)
    drawn = [max((getattr(b, "score", 1.0) for b in finder(p)), default=0.0) for p in drawings]
    return (f"{sum(s > 0 for s in scores)} of {count} noise/flat/texture pictures gave a face "
            f"(highest score {max(scores):.2f}); {sum(s > 0 for s in drawn)} of {len(drawings)} "
            f"cartoon cats (highest {max(drawn):.2f})")


def composites(finder, count: int, photos: list | None = None) -> dict[str, str]:
    """Test faces of cats.zip pasted into `count` synthetic photos on backgrounds no finder
    learned from (textures of kinds held out of training; regions of `photos` if given)."""
    from kitten_mixer.training.composites import make_scene
    from kitten_mixer.training.textures import HELD_OUT

    faces = load_faces(CATS).split()["test"].images
    rng = np.random.default_rng([COMPOSITE_SEED, 0 if photos is None else 1])
    labels, found = {}, {}
    for i in range(count):
        scene = make_scene(faces, photos or [], rng, HELD_OUT)
        w, h = scene.image.size
        labels[i] = [tuple(int(round(v)) for v in np.clip(square_box(*s), 0, [w, h, w, h]))
                     for s in scene.squares]
        found[i] = list(finder(scene.image))
    return score(labels, found, None)


@contextmanager
def boxes_file(part: str) -> Iterator[Path]:
    """A part's labelled boxes as a boxes file (as labels/face_boxes.json), while in use."""
    with tempfile.TemporaryDirectory() as tmp:
        boxes = Path(tmp) / "boxes.json"
        boxes.write_text(json.dumps({n: [list(b) for b in bs]
                                     for n, bs in photo_set(part).items()}))
        yield boxes


def cross(folder: Path, photos_zip: Path) -> dict[str, Path]:
    """A finder trained on each part's photos: {part trained on: weights}, made if missing."""
    from kitten_mixer.training.face_finder import train_finder

    folder.mkdir(parents=True, exist_ok=True)
    weights = {}
    for part in ("A", "B"):
        path = folder / f"trained-on-{part}.safetensors"
        if not path.is_file():
            print(f"training a finder on part {part}'s photos into {path}")
            with boxes_file(part) as boxes:
                train_finder(CATS, photos_zip, boxes, path, seed=0)
        weights[part] = path
    return weights


def part_photos(part: str, photos_zip: Path) -> list:
    """A part's photos (image, face squares), decoded as the finder decodes them."""
    from kitten_mixer.training.face_data import load_photos

    with boxes_file(part) as boxes:
        return load_photos(photos_zip, boxes).pairs()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=Path, default=PHOTOS, help="zip of photos")
    parser.add_argument("--sets", nargs="*", default=["dev", "test"],
                        choices=["dev", "test", "A", "B"])
    parser.add_argument("--finders", nargs="+", default=["plain", "tuned", "learned"],
                        choices=["plain", "tuned", "learned"])
    parser.add_argument("--weights", type=Path, help="the learned finder's weights")
    parser.add_argument("--noise", type=int, default=0, help="pictures with no cat to try")
    parser.add_argument("--composites", type=int, default=0, help="synthetic photos to try")
    parser.add_argument("--cross", type=Path, help="folder of the finders trained on one part")
    parser.add_argument("--misses", action="store_true", help="list photos with a missed face")
    parser.add_argument("--face-threshold", type=float,
                        help="the learned finders' face threshold instead of their saved one")
    parser.add_argument("--guesses", action="store_true",
                        help="where no face is found, how often the finder's guess is on one")
    args = parser.parse_args()
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if (busy := os.getloadavg()[0]) > 1.0:
        print(f"note: load average {busy:.1f} on {os.cpu_count()} cores: timings are slower "
              "than on an idle machine")
    poses = json.loads(POSES.read_text())
    threshold = args.face_threshold
    makers = {"plain": ("plain cascades", plain_cascades),
              "tuned": ("tuned cascades (until now)", tuned_cascades),
              "learned": ("learned", lambda: learned_finder(args.weights,
                                                                 face_threshold=threshold))}
    finders = {makers[f][0]: makers[f][1]() for f in args.finders}
    header, rows = None, []
    for set_name in args.sets:
        labels = photo_set(set_name)
        print(f"{set_name}: {len(labels)} photos, {sum(len(b) for b in labels.values())} faces, "
              f"{sum(not b for b in labels.values())} photos with no frontal face")
        for title, finder in finders.items():
            header, row = measure(title, finder, labels, args.photos, poses, args.misses)
            rows.append([set_name, *row])
        if args.guesses and "learned" in args.finders:
            print(f"  {set_name}, learned:", guesses(
                finders["learned"], learned_finder(args.weights, guess_cat_face, threshold),
                labels, args.photos))
    if args.cross:
        trained = cross(args.cross, args.photos)
        for part, other in (("A", "B"), ("B", "A")):
            finder = learned_finder(trained[part], face_threshold=threshold)
            title = f"learned on {part} only"
            header, row = measure(title, finder, photo_set(other), args.photos, poses,
                                  args.misses)
            rows.append([other, *row])
            if args.guesses:
                print(f"  {other}, {title}:", guesses(
                    finder, learned_finder(trained[part], guess_cat_face, threshold),
                    photo_set(other), args.photos))
            cells = composites(finder, args.composites or 200,
                               part_photos(other, args.photos))
            print(f"composites on part {other}'s photos and unseen textures, {title}:", cells)
    if rows:
        print()
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    for title, finder in finders.items():
        if args.composites:
            print(f"composites on unseen textures, {title}:", composites(finder, args.composites))
        if args.noise:
            print(f"{title}: {noise(finder, args.noise)}")


if __name__ == "__main__":
    main()
