"""Finding cat faces in ordinary photos, and cropping them the way the training faces are cropped.

A small network proposes face squares all over an image pyramid; a second one checks each
proposal, refines its square and reads the head's tilt (learned.py, trained by training.py).
docs/faces.md gives the method and the measured numbers.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from typing import NamedTuple

import numpy as np
from PIL import Image

from kitten_mixer.faces.box import Box, square_box
from kitten_mixer.faces.crop import crop_face
from kitten_mixer.faces.decode import load_photo
from kitten_mixer.faces.learned import DECODE_SIDE, default_finder
from kitten_mixer.images import Photo, centre_crop, open_photo

__all__ = ["Box", "FaceCrop", "crop_face", "face_or_centre", "find_cat_faces", "guess_cat_face",
           "is_face_crop", "look_for_cat_faces"]


def find_cat_faces(photo: Photo, max_faces: int = 5) -> list[Box]:
    """Boxes of the roughly frontal cat faces in a photo, best first, each with its score.

    Coordinates are pixels of the full-size photo after EXIF rotation; [] when no face is found.
    Bad input raises PhotoError.
    """
    image, fx, fy = load_photo(photo, DECODE_SIDE)
    return _boxes(default_finder().find(image)[:max_faces], image, fx, fy)


def guess_cat_face(photo: Photo) -> Box | None:
    """Where a cat's face most likely is in a photo where `find_cat_faces` finds none: the
    square the finder's first checks rate best, though not enough to call it a face (a place to
    start framing the face by hand, not a face found); None when nothing looks like one.
    Bad input raises PhotoError."""
    image, fx, fy = load_photo(photo, DECODE_SIDE)
    face = default_finder().guess(image)
    return None if face is None else _box(face, image, fx, fy)


def look_for_cat_faces(photo: Photo, max_faces: int = 5) -> tuple[list[Box], Box | None]:
    """`find_cat_faces`' boxes and, when there are none, `guess_cat_face`'s guess (else None),
    from one pass of the finder: the guess costs little more than the search (what the app
    calls for an upload)."""
    image, fx, fy = load_photo(photo, DECODE_SIDE)
    faces, guess = default_finder().look(image)
    return _boxes(faces[:max_faces], image, fx, fy), \
        None if guess is None else _box(guess, image, fx, fy)


def _boxes(faces: list[tuple[float, ...]], image: Image.Image, fx: float, fy: float
           ) -> list[Box]:
    """The finder's faces as Boxes of the full-size photo (`_box`), those inside it."""
    boxes = [_box(face, image, fx, fy) for face in faces]
    return [box for box in boxes if box is not None]


def _box(face: tuple[float, ...], image: Image.Image, fx: float, fy: float) -> Box | None:
    """A finder's face (centre x, centre y, side, score, tilt in the image's pixels) as a Box
    in the full-size photo's (kept inside it); None if nothing of it is inside."""
    cx, cy, side, score, angle = face
    x0, y0, x1, y1 = square_box(cx * fx, cy * fy, side * math.sqrt(fx * fy))
    width, height = image.width * fx, image.height * fy
    box = Box(max(0.0, x0), max(0.0, y0), min(width, x1), min(height, y1), score, angle)
    return box if box[2] > box[0] and box[3] > box[1] else None


class FaceCrop(NamedTuple):
    """A photo cropped for the model: the face, its box in the full-size photo (None for a
    centre crop), and whether the finder looked for a face."""

    image: Image.Image
    box: Box | None
    sought: bool

    @property
    def missed(self) -> bool:
        """The finder looked and found no face: the crop is the photo's centre."""
        return self.sought and self.box is None


def face_or_centre(photo: Photo, size: int | tuple[int, int] = 64, find: bool = True
                   ) -> FaceCrop:
    """The one way a photo becomes a face for the model (library, command line and app).

    A whole-scene photo is cropped around its best cat face, framed and straightened like the
    training faces; with no face found, its centre crop is used. A photo no larger than twice
    `size` is a face crop already (a training face, a gallery crop) and is centre-cropped as it
    is, and so is every photo when `find` is False. Faces are square: for a size (height,
    width) that is not, every photo is centre-cropped. Bad input raises PhotoError.
    """
    side = size if isinstance(size, int) else size[0] if size[0] == size[1] else None
    if find and side is not None and not is_face_crop(photo, side):
        faces = find_cat_faces(photo, max_faces=1)
        if faces:
            return FaceCrop(crop_face(photo, faces[0], side), faces[0], True)
        return FaceCrop(centre_crop(open_photo(photo), size), None, True)
    return FaceCrop(centre_crop(open_photo(photo), size), None, False)


def is_face_crop(photo: Photo, size: int) -> bool:
    """Whether the photo is a face crop already (a training face, a gallery crop), which is
    never searched: its longer side is at most twice `size` (read from its header only)."""
    if isinstance(photo, Image.Image):
        return max(photo.size) <= 2 * size
    if isinstance(photo, np.ndarray):
        return max(photo.shape[:2]) <= 2 * size
    try:
        source = io.BytesIO(photo) if isinstance(photo, (bytes, bytearray)) else os.fspath(photo)
        with warnings.catch_warnings():  # a huge photo is the decoder's to refuse
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source) as header:
                return max(header.size) <= 2 * size
    except Exception:  # not an image: the finder's decoder says what is wrong with it
        return False
