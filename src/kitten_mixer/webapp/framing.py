"""A face framed by hand: when the finder missed the cat's face in an upload, or boxed the wrong
thing, the visitor moves, sizes and turns a square over the photo, and the upload stands for
what is inside it. Plain Python, like core.py; the panel and its sliders are in upload_panel.py.

A `Frame` is the square a face is cropped from (the crop square of faces/box.py), given in
shares of the photo, so that it reads the same on the small preview and the full-size photo.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import replace
from typing import NamedTuple

from PIL import Image, ImageDraw

from kitten_mixer.faces import Box, crop_face
from kitten_mixer.faces.box import square_box
from kitten_mixer.faces.crop import crop_square
from kitten_mixer.webapp.core import (
    Cat,
    Resources,
    Upload,
    boxed,
    photo_size,
    short_name,
    upload_key,
)

# The square framed by hand is drawn in this colour (the finder's faces: red and blue).
FRAME_COLOUR = (250, 200, 0)
# Its side, in shares of the photo's shorter side: from a small face to the whole photo.
MIN_SIDE = 0.05
# An upload framed by hand stands for no face of the finder's: its `picked`.
FRAMED = -1
# The sliders that set a frame: its centre and side in percent (of the photo's width, height
# and shorter side) and its tilt in degrees, each from low to high, in steps of STEP.
SLIDERS = {"x": (0.0, 100.0), "y": (0.0, 100.0), "side": (100 * MIN_SIDE, 100.0),
           "angle": (-90.0, 90.0)}
STEP = 0.5


class Frame(NamedTuple):
    """A square over a photo: its centre in shares of the photo's width and height, its side in
    shares of the shorter side, and the head's tilt in degrees (clockwise as seen, as a Box's:
    the crop turns it upright)."""

    x: float = 0.5
    y: float = 0.5
    side: float = 1.0
    angle: float = 0.0

    @classmethod
    def from_sliders(cls, values: dict[str, float]) -> Frame:
        """The frame that SLIDERS set to `values` show."""
        return cls(values["x"] / 100, values["y"] / 100, values["side"] / 100, values["angle"])

    def sliders(self) -> dict[str, float]:
        """SLIDERS' values that show this frame (within their ranges, on their steps)."""
        values = {"x": self.x * 100, "y": self.y * 100, "side": self.side * 100,
                  "angle": self.angle}
        return {part: round(min(max(values[part], low), high) / STEP) * STEP
                for part, (low, high) in SLIDERS.items()}

    def box(self, width: float, height: float) -> Box:
        """The face box, in pixels of a width x height photo, whose crop square this is."""
        short = min(width, height)
        side = min(max(self.side, MIN_SIDE), 1.0) * short
        return Box(*square_box(self.x * width, self.y * height, side), 1.0, self.angle)


def frame_of(upload: Upload, width: float, height: float) -> Frame:
    """Where framing the upload's face starts (width x height: the full-size photo's): the
    square its crop is cut from now, the face it stands for; with none found, where the finder
    guesses one is (`faces.guess_cat_face`), and with no guess either the photo's centre (its
    centre crop)."""
    box = upload.box or upload.guess
    if box is None:
        return Frame()
    cx, cy, side = crop_square(box, width, height)
    return Frame(cx / width, cy / height, side / min(width, height), box.angle)


def frame_face(resources: Resources, upload: Upload, data: bytes, frame: Frame) -> Upload:
    """The upload standing for the square framed by hand: it alone is cropped from the photo
    (`data`, the upload's file), straightened by the frame's tilt, and encoded; the preview
    shows it beside the faces the finder found. The same upload if it stands for this frame
    already, or has no cat."""
    if upload.cat is None or upload.frame == frame:
        return upload
    width, height = photo_size(data)
    size = resources.mixer.image_size[1]
    box = frame.box(width, height)
    face = crop_face(data, box, size)
    # The same square framed again is the same cat (the key of the photo and of the frame).
    square = f"{frame.x:.4f},{frame.y:.4f},{frame.side:.4f},{frame.angle:.1f}"
    key = f"{upload_key(data)}:frame-{hashlib.sha256(square.encode()).hexdigest()[:8]}"
    code = resources.mixer.encode(face, find=False)[0]
    cat = Cat(key, f"{short_name(upload.name)} (+)", code, face, "upload")
    preview = framed_preview(upload, frame, width, height)
    return replace(upload, cat=cat, box=box, picked=FRAMED, frame=frame, preview=preview)


def framed_preview(upload: Upload, frame: Frame, width: float, height: float,
                   found: bool = True) -> Image.Image:
    """The upload's small photo with the frame's square (where the crop is really cut: moved
    inside the photo, turned) drawn over the faces found, boxed as on its preview (`found`)."""
    preview = boxed(upload.photo, upload.boxes if found else (), width)
    scale = preview.width / width
    cx, cy, side = crop_square(frame.box(width, height), width, height)
    turn = math.radians(frame.angle)
    corners = []
    for dx, dy in ((-1, -1), (1, -1), (1, 1), (-1, 1)):  # turned clockwise as seen
        x, y = dx * side / 2, dy * side / 2
        corners.append(((cx + x * math.cos(turn) - y * math.sin(turn)) * scale,
                        (cy + x * math.sin(turn) + y * math.cos(turn)) * scale))
    ImageDraw.Draw(preview).polygon(corners, outline=FRAME_COLOUR,
                                    width=max(2, preview.width // 100))
    return preview


def framed_face(data: bytes, frame: Frame, size: int) -> Image.Image:
    """What the model would read in the frame: its crop, size x size."""
    width, height = photo_size(data)
    return crop_face(data, frame.box(width, height), size)

