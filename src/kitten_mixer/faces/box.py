"""Face boxes, and the square a face is cropped from: one convention for finders, crops and
training."""

from __future__ import annotations

import math

import numpy as np

# A hand-labelled box runs from the base of the ears to the chin and from cheek to cheek; the
# training faces are cut as a square of the box's size (the geometric mean of its sides), moved
# down by this share of it: ears mostly cut, eyes at about 40% of the height. Calibrated on the
# labelled photos (docs/faces.md): the mean crop then matches the mean training face best.
SQUARE_SHIFT = 0.075
# Labelled boxes are a little wider than tall (the median over the labelled faces).
BOX_ASPECT = 1.09


class Box(tuple):
    """A face's box (x0, y0, x1, y1) in pixels of the full-size photo, with the finder's score
    and the head's tilt in degrees (clockwise as seen: the crop turns it back)."""

    score: float
    angle: float

    def __new__(cls, x0: float, y0: float, x1: float, y1: float, score: float = 1.0,
                angle: float = 0.0) -> Box:
        box = super().__new__(cls, (int(round(x0)), int(round(y0)), int(round(x1)),
                                    int(round(y1))))
        box.score, box.angle = float(score), float(angle)
        return box

    def __getnewargs__(self) -> tuple:  # so that copies and pickles keep score and angle
        return (*self, self.score, self.angle)

    def __repr__(self) -> str:
        return f"Box{tuple(self)}(score={self.score:.3f}, angle={self.angle:.0f})"

    x0 = property(lambda self: self[0])
    y0 = property(lambda self: self[1])
    x1 = property(lambda self: self[2])
    y1 = property(lambda self: self[3])


def face_square(box: tuple[float, ...]) -> tuple[float, float, float]:
    """The square (centre x, centre y, side) that a face box is cropped from."""
    x0, y0, x1, y1 = box[:4]
    side = math.sqrt(max(x1 - x0, 1) * max(y1 - y0, 1))
    return (x0 + x1) / 2, (y0 + y1) / 2 + SQUARE_SHIFT * side, side


def square_box(cx: float, cy: float, side: float) -> tuple[float, float, float, float]:
    """The face box whose crop square is (cx, cy, side): face_square's inverse."""
    width, height = side * math.sqrt(BOX_ASPECT), side / math.sqrt(BOX_ASPECT)
    cy -= SQUARE_SHIFT * side
    return cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2


def overlap(a: np.ndarray, b: np.ndarray, inside: bool = False) -> np.ndarray:
    """Intersection over union of every box in `a` [N, 4] with every box in `b` [M, 4], or with
    inside=True, the share of each box in `a` that lies inside each box in `b`."""
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    if inside:
        return inter / np.maximum(area_a[:, None], 1e-9)
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def squares_to_boxes(squares: np.ndarray) -> np.ndarray:
    """Squares [N, 3] (centre x, centre y, side) as corner boxes [N, 4]."""
    half = squares[:, 2:3] / 2
    return np.concatenate([squares[:, :2] - half, squares[:, :2] + half], axis=1)


def suppress(squares: np.ndarray, scores: np.ndarray, max_iou: float,
             block: int = 256) -> np.ndarray:
    """Indices of the squares kept by non-maximum suppression, best first: a square is kept
    unless it overlaps a better square kept before it by more than `max_iou`. The squares are
    compared `block` at a time, each block with the squares kept so far and with itself, in
    arrays (a photo has a few hundred at most; the arrays stay small whatever comes)."""
    order = np.argsort(-scores, kind="stable")
    boxes = squares_to_boxes(squares[order])
    keep: list[int] = []
    for first in range(0, len(order), block):
        rows = boxes[first:first + block]
        alive = (overlap(rows, boxes[keep]) <= max_iou).all(axis=1)
        close = overlap(rows, rows) > max_iou  # column j: each row's overlap with row j
        for j in np.flatnonzero(alive):
            if alive[j]:
                keep.append(first + int(j))
                alive &= ~close[:, j]
    return order[keep]
