"""The previous face finder, OpenCV's cat-face cascades, kept to compare the learned one with
(benchmarks/face_finder.py).

It runs OpenCV's two frontal cat-face Haar cascades on a small grey copy of the photo,
keeps every raw detection window (no OpenCV grouping), and groups the windows itself: a face is
a cluster of overlapping windows, ranked by how many windows found it. Tilted heads are found by
running the cascades on copies turned by +-20 degrees too, only when the upright pass finds no
well-supported face. docs/faces.md gives the method and the measured numbers.
"""

from __future__ import annotations

import os
import threading

import numpy as np
from PIL import Image

from kitten_mixer.faces.box import Box, overlap
from kitten_mixer.faces.decode import load_photo
from kitten_mixer.images import Photo

try:
    import cv2
except ImportError as e:  # a clear hint instead of a bare ModuleNotFoundError
    raise ImportError("the cascades need OpenCV 4: pip install 'kitten-mixer[cascades]'") from e

# OpenCV 5 dropped these two files, hence the pin below 5.
CASCADE_FILES = ("haarcascade_frontalcatface.xml", "haarcascade_frontalcatface_extended.xml")
# The cascades see a grey copy whose longest side is this long. Their 24-pixel window is then a
# tenth of the photo: the smallest face searched for, and smaller windows mostly fire on fur
# and carpet. A copy this small is also what keeps a photo near 100 ms on a slow CPU.
WORK_SIDE = 240
WINDOW = 24
SCALE_STEP = 1.1
# The cascades tolerate a little tilt; copies turned by these angles catch heads tilted more.
# There the smallest window is larger: small windows on a turned copy fired mostly on fur and
# found no face the upright pass missed, and skipping them halves the cost of the turned copies.
TILTS = (-20.0, 20.0)
TILT_WINDOW = 36
# A face is a cluster of windows that overlap its strongest window by this IoU...
CLUSTER_IOU = 0.5
# ...with at least this many windows, and the strongest one's last-stage score at least 0: a
# margin of about 1.3 over that stage's threshold (about -1.3 in both cascades).
MIN_WINDOWS = 3
MIN_SCORE = 0.0
# An upright face found by this many windows ends the search: the turned copies, about half of
# the work, are then skipped (on just over half of the labelled photos).
CONFIDENT_WINDOWS = 4
# A lower-ranked cluster overlapping a better one this much (IoU), or lying this much inside it
# (often the nose and mouth of the same face), is the same face found twice.
DUPLICATE_IOU = 0.3
DUPLICATE_INSIDE = 0.6
# Cascade windows sit a little low on the face and are square; the hand-labelled boxes (ear
# base to chin, cheek to cheek) are 6% higher and 92% as tall (medians over the labelled set).
BOX_SHIFT = -0.06
BOX_HEIGHT = 0.92
_local = threading.local()  # OpenCV classifiers are not safe to share between threads


def _cascades() -> list[cv2.CascadeClassifier]:
    cascades = getattr(_local, "cascades", None)
    if cascades is None:
        cascades = []
        for file in CASCADE_FILES:
            cascade = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, file))
            if cascade.empty():
                raise RuntimeError(f"OpenCV cannot load its {file}; "
                                   "install opencv-python-headless>=4.8,<5")
            cascades.append(cascade)
        _local.cascades = cascades
    return cascades


def _grey(image: Image.Image) -> tuple[np.ndarray, float]:
    """The grey working copy, longest side WORK_SIDE, and its scale from the image."""
    scale = WORK_SIDE / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    # BOX averages every pixel when shrinking; bilinear is enough to enlarge a small photo.
    method = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    small = image.resize(size, method, reducing_gap=2.0 if scale < 0.5 else None).convert("L")
    return np.asarray(small), scale


