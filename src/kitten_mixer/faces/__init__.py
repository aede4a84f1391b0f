"""Finding cat faces in ordinary photos, and cropping them the way the training faces are cropped.

A small network proposes face squares all over an image pyramid; a second one checks each
proposal, refines its square and reads the head's tilt (learned.py, trained by training.py).
docs/faces.md gives the method and the measured numbers.
"""

from __future__ import annotations

import math

from PIL import Image

from kitten_mixer.faces.box import Box, square_box
from kitten_mixer.faces.crop import crop_face
from kitten_mixer.faces.decode import load_photo
from kitten_mixer.faces.learned import DECODE_SIDE, default_finder
from kitten_mixer.images import Photo, centre_crop, open_photo

__all__ = ["Box", "crop_face", "face_or_centre", "find_cat_faces"]


def find_cat_faces(photo: Photo, max_faces: int = 5) -> list[Box]:
    """Boxes of the roughly frontal cat faces in a photo, best first, each with its score.

    Coordinates are pixels of the full-size photo after EXIF rotation; [] when no face is found.
    Bad input raises PhotoError.
    """
    image, fx, fy = load_photo(photo, DECODE_SIDE)
    width, height = image.width * fx, image.height * fy
    boxes = []
    for cx, cy, side, score, angle in default_finder().find(image)[:max_faces]:
        x0, y0, x1, y1 = square_box(cx * fx, cy * fy, side * math.sqrt(fx * fy))
        box = Box(max(0.0, x0), max(0.0, y0), min(width, x1), min(height, y1), score, angle)
        if box[2] > box[0] and box[3] > box[1]:
            boxes.append(box)
    return boxes


def face_or_centre(photo: Photo, size: int = 64) -> tuple[Image.Image, Box | None]:
    """The crop of the best face with its box, or the centre crop and None when there is none."""
    faces = find_cat_faces(photo, max_faces=1)
    if faces:
        return crop_face(photo, faces[0], size), faces[0]
    return centre_crop(open_photo(photo), size), None
