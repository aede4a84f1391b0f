"""Training the face finder from the data we have: the training faces pasted into photos, the
labelled photos' windows without a face, and the finder's own false finds on them."""

from __future__ import annotations

import json
import logging
import math
import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from kitten_mixer.data import load_faces
from kitten_mixer.errors import DataError
from kitten_mixer.faces.box import face_square, overlap, squares_to_boxes
from kitten_mixer.faces.decode import load_photo
from kitten_mixer.faces.learned import DECODE_SIDE, MIN_FACE, FaceFinder, windows
from kitten_mixer.faces.networks import (
    PROPOSAL_WINDOW,
    REFINE_CONTEXT,
    REFINE_WINDOW,
    ProposalNet,
    RefineNet,
)
from kitten_mixer.training.face_scenes import (
    FACE_IOU,
    NO_FACE_IOU,
    PART_IOU,
    jitter,
    jpeg_like,
    paste_faces,
    random_squares,
    squares_iou,
)

log = logging.getLogger(__name__)

# Steps of BATCH windows, before and after mining the false finds of the proposals alone and of
# the whole finder.
PROPOSAL_STEPS = (3000, 1000)
REFINE_STEPS = (3000, 1000)
BATCH = 160
# Windows cut around each labelled face of every other photo: a quarter of the faces learned
# from are real ones, in real surroundings (ears, fur, shadows) no pasted face has.
REAL_WINDOWS = 60
# Thresholds while mining: low, so that the near misses are learned too.
MINE_PROPOSAL = 0.3
MINE_FACE = 0.2


@dataclass
class Photos:
    """The labelled photos, each also mirrored, decoded as the finder decodes them, with their
    face squares in the same pixels."""

    images: list[Image.Image]
    squares: list[np.ndarray]

    def halves(self) -> tuple[Photos, Photos]:
        """Every other labelled photo (with its mirror), and the rest."""
        pairs = [(i, i + 1) for i in range(0, len(self.images), 2)]
        first = [j for k, pair in enumerate(pairs) if k % 2 == 0 for j in pair]
        rest = [j for k, pair in enumerate(pairs) if k % 2 == 1 for j in pair]
        return tuple(Photos([self.images[j] for j in half], [self.squares[j] for j in half])
                     for half in (first, rest))


def load_photos(photos_zip: str | os.PathLike, boxes_json: str | os.PathLike) -> Photos:
    """The photos named in `boxes_json` (and no other), and their mirror images."""
    labels = _read_boxes(boxes_json)
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


def _read_boxes(boxes_json: str | os.PathLike) -> dict[str, list[list[float]]]:
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


def photo_windows(photos: Photos, per_photo: int, size: int, context: float,
                  rng: np.random.Generator, faces_allowed: bool = False) -> torch.Tensor:
    """Random windows of the photos, of every size the finder searches, as uint8; without
    faces unless `faces_allowed`."""
    out = []
    for image, labelled in zip(photos.images, photos.squares):
        min_side = MIN_FACE * max(image.size) * 0.8
        squares = random_squares(*image.size, labelled[:0] if faces_allowed else labelled,
                                 per_photo, min_side, rng)
        out.append(_uint8(windows(image, squares, size, context)))
    return torch.cat(out)


@dataclass
class RealFaces:
    """Windows around labelled faces, near and off them, with the same targets as pasted faces
    (the tilt unknown: NaN)."""

    images: torch.Tensor  # uint8 [N, 3, size, size]
    targets: torch.Tensor  # [N, 4]
    iou: torch.Tensor  # [N]


