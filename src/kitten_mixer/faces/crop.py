"""Cropping a found face the way the training faces are cropped, straightened when the head
leans."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from kitten_mixer.faces.box import face_square
from kitten_mixer.faces.decode import load_photo
from kitten_mixer.images import Photo

# Crops come from a copy decoded with both sides at least this long (JPEGs only): a face a
# tenth of the photo is then still about 100 pixels wide.
CROP_DECODE_SIDE = 1024
# Heads leaning less than this are cropped upright: turning costs a little sharpness.
MIN_STRAIGHTEN = 5.0


def crop_square(box: tuple[float, ...], width: float, height: float) -> tuple[float, float, float]:
    """The square (centre x, centre y, side) a face box is cropped from, moved inside a
    width x height photo (and shrunk only if the photo is smaller than it)."""
    cx, cy, side = face_square(box)
    side = min(side, width, height)
    # Moving the square in keeps the face's scale; the offset it adds is small in practice.
    cx = min(max(cx, side / 2), width - side / 2)
    cy = min(max(cy, side / 2), height - side / 2)
    return cx, cy, side


def crop_face(photo: Photo, box: tuple[float, ...], size: int | None = 64,
              straighten: bool = True) -> Image.Image:
    """A square RGB crop of the face in `box` (full-size pixels) framed like the training faces,
    turned upright when the box's tilt says the head leans (and `straighten`), resized to
    size x size; size=None keeps the pixels of a full-size decode, upright."""
    image, fx, fy = load_photo(photo, CROP_DECODE_SIDE if size else None)
    cx, cy, side = crop_square(box, image.width * fx, image.height * fy)
    cx, cy, side = cx / fx, cy / fy, side / math.sqrt(fx * fy)
    side = min(side, image.width, image.height)
    if size is None:  # whole pixels, and still square
        whole = max(1, min(round(side), image.width, image.height))
        left = min(max(round(cx - whole / 2), 0), image.width - whole)
        top = min(max(round(cy - whole / 2), 0), image.height - whole)
        return image.crop((left, top, left + whole, top + whole))
    angle = getattr(box, "angle", 0.0) if straighten else 0.0
    if abs(angle) < MIN_STRAIGHTEN:
        square = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
        return image.resize((size, size), Image.Resampling.LANCZOS, box=square, reducing_gap=3.0)
    # Cut the turned square's surroundings at twice the output's scale, turn it upright, and
    # shrink its middle: sharp, and no pixel is resampled from far away.
    reach = side * (abs(math.cos(math.radians(angle))) + abs(math.sin(math.radians(angle))))
    scale = 2 * size / side
    around = _region(image, (cx - reach / 2, cy - reach / 2, cx + reach / 2, cy + reach / 2),
                     max(2 * size, round(reach * scale)))
    upright = around.rotate(angle, Image.Resampling.BICUBIC)
    middle = upright.width / 2
    return upright.resize((size, size), Image.Resampling.LANCZOS,
                          box=(middle - size, middle - size, middle + size, middle + size))


def _region(image: Image.Image, box: tuple[float, float, float, float], size: int) -> Image.Image:
    """The part of the image inside `box`, size x size; outside the photo its edge repeats."""
    pad = math.ceil(max(0.0, -box[0], -box[1], box[2] - image.width, box[3] - image.height))
    if pad:
        image = Image.fromarray(np.pad(np.asarray(image), ((pad, pad), (pad, pad), (0, 0)), "edge"))
        box = tuple(v + pad for v in box)
    return image.resize((size, size), Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)

