"""What the face finder learns from, as windows the way the finder sees them: the labelled
photos (and their mirrors), synthetic photos (training/composites.py), pictures made in code
(training/textures.py), windows around their faces with where the face is, windows without a
face, and the finder's own false finds."""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from kitten_mixer.errors import DataError
from kitten_mixer.faces.box import face_square, overlap, squares_to_boxes
from kitten_mixer.faces.decode import load_photo
from kitten_mixer.faces.learned import DECODE_SIDE, MAX_PROPOSALS, MIN_FACE, FaceFinder, windows
from kitten_mixer.training.composites import spoil
from kitten_mixer.training.face_scenes import NO_FACE_IOU, random_squares, squares_iou
from kitten_mixer.training.textures import random_size, texture


@dataclass
class Photos:
    """Photos with their face squares (centre x, centre y, side) in the same pixels, and the
    faces' tilts in radians where known (clockwise as seen; NaN where not)."""

    images: list[Image.Image]
    squares: list[np.ndarray]
    tilts: list[np.ndarray] | None = None

    def __add__(self, other: Photos) -> Photos:
        return Photos(self.images + other.images, self.squares + other.squares,
                      self.tilts_or_nan() + other.tilts_or_nan())

    def tilts_or_nan(self) -> list[np.ndarray]:
        return self.tilts or [np.full(len(s), np.nan) for s in self.squares]

    def pairs(self) -> list[tuple[Image.Image, np.ndarray]]:
        return list(zip(self.images, self.squares))


def load_photos(photos_zip: str | os.PathLike, boxes_json: str | os.PathLike) -> Photos:
    """The photos named in `boxes_json` (and no other), decoded as the finder decodes them,
    and their mirror images."""
    labels = read_boxes(boxes_json)
    images, squares = [], []
    try:
        archive = zipfile.ZipFile(photos_zip)
    except (OSError, zipfile.BadZipFile) as e:
        raise DataError(f"{photos_zip}: not a zip of photos ({e})") from None
    with archive:
        missing = sorted(set(labels) - set(archive.namelist()))
        if missing:
            raise DataError(f"{photos_zip}: has no {missing[0]}, named in {boxes_json}")
        for name, boxes in labels.items():
            image, fx, fy = load_photo(archive.read(name), DECODE_SIDE)
            square = np.array([face_square((x0 / fx, y0 / fy, x1 / fx, y1 / fy))
                               for x0, y0, x1, y1 in boxes]).reshape(-1, 3)
            mirrored = square.copy()
            mirrored[:, 0] = image.width - mirrored[:, 0]
            images += [image, ImageOps.mirror(image)]
            squares += [square, mirrored]
    return Photos(images, squares)


