"""Photos decoded as small as the finder allows, with the factors back to full-size pixels."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

from PIL import Image

from kitten_mixer.images import Photo, open_photo


def _read(photo: Photo) -> tuple[Photo, str | None]:
    """A path's bytes, so that their header can be read too, and its name for messages."""
    if isinstance(photo, (str, os.PathLike)):
        path = Path(photo)
        if path.is_file():
            return path.read_bytes(), str(photo)
        return photo, str(photo)  # open_photo will say "no such file"
    return photo, None


def load_photo(photo: Photo, reduce_to: int | None) -> tuple[Image.Image, float, float]:
    """The photo as RGB, decoded smaller where JPEG allows it (both sides at least `reduce_to`),
    and the factors from its pixels to those of the full-size photo (after EXIF rotation)."""
    photo, name = _read(photo)
    image = open_photo(photo, name, reduce_to=reduce_to)
    if not isinstance(photo, (bytes, bytearray)):
        return image, 1.0, 1.0  # PIL images and arrays are never reduced
    try:
        with warnings.catch_warnings():  # open_photo has already applied its size limit
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(photo)) as header:
                width, height = header.size
    except Exception:  # open_photo could read it, so this cannot really happen
        return image, 1.0, 1.0
    # EXIF rotation may have swapped the sides: the orientation whose shape matches is right.
    aspect = image.width / image.height
    if abs(height / width - aspect) < abs(width / height - aspect):
        width, height = height, width
    return image, width / image.width, height / image.height