def face_windows(photos: Photos, per_face: int, size: int, context: float,
                 rng: np.random.Generator) -> RealFaces:
    """Windows whose square is shifted and scaled around each labelled face as the pasted
    faces' are (mostly near, some far)."""
    images, targets = [], []
    for image, labelled in zip(photos.images, photos.squares):
        for cx, cy, side in labelled:
            near = rng.uniform(size=per_face) < 0.7
            spread = np.where(near, 0.12, 0.5)[:, None]
            shift = rng.uniform(-1, 1, (per_face, 2)) * spread
            log_side = np.where(near, rng.uniform(np.log(0.8), np.log(1.25), per_face),
                                rng.uniform(np.log(0.5), np.log(2.0), per_face))
            # The window's square, placed so that the face sits at `shift` from its middle.
            own = side / np.exp(log_side)
            squares = np.stack([cx - shift[:, 0] * own, cy - shift[:, 1] * own, own], axis=1)
            images.append(_uint8(windows(image, squares, size, context)))
            targets.append(np.concatenate([shift, log_side[:, None],
                                           np.full((per_face, 1), np.nan)], axis=1))
    targets = torch.from_numpy(np.concatenate(targets)).float()
    face = torch.cat([targets[:, :2], targets[:, 2:3].exp()], 1)
    iou = squares_iou(face, torch.tensor([[0.0, 0.0, 1.0]]).expand(len(face), 3))
    return RealFaces(torch.cat(images), targets, iou)


def _uint8(images: torch.Tensor) -> torch.Tensor:
    return (images * 255).round().to(torch.uint8)


