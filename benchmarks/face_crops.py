"""Crops like the training faces: how well the shipped model redraws the faces cropped from
whole-scene photos, next to the test-split faces it was measured on.

For every labelled face (labels/face_boxes*.json) it cuts the crop the app would cut, and
reports the mean reconstruction PSNR (posterior mean, decoded) of:

  labelled box         the hand-drawn box, framed by crop_face (upright)
  learned finder       the learned finder's box that matches the face (IoU >= 0.5), straightened
                       by its tilt; and the same box cropped upright
  tuned cascades       the box of the finder used until now, framed the same way (upright)

and of the test split of cats.zip, the faces the model's own numbers are measured on. Each crop
set counts only the faces its finder found, so the sets differ a little.

    python benchmarks/face_crops.py
"""

from __future__ import annotations

import argparse
import json
import zipfile
from pathlib import Path

import torch
from cascades import find_with_cascades
from face_finder import iou

from kitten_mixer.data import training_splits
from kitten_mixer.evaluation.metrics import psnr
from kitten_mixer.faces import crop_face, find_cat_faces
from kitten_mixer.images import Photo
from kitten_mixer.mixer import KittenMixer

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
SETS = {"dev": REPO / "labels" / "face_boxes.json",
        "test": REPO / "labels" / "face_boxes_test.json"}


def redrawn_psnr(mixer: KittenMixer, faces: torch.Tensor) -> float:
    """Mean PSNR (dB) of uint8 faces [N, 3, H, W] against the model's reconstructions."""
    photos = faces.float() / 255
    return psnr(photos, mixer.decode_tensor(mixer.posterior(photos)[0]))


def crops(photos: dict[str, bytes], labels: dict[str, list[list[int]]]
          ) -> dict[str, list[torch.Tensor]]:
    """The crops of every labelled face, by how the face's box was got."""
    def tensor(photo: Photo, box: tuple, straighten: bool = False) -> torch.Tensor:
        image = crop_face(photo, box, straighten=straighten)
        return torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8).view(
            64, 64, 3).permute(2, 0, 1)

    out: dict[str, list[torch.Tensor]] = {"labelled box": [], "learned finder (straightened)": [],
                                          "learned finder (upright)": [], "tuned cascades": []}
    for name, boxes in labels.items():
        data = photos[name]
        learned, cascades = find_cat_faces(data), find_with_cascades(data)
        for box in boxes:
            out["labelled box"].append(tensor(data, tuple(box)))
            if match := next((b for b in learned if iou(b, box) >= 0.5), None):
                out["learned finder (straightened)"].append(tensor(data, match, True))
                out["learned finder (upright)"].append(tensor(data, match))
            if match := next((b for b in cascades if iou(b, box) >= 0.5), None):
                out["tuned cascades"].append(tensor(data, match))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA,
                        help="folder with cats.zip and photos.zip")
    args = parser.parse_args()
    mixer = KittenMixer.load()
    rows = []
    test = training_splits(mixer.config, args.data / "cats.zip", mixer.image_size)["test"]
    rows.append(("cats.zip test split", "the training faces' framing", len(test),
                 redrawn_psnr(mixer, test.images)))
    with zipfile.ZipFile(args.data / "photos.zip") as archive:
        for set_name, path in SETS.items():
            labels = json.loads(path.read_text())
            photos = {name: archive.read(name) for name in labels}
            for how, faces in crops(photos, labels).items():
                if faces:
                    rows.append((f"{set_name} photos", how, len(faces),
                                 redrawn_psnr(mixer, torch.stack(faces))))
    print("| faces | crop | count | mean PSNR (dB) |\n|---|---|---|---|")
    for where, how, count, value in rows:
        print(f"| {where} | {how} | {count} | {value:.2f} |")


if __name__ == "__main__":
    main()