def _windows(grey: np.ndarray, angle: float, window: int) -> np.ndarray:
    """Every raw detection window (at least `window` pixels) of both cascades on the copy turned
    by `angle` degrees, as rows (x0, y0, x1, y1, last-stage score) in upright coordinates."""
    height, width = grey.shape
    turn = None
    if angle:
        turn = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
        # Same canvas, corners lost: a face in a corner is found by the upright pass anyway.
        grey = cv2.warpAffine(grey, turn, (width, height), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
    rows = []
    for cascade in _cascades():
        # minNeighbors=0: OpenCV returns every window ungrouped, with its last-stage score.
        rects, _, scores = cascade.detectMultiScale3(
            grey, SCALE_STEP, 0, minSize=(window, window), outputRejectLevels=True)
        if len(rects):
            rows.append(np.column_stack([np.asarray(rects, float).reshape(-1, 4),
                                         np.asarray(scores, float).ravel()]))
    if not rows:
        return np.zeros((0, 5))
    found = np.concatenate(rows)
    x, y, w, h = found[:, 0], found[:, 1], found[:, 2], found[:, 3]
    if turn is not None:  # turn each window's centre back; the window stays upright
        back = cv2.invertAffineTransform(turn)
        cx, cy = x + w / 2, y + h / 2
        x = back[0, 0] * cx + back[0, 1] * cy + back[0, 2] - w / 2
        y = back[1, 0] * cx + back[1, 1] * cy + back[1, 2] - h / 2
    return np.column_stack([x, y, x + w, y + h, found[:, 4]])


def _faces(windows: np.ndarray) -> list[tuple[np.ndarray, int]]:
    """Clusters of windows that pass the thresholds, best first: (median box, window count)."""
    order = np.argsort(-windows[:, 4], kind="stable")
    windows = windows[order]
    overlaps = overlap(windows[:, :4], windows[:, :4])
    free = np.ones(len(windows), bool)
    faces = []
    for seed in range(len(windows)):  # the strongest free window gathers its neighbours
        if not free[seed]:
            continue
        members = free & (overlaps[seed] >= CLUSTER_IOU)
        free &= ~members
        if members.sum() >= MIN_WINDOWS and windows[seed, 4] >= MIN_SCORE:
            faces.append((np.median(windows[members, :4], axis=0), int(members.sum())))
    faces.sort(key=lambda face: -face[1])  # stable: ties keep the stronger seed first
    kept: list[tuple[np.ndarray, int]] = []
    for box, count in faces:
        better = np.array([k[0] for k in kept]).reshape(-1, 4)
        if (overlap(box[None], better).max(initial=0) <= DUPLICATE_IOU
                and overlap(box[None], better, inside=True).max(initial=0) <= DUPLICATE_INSIDE):
            kept.append((box, count))
    return kept


def find_with_cascades(photo: Photo, max_faces: int = 5) -> list[Box]:
    """Boxes of the roughly frontal cat faces in a photo, best first, scored by window count.

    Coordinates are pixels of the full-size photo after EXIF rotation; [] when no face is found.
    Bad input raises PhotoError.
    """
    image, fx, fy = load_photo(photo, WORK_SIDE)
    grey, scale = _grey(image)
    windows = _windows(grey, 0.0, WINDOW)
    faces = _faces(windows)
    if not faces or faces[0][1] < CONFIDENT_WINDOWS:
        tilted = [_windows(grey, angle, TILT_WINDOW) for angle in TILTS]
        windows = np.concatenate([windows, *tilted])
        faces = _faces(windows)
    width, height = image.width * fx, image.height * fy
    boxes = []
    for (x0, y0, x1, y1), count in faces[:max_faces]:
        side = y1 - y0
        top = y0 + BOX_SHIFT * side + (1 - BOX_HEIGHT) / 2 * side
        x0, x1 = x0 * fx / scale, x1 * fx / scale
        y0, y1 = top * fy / scale, (top + BOX_HEIGHT * side) * fy / scale
        box = Box(max(0.0, x0), max(0.0, y0), min(width, x1), min(height, y1), count)
        if box[2] > box[0] and box[3] > box[1]:
            boxes.append(box)
    return boxes