def _float(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 255


def mine(finder: FaceFinder, photos: Photos, size: int, context: float,
         whole: bool) -> torch.Tensor:
    """The windows where the finder (its proposals alone, or `whole`) sees a face that no
    label has, at the mining thresholds, as uint8 windows."""
    out = []
    for image, labelled in zip(photos.images, photos.squares):
        if whole:
            found = np.array([f[:3] for f in finder.find(image)]).reshape(-1, 3)
        else:
            found = finder.propose(image, limit=200)[0]
        if len(found) and len(labelled):
            iou = overlap(squares_to_boxes(found), squares_to_boxes(labelled))
            found = found[iou.max(axis=1) < NO_FACE_IOU]
        if len(found):
            out.append(_uint8(windows(image, found, size, context)))
    return torch.cat(out) if out else torch.zeros((0, 3, size, size), dtype=torch.uint8)


def _batch(faces: torch.Tensor, backgrounds: torch.Tensor, negatives: list[torch.Tensor],
           real: RealFaces | None, size: int, context: float, gen: torch.Generator):
    """Half pasted faces, half windows without a face (split evenly between the banks)."""
    half = BATCH // 2
    pasted = half - half // 4 if real is not None else half
    images, targets, iou = paste_faces(faces, backgrounds, pasted, size, context, gen)
    if real is not None:  # a quarter of the faces are real ones, in their own surroundings
        pick = torch.randint(len(real.images), (half - pasted,), generator=gen)
        images = torch.cat([images, _float(real.images[pick])])
        targets, iou = torch.cat([targets, real.targets[pick]]), torch.cat([iou, real.iou[pick]])
    banks = [bank for bank in negatives if len(bank)]
    parts = [bank[torch.randint(len(bank), (half // len(banks),), generator=gen)]
             for bank in banks]
    empty = _float(torch.cat(parts))
    images = jitter(torch.cat([images, empty]), gen)
    label = torch.cat([(iou >= FACE_IOU).float(), torch.zeros(len(empty))])
    known = torch.cat([(iou >= FACE_IOU) | (iou < NO_FACE_IOU), torch.ones(len(empty), dtype=bool)])
    boxed = torch.cat([iou >= PART_IOU, torch.zeros(len(empty), dtype=bool)])
    targets = torch.cat([targets, torch.zeros(len(empty), 4)])
    return images, label, known, boxed, targets


def _loss(out: torch.Tensor, label, known, boxed, targets) -> torch.Tensor:
    loss = F.binary_cross_entropy_with_logits(out[known, 0], label[known])
    if boxed.any():
        loss = loss + 2 * F.smooth_l1_loss(out[boxed, 1:4], targets[boxed, :3], beta=0.1)
        tilted = boxed & ~targets[:, 3].isnan()
        if out.shape[1] > 4 and tilted.any():  # the refining network also reads the tilt
            tilt = targets[tilted, 3]
            loss = loss + F.mse_loss(out[tilted, 4:6], torch.stack([tilt.sin(), tilt.cos()], 1))
    return loss


def fit(net: torch.nn.Module, steps: int, faces: torch.Tensor, backgrounds: torch.Tensor,
        negatives: list[torch.Tensor], real: RealFaces, size: int, context: float,
        gen: torch.Generator, lr: float = 2e-3) -> None:
    """`steps` Adam steps on fresh batches, the learning rate falling along a cosine."""
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    net.train()
    began = time.perf_counter()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr * (0.02 + 0.98 * (1 + math.cos(math.pi * step / steps)) / 2)
        images, *rest = _batch(faces, backgrounds, negatives, real, size, context, gen)
        out = net(images)
        loss = _loss(out.reshape(len(images), -1), *rest)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 250 == 0 or step == steps - 1:
            log.info("%s step %d/%d loss %.4f (%.0f s)", type(net).__name__, step, steps,
                     loss.item(), time.perf_counter() - began)
    net.eval()


def train_finder(cats_zip: str | os.PathLike, photos_zip: str | os.PathLike,
                 boxes_json: str | os.PathLike, out: str | os.PathLike, seed: int = 0) -> Path:
    """Train both networks of the face finder and save them to `out` (a .safetensors file).

    Faces come from `cats_zip` (tight 64x64 crops); photos without faces, and the finder's false
    finds, from the photos of `photos_zip` named in `boxes_json` (and no other photo: keep the
    test photos out of it), outside their labelled boxes; real faces from every other one of
    them. About 9 minutes on a quiet 2-core CPU; the shipped weights are seed 0's.
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    began = time.perf_counter()
    photos = load_photos(photos_zip, boxes_json)  # first: a bad box file fails at once
    faces = jpeg_like(load_faces(cats_zip).images, 0.3, rng)
    teaching = photos.halves()[0]
    log.info("%d faces, %d photos with their mirrors (%.0f s)", len(faces), len(photos.images),
             time.perf_counter() - began)

    # The proposals see faces about 24 pixels wide: shrink them first, as the pyramid does.
    small = F.interpolate(_float(faces), size=32, mode="bilinear", antialias=True)
    proposal, refine = ProposalNet(), RefineNet()
    finder = FaceFinder(proposal, refine, MINE_PROPOSAL, MINE_FACE)
    size, context = PROPOSAL_WINDOW, 1.0
    backgrounds = photo_windows(photos, 60, size, context, rng, faces_allowed=True)
    empty = photo_windows(photos, 700, size, context, rng)
    real = face_windows(teaching, REAL_WINDOWS, size, context, rng)
    fit(proposal, PROPOSAL_STEPS[0], small, backgrounds, [empty], real, size, context, gen)
    hard = mine(finder, photos, size, context, whole=False)
    log.info("%d false proposals mined", len(hard))
    fit(proposal, PROPOSAL_STEPS[1], small, backgrounds, [empty, hard], real, size, context, gen,
        lr=5e-4)

    size, context = REFINE_WINDOW, REFINE_CONTEXT
    full = _float(faces)
    backgrounds = photo_windows(photos, 60, size, context, rng, faces_allowed=True)
    empty = photo_windows(photos, 200, size, context, rng)
    hard = mine(finder, photos, size, context, whole=False)
    log.info("%d false proposals mined for the refining network", len(hard))
    real = face_windows(teaching, REAL_WINDOWS, size, context, rng)
    fit(refine, REFINE_STEPS[0], full, backgrounds, [empty, hard], real, size, context, gen)
    harder = mine(finder, photos, size, context, whole=True)
    log.info("%d false finds mined", len(harder))
    fit(refine, REFINE_STEPS[1], full, backgrounds, [empty, hard, harder], real, size, context,
        gen,
        lr=5e-4)

    finder = FaceFinder(proposal, refine)
    finder.save(out)
    log.info("saved %s (%.0f s in all)", out, time.perf_counter() - began)
    return Path(out)