def read_boxes(boxes_json: str | os.PathLike) -> dict[str, list[list[float]]]:
    """{photo name in the zip: [[x0, y0, x1, y1], ...]}, checked."""
    try:
        labels = json.loads(Path(boxes_json).read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{boxes_json}: cannot be read as JSON ({e})") from None
    shape_ok = isinstance(labels, dict) and labels and all(
        isinstance(boxes, list) and all(
            isinstance(box, list) and len(box) == 4
            and all(isinstance(v, (int, float)) for v in box) for box in boxes)
        for boxes in labels.values())
    if not shape_ok:
        raise DataError(f"{boxes_json}: expected {{photo name: [[x0, y0, x1, y1], ...]}}")
    return labels


def texture_photos(count: int, kinds: tuple[str, ...], rng: np.random.Generator,
                   drawings: float = 0.25) -> Photos:
    """`count` pictures of `kinds` (in turn) at photos' sizes, with no face; a share of them
    `drawings` of cartoon cats; half of them spoilt as photos are (composites.spoil)."""
    images = []
    for i in range(count):
        h, w = random_size(rng, 240, 640)
        kind = "cartoon" if rng.uniform() < drawings else kinds[i % len(kinds)]
        image = Image.fromarray(texture(kind, h, w, rng))
        images.append(spoil(image, rng) if rng.uniform() < 0.5 else image)
    return Photos(images, [np.zeros((0, 3)) for _ in images])


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    return (images * 255).round().to(torch.uint8)


def to_float(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 255


def empty_windows(photos: Photos, per_photo: int, size: int, context: float,
                  rng: np.random.Generator) -> torch.Tensor:
    """Random windows of the photos, of every size the finder searches, without faces, as
    uint8."""
    out = [torch.zeros((0, 3, size, size), dtype=torch.uint8)]
    for image, labelled in zip(photos.images, photos.squares):
        min_side = MIN_FACE * max(image.size) * 0.8
        squares = random_squares(*image.size, labelled, per_photo, min_side, rng)
        if len(squares):
            out.append(to_uint8(windows(image, squares, size, context)))
    return torch.cat(out)


@dataclass
class FaceWindows:
    """Windows near and off faces: images uint8 [N, 3, size, size], targets [N, 4] (the face
    square's shift and log side relative to the window's square, and its tilt in radians, NaN
    where unknown) and the IoU of the two squares [N]."""

    images: torch.Tensor
    targets: torch.Tensor
    iou: torch.Tensor

    def __len__(self) -> int:
        return len(self.images)


def face_windows(photos: Photos, per_face: int, size: int, context: float,
                 rng: np.random.Generator) -> FaceWindows:
    """Windows whose square is shifted and scaled around each face as the pasted faces' are
    (mostly near, some far)."""
    images, targets = [torch.zeros((0, 3, size, size), dtype=torch.uint8)], [np.zeros((0, 4))]
    for image, labelled, tilts in zip(photos.images, photos.squares, photos.tilts_or_nan()):
        for (cx, cy, side), tilt in zip(labelled, tilts):
            near = rng.uniform(size=per_face) < 0.7
            spread = np.where(near, 0.12, 0.5)[:, None]
            shift = rng.uniform(-1, 1, (per_face, 2)) * spread
            log_side = np.where(near, rng.uniform(np.log(0.8), np.log(1.25), per_face),
                                rng.uniform(np.log(0.5), np.log(2.0), per_face))
            # The window's square, placed so that the face sits at `shift` from its middle.
            own = side / np.exp(log_side)
            squares = np.stack([cx - shift[:, 0] * own, cy - shift[:, 1] * own, own], axis=1)
            images.append(to_uint8(windows(image, squares, size, context)))
            targets.append(np.concatenate([shift, log_side[:, None],
                                           np.full((per_face, 1), tilt)], axis=1))
    target = torch.from_numpy(np.concatenate(targets)).float()
    face = torch.cat([target[:, :2], target[:, 2:3].exp()], 1)
    iou = squares_iou(face, torch.tensor([[0.0, 0.0, 1.0]]).expand(len(face), 3))
    return FaceWindows(torch.cat(images), target, iou)


def mine(finder: FaceFinder, photos: Photos, size: int, context: float, whole: bool,
         limit: int = 200) -> torch.Tensor:
    """The windows where the finder (its best `limit` proposals, or the `whole` finder) sees a
    face that no label has, at its thresholds, as uint8 windows."""
    out = [torch.zeros((0, 3, size, size), dtype=torch.uint8)]
    for image, labelled in zip(photos.images, photos.squares):
        found = _squares(finder.find(image)) if whole else finder.propose(image, limit)[0]
        out.append(_unlabelled_windows(image, found, labelled, size, context))
    return torch.cat(out)


def mine_both(finder: FaceFinder, photos: Photos, size: int, context: float
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """`mine`'s windows of the finder's own best proposals (MAX_PROPOSALS) and of the whole
    finder's finds, proposing on each photo once: the finds are checked on those proposals."""
    out: tuple[list[torch.Tensor], ...] = ([], [])
    for image, labelled in zip(photos.images, photos.squares):
        proposed = finder.propose(image, MAX_PROPOSALS)[0]
        found = _squares(finder.candidates(image, finder.face_threshold, proposed))
        for kind, squares in enumerate((proposed, found)):
            out[kind].append(_unlabelled_windows(image, squares, labelled, size, context))
    return torch.cat(out[0]), torch.cat(out[1])


def _squares(faces: list[tuple[float, ...]]) -> np.ndarray:
    """The squares [N, 3] of `FaceFinder.find`'s (or `candidates`') faces."""
    return np.array([face[:3] for face in faces]).reshape(-1, 3)


def _unlabelled_windows(image: Image.Image, squares: np.ndarray, labelled: np.ndarray,
                        size: int, context: float) -> torch.Tensor:
    """The uint8 windows of the squares that overlap no labelled face."""
    if len(squares) and len(labelled):
        iou = overlap(squares_to_boxes(squares), squares_to_boxes(labelled))
        squares = squares[iou.max(axis=1) < NO_FACE_IOU]
    if not len(squares):
        return torch.zeros((0, 3, size, size), dtype=torch.uint8)
    return to_uint8(windows(image, squares, size, context))
