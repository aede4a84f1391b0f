"""Whole synthetic photos for the face finder: training faces given a head (fur, ears, a body)
and placed on backgrounds of many kinds (photo regions without a labelled face, blurred or
recoloured, textures and noise made in code, two of them side by side), none to three cats a
photo at 5% to 90% of its longer side, tilted, some cut by the frame, some behind cage bars; then
the photo as a camera and an upload spoil it: blur, exposure, a colour cast, grey, sensor noise
and JPEG at quality 30 to 95."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from kitten_mixer.faces.box import overlap, squares_to_boxes
from kitten_mixer.training.textures import KINDS, colours, random_size, texture

# Faces span this share of the photo's longer side (log-uniform between the two).
FACE_SCALE = (0.05, 0.9)
# Head tilts in degrees, clockwise as seen: most heads nearly upright, none beyond MAX_TILT.
TILT_SPREAD, MAX_TILT = 15.0, 40.0
# A cut face keeps at least this share of its side inside the frame, each way.
MIN_INSIDE = 0.7


@dataclass
class Scene:
    """A synthetic photo, the crop squares (centre x, centre y, side) of its faces, and their
    tilts in degrees (clockwise as seen)."""

    image: Image.Image
    squares: np.ndarray
    tilts: np.ndarray


def _uniform_log(rng: np.random.Generator, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def background(h: int, w: int, photos: list[tuple[Image.Image, np.ndarray]],
               rng: np.random.Generator, kinds: tuple[str, ...] = KINDS) -> Image.Image:
    """A background of h x w: a region of a photo outside its labelled faces (plain, blurred or
    recoloured), a picture of one of `kinds`, or two of these split along a line."""
    if rng.uniform() < 0.3:
        first, second = (background(h, w, photos, rng, kinds) for _ in range(2))
        mask = Image.new("L", (w, h), 0)
        draw = ImageDraw.Draw(mask)
        y0, y1 = rng.uniform(0.2, 0.8, 2) * h
        draw.polygon([(0, y0), (w, y1), (w, h), (0, h)], fill=255)
        return Image.composite(second, first, mask)
    region = _photo_region(h, w, photos, rng) if photos and rng.uniform() < 0.5 else None
    if region is None:
        return Image.fromarray(texture(str(rng.choice(kinds)), h, w, rng))
    if rng.uniform() < 0.25:
        region = region.filter(ImageFilter.GaussianBlur(rng.uniform(1, 6)))
    if rng.uniform() < 0.25:  # recoloured: channels swapped and mixed
        pixels = np.asarray(region, np.float32) / 255
        mix = np.eye(3)[rng.permutation(3)] * 0.7 + rng.uniform(0, 0.3, (3, 3))
        pixels = pixels @ (mix / mix.sum(axis=0, keepdims=True))
        region = Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8))
    return region


def _photo_region(h: int, w: int, photos: list[tuple[Image.Image, np.ndarray]],
                  rng: np.random.Generator) -> Image.Image | None:
    """A region of a random photo that holds none of its labelled faces, resized to h x w."""
    image, squares = photos[int(rng.integers(len(photos)))]
    for _ in range(8):
        share = rng.uniform(0.3, 1.0)
        rw, rh = image.width * share, image.width * share * h / w
        if rh > image.height:
            rw, rh = rw * image.height / rh, image.height
        x0, y0 = rng.uniform(0, image.width - rw), rng.uniform(0, image.height - rh)
        box = np.array([[x0, y0, x0 + rw, y0 + rh]])
        if len(squares) and overlap(squares_to_boxes(squares), box, inside=True).max() > 0.05:
            continue
        region = image.resize((w, h), Image.Resampling.BILINEAR, box=(x0, y0, x0 + rw, y0 + rh),
                              reducing_gap=2.0)
        return ImageOps.mirror(region) if rng.uniform() < 0.5 else region
    return None


def _head(face: Image.Image, side: int, rng: np.random.Generator) -> Image.Image:
    """The face at side x side, in the middle of a patch three times as large, with a head
    drawn around it (fur from the face itself, ears, perhaps a body; soft-edged), as RGBA."""
    size = 3 * side
    centre = size // 2
    # Fur: the face enlarged and blurred, so its colours and stripes carry on around it.
    fur = face.resize((size, size), Image.Resampling.BILINEAR).filter(
        ImageFilter.GaussianBlur(max(1.0, side * rng.uniform(0.03, 0.1))))
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    half_w, half_h = side * rng.uniform(0.6, 0.75), side * rng.uniform(0.55, 0.7)
    top = centre - half_h - side * 0.05
    draw.ellipse([centre - half_w, top, centre + half_w, centre + half_h], fill=255)
    ear = side * rng.uniform(0.3, 0.5)
    if rng.uniform() < 0.85:
        for sign in (-1, 1):
            base = centre + sign * half_w * rng.uniform(0.35, 0.65)
            draw.polygon([(base - ear / 2, top + ear * 0.4), (base + ear / 2, top + ear * 0.4),
                          (base + sign * ear * rng.uniform(0.1, 0.4), top - ear * 0.7)], fill=255)
    if rng.uniform() < 0.6:  # a body below, leaving the patch at its bottom
        body_w = side * rng.uniform(0.7, 1.5)
        draw.ellipse([centre - body_w, centre + side * 0.2, centre + body_w, size + side],
                     fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(max(0.5, side * 0.02)))
    patch = fur.convert("RGBA")
    patch.putalpha(mask)
    patch.alpha_composite(_feathered(face, side, rng), (centre - side // 2, centre - side // 2))
    return patch


def _feathered(face: Image.Image, side: int, rng: np.random.Generator) -> Image.Image:
    """The face at side x side, its corners and edges fading out (rounded), as RGBA; a turned
    head's face is narrower."""
    face = face.resize((side, side), Image.Resampling.BICUBIC)
    if rng.uniform() < 0.3:
        narrow = max(2, int(side * rng.uniform(0.7, 1.0)))
        squeezed = face.resize((narrow, side), Image.Resampling.BICUBIC)
        face = Image.new("RGB", (side, side))
        face.paste(squeezed, ((side - narrow) // 2, 0))
        face.paste(squeezed.resize((1, side)).resize(((side - narrow) // 2 + 1, side)), (0, 0))
        face.paste(squeezed.resize((1, side)).resize(((side - narrow) // 2 + 1, side)),
                   ((side + narrow) // 2, 0))
    scale = 4
    mask = Image.new("L", (side * scale, side * scale), 0)
    inset = side * scale * rng.uniform(0.03, 0.1)
    ImageDraw.Draw(mask).rounded_rectangle(
        [inset, inset, side * scale - inset, side * scale - inset],
        radius=side * scale * rng.uniform(0.1, 0.4), fill=255)
    mask = mask.resize((side, side), Image.Resampling.BILINEAR).filter(
        ImageFilter.GaussianBlur(max(0.5, side * rng.uniform(0.03, 0.08))))
    out = face.convert("RGBA")
    out.putalpha(mask)
    return out


def _place(scene: Image.Image, face: Image.Image, side: int, tilt: float,
           centre: tuple[float, float], rng: np.random.Generator) -> None:
    """Draw the face (with a head, mostly) on the scene, its square's centre at `centre`, turned
    `tilt` degrees clockwise."""
    patch = _head(face, side, rng) if rng.uniform() < 0.75 else _feathered(face, side, rng)
    if rng.uniform() < 0.5:
        patch = ImageOps.mirror(patch)
    patch = patch.rotate(-tilt, Image.Resampling.BICUBIC, expand=True)
    scene.paste(patch, (round(centre[0] - patch.width / 2), round(centre[1] - patch.height / 2)),
                patch)


def make_scene(faces: torch.Tensor, photos: list[tuple[Image.Image, np.ndarray]],
               rng: np.random.Generator, kinds: tuple[str, ...] = KINDS,
               cats: int | None = None) -> Scene:
    """One synthetic photo with `cats` faces (by default none to three, mostly one) from `faces`
    (uint8 [N, 3, H, W]) on a background of `photos` (image, its labelled face squares) or of
    `kinds`."""
    h, w = random_size(rng, 240, 640)
    scene = background(h, w, photos, rng, kinds).convert("RGB")
    if cats is None:
        cats = int(rng.choice(4, p=[0.12, 0.6, 0.18, 0.1]))
    squares: list[tuple[float, float, float]] = []
    tilts: list[float] = []
    for _ in range(cats):
        for _ in range(10):  # a place where it hides no other face
            share = _uniform_log(rng, FACE_SCALE[0], FACE_SCALE[1] / (1 + 0.5 * (cats > 1)))
            side = max(8, round(share * max(h, w)))
            if side > min(h, w) / MIN_INSIDE:
                continue
            cut = rng.uniform() < 0.15 or side > min(h, w)
            lo = side * (0.5 - (1 - MIN_INSIDE) if cut else 0.5)
            cx, cy = rng.uniform(lo, w - lo), rng.uniform(lo, h - lo)
            square = np.array([[cx, cy, side]])
            if _too_close(square, squares):
                continue
            tilt = float(np.clip(rng.normal(0, TILT_SPREAD), -MAX_TILT, MAX_TILT))
            face = Image.fromarray(faces[int(rng.integers(len(faces)))].permute(1, 2, 0).numpy())
            _place(scene, face, side, tilt, (cx, cy), rng)
            squares.append((cx, cy, side))
            tilts.append(tilt)
            break
    if rng.uniform() < 0.08:
        _bars(scene, rng)
    return Scene(spoil(scene, rng), np.array(squares, float).reshape(-1, 3), np.array(tilts))


def _too_close(square: np.ndarray, squares: list[tuple[float, float, float]]) -> bool:
    """Whether a face's head would cover another face: heads are about 1.5 faces wide."""
    if not squares:
        return False
    others = np.array(squares)
    grown = square * [1, 1, 1.6]
    return bool(overlap(squares_to_boxes(grown), squares_to_boxes(others * [1, 1, 1.6])).max()
                > 0.0)


def _bars(scene: Image.Image, rng: np.random.Generator) -> None:
    """Cage bars or a wire mesh in front of everything."""
    draw = ImageDraw.Draw(scene)
    colour = tuple(int(c * 255) for c in colours(rng, 1)[0])
    gap = max(6, int(max(scene.size) * rng.uniform(0.04, 0.15)))
    width = max(1, int(gap * rng.uniform(0.05, 0.25)))
    offset = int(rng.integers(gap))
    for x in range(offset, scene.width, gap):
        draw.line([(x, 0), (x, scene.height)], fill=colour, width=width)
    if rng.uniform() < 0.4:
        for y in range(offset, scene.height, gap):
            draw.line([(0, y), (scene.width, y)], fill=colour, width=width)


def spoil(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The photo as cameras and uploads spoil it, each step or not: low resolution, blur,
    exposure (under or over), a colour cast, grey, sensor noise, JPEG at quality 30 to 95."""
    w, h = image.size
    if rng.uniform() < 0.2:  # a small camera's pixels, enlarged
        factor = rng.uniform(1.3, 3.0)
        image = image.resize((max(8, round(w / factor)), max(8, round(h / factor))),
                             Image.Resampling.BILINEAR, reducing_gap=2.0).resize(
            (w, h), Image.Resampling.BILINEAR)
    if rng.uniform() < 0.25:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 2.0)))
    pixels = np.asarray(image, np.float32) / 255
    exposure = math.exp(rng.normal(0, 0.25))
    if rng.uniform() < 0.15:  # under-exposed
        exposure *= rng.uniform(0.25, 0.6)
    elif rng.uniform() < 0.12:  # over-exposed: the light parts burn out
        exposure *= rng.uniform(1.5, 2.5)
    cast = np.exp(rng.normal(0, 0.08, 3))
    if rng.uniform() < 0.2:  # lamp light or shade
        cast *= np.array([1.25, 1.0, 0.7]) if rng.uniform() < 0.6 else np.array([0.85, 1.0, 1.2])
    pixels = pixels ** math.exp(rng.normal(0, 0.15)) * exposure * cast
    if rng.uniform() < 0.1:
        pixels = np.repeat(pixels.mean(axis=2, keepdims=True), 3, axis=2)
    if rng.uniform() < 0.35:  # sensor noise: grain in the light, coloured blotches in the dark
        sigma = rng.uniform(0.01, 0.08)
        grain = rng.normal(0, sigma, (h, w, 1)) + rng.normal(0, sigma * 0.5, (h, w, 3))
        pixels = pixels + grain * np.sqrt(np.clip(pixels, 0.02, 1))
    image = Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8))
    if rng.uniform() < 0.7:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=int(rng.integers(30, 96)))
        image = Image.open(buffer).convert("RGB")
    return image
