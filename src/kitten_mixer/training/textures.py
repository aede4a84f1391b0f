"""Pictures made in code that hold no cat: noise of several spectra, flat colours, gradients,
stripes, checks, cells, waves, fur-like streaks and scribbles, and cartoon cat faces (a drawing
is not a photo of a cat). The face finder learns from them as backgrounds and as faces' false
look-alikes, and its benchmark and tests check that it finds no face in them."""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

# Kinds the finder learns from. HELD_OUT kinds are never learned from: faces pasted on them
# measure how the finder does on backgrounds it has never seen (benchmarks/face_finder.py).
KINDS = ("flat", "gradient", "white", "pink", "brown", "blocks", "stripes", "checks", "plaid",
         "fur", "dots", "text", "scribble", "cartoon")
HELD_OUT = ("cells", "waves")
# What the noise benchmark draws from: noise, flat colours and textures (no drawings).
NOISE_KINDS = ("flat", "gradient", "white", "pink", "brown", "blocks", "stripes", "checks",
               "plaid", "fur", "dots", "text", "cells", "waves")


def colours(rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` random colours in [0, 1]: half of the time any colour, else a muted one (browns,
    greys, creams: the colours of rooms and fur)."""
    if rng.uniform() < 0.5:
        return rng.uniform(0, 1, (n, 3))
    grey = rng.uniform(0.05, 0.95, (n, 1))
    return np.clip(grey + rng.normal(0, 0.08, (n, 3)) + np.array([0.05, 0.0, -0.05]), 0, 1)


def _unit(x: np.ndarray) -> np.ndarray:
    lo, hi = x.min(), x.max()
    return (x - lo) / max(hi - lo, 1e-9)


def _spectral(h: int, w: int, beta: float, channels: int, rng: np.random.Generator) -> np.ndarray:
    """Noise whose power falls as 1 / f^beta: white (0), like a natural image (2), smoother
    (more); [h, w, c] in [0, 1]."""
    spectrum = np.fft.rfft2(rng.normal(size=(channels, h, w)))
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None]
    radius = np.sqrt(fx**2 + fy**2)
    radius[0, 0] = 1.0
    field = np.fft.irfft2(spectrum / radius ** (beta / 2), s=(h, w))
    return _unit(np.moveaxis(field, 0, -1))


def _paint(field: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A grey field [h, w, 1] in [0, 1] coloured: grey, between two colours, or as it is."""
    if field.shape[-1] == 3:
        return field
    a, b = colours(rng, 2)
    if rng.uniform() < 0.3:
        return np.repeat(field, 3, axis=-1)
    return a + field * (b - a)


def _grid(h: int, w: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates turned by a random angle, in units of the image's longer side."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    angle = rng.uniform(0, math.pi)
    return xx * math.cos(angle) + yy * math.sin(angle), -xx * math.sin(angle) + yy * math.cos(angle)


def _square_wave(u: np.ndarray, period: float, duty: float) -> np.ndarray:
    return ((u / period) % 1.0 < duty).astype(np.float64)


def texture(kind: str, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A picture of one kind, uint8 [h, w, 3]."""
    channels = 3 if rng.uniform() < 0.5 else 1
    if kind == "flat":
        out = np.broadcast_to(colours(rng, 1)[0], (h, w, 3))
    elif kind == "gradient":
        u, v = _grid(h, w, rng)
        if rng.uniform() < 0.4:  # radial
            u = np.sqrt((u - rng.uniform(-0.5, 1)) ** 2 + (v - rng.uniform(-0.5, 1)) ** 2)
        a, b = colours(rng, 2)
        out = a + _unit(u)[..., None] * (b - a)
    elif kind in ("white", "pink", "brown"):
        beta = {"white": 0.0, "pink": 2.0, "brown": 3.5}[kind] + rng.uniform(-0.4, 0.4)
        out = _paint(_spectral(h, w, max(beta, 0.0), channels, rng), rng)
    elif kind == "blocks":  # coarse noise: pixelated, as a camera or a screen may show it
        block = int(rng.integers(2, 48))
        small = rng.uniform(0, 1, (h // block + 1, w // block + 1, channels))
        out = _paint(np.kron(small, np.ones((block, block, 1)))[:h, :w], rng)
    elif kind in ("stripes", "checks", "plaid"):
        u, v = _grid(h, w, rng)
        period = math.exp(rng.uniform(math.log(0.01), math.log(0.3)))
        duty = rng.uniform(0.2, 0.8)
        if kind == "stripes":
            smooth = rng.uniform() < 0.4
            field = (np.sin(2 * math.pi * u / period) + 1) / 2 if smooth else _square_wave(
                u, period, duty)
        elif kind == "checks":
            field = np.abs(_square_wave(u, period, 0.5) - _square_wave(v, period, 0.5))
        else:
            field = (_square_wave(u, period, duty) + _square_wave(v, period * rng.uniform(
                0.5, 2), duty) + 0.5 * _square_wave(u, period / 3, 0.3)) / 2.5
        out = _paint(field[..., None], rng)
    elif kind == "fur":  # streaks along one direction, like fur, carpet or wood
        side = int(math.hypot(h, w)) + 2  # turned, a square this large still covers the image
        length = int(rng.integers(3, 15))
        field = _spectral(side, max(side // length, 2), 2.0, 1, rng)[..., 0]
        image = Image.fromarray((field * 255).astype(np.uint8)).resize(
            (side, side), Image.Resampling.BILINEAR).rotate(rng.uniform(0, 180),
                                                            Image.Resampling.BILINEAR)
        left, top = (side - w) // 2, (side - h) // 2
        field = np.asarray(image.crop((left, top, left + w, top + h)), np.float64) / 255
        if rng.uniform() < 0.5:  # tabby bands
            u, _ = _grid(h, w, rng)
            field = 0.6 * field + 0.4 * _square_wave(u + 0.05 * field, rng.uniform(0.05, 0.2),
                                                     0.5)
        out = _paint(_unit(field)[..., None], rng)
    elif kind == "cells":  # Voronoi cells of random colours, like tiles or pebbles
        count = int(rng.integers(6, 120))
        centres = rng.uniform(0, 1, (count, 2)) * [h, w]
        yy, xx = np.mgrid[0:h:4, 0:w:4]
        nearest = ((yy[..., None] - centres[:, 0]) ** 2
                   + (xx[..., None] - centres[:, 1]) ** 2).argmin(axis=-1)
        small = colours(rng, count)[nearest]
        out = np.kron(small, np.ones((4, 4, 1)))[:h, :w]
    elif kind == "waves":  # marbled: sines bent by noise
        u, v = _grid(h, w, rng)
        bend = _spectral(h, w, 3.5, 1, rng)[..., 0]
        field = (np.sin(2 * math.pi * (u * rng.uniform(2, 20) + rng.uniform(1, 6) * bend)) + 1) / 2
        out = _paint(field[..., None], rng)
    elif kind in ("dots", "text"):
        out = np.asarray(_dots(h, w, rng) if kind == "dots" else _text(h, w, rng),
                         np.float64) / 255
    elif kind == "scribble":
        out = np.asarray(_scribble(h, w, rng), np.float64) / 255
    elif kind == "cartoon":
        out = np.asarray(cartoon_cat(h, w, rng), np.float64) / 255
    else:
        raise ValueError(f"no texture kind {kind!r}")
    return (np.clip(out, 0, 1) * 255).astype(np.uint8)


def _fill(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(c * 255) for c in colours(rng, 1)[0])


def _scribble(h: int, w: int, rng: np.random.Generator) -> Image.Image:
    """Lines, rectangles, ellipses and polygons of random colours on a plain or noisy ground."""
    ground = "gradient" if rng.uniform() < 0.5 else "flat"
    image = Image.fromarray(texture(ground, h, w, rng))
    draw = ImageDraw.Draw(image)
    side = max(h, w)
    for _ in range(int(rng.integers(3, 30))):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        r = side * math.exp(rng.uniform(math.log(0.01), math.log(0.4)))
        shape = rng.integers(4)
        if shape == 0:
            draw.line([(x, y), (x + rng.uniform(-1, 1) * r * 2, y + rng.uniform(-1, 1) * r * 2)],
                      fill=_fill(rng), width=int(rng.integers(1, 8)))
        elif shape == 1:
            draw.rectangle([x - r, y - r * rng.uniform(0.3, 1), x + r, y + r], fill=_fill(rng))
        elif shape == 2:
            draw.ellipse([x - r, y - r * rng.uniform(0.3, 1), x + r, y + r], fill=_fill(rng))
        else:
            points = [(x + r * rng.uniform(-1, 1), y + r * rng.uniform(-1, 1)) for _ in range(3)]
            draw.polygon(points, fill=_fill(rng))
    return image


def _ground(h: int, w: int, rng: np.random.Generator) -> Image.Image:
    kind = ("flat", "gradient", "pink", "white", "stripes")[int(rng.integers(5))]
    return Image.fromarray(texture(kind, h, w, rng))


def _dots(h: int, w: int, rng: np.random.Generator) -> Image.Image:
    """Spots of one size or many, some in pairs like eyes: polka dots, leopard print, pebbles."""
    image = _ground(h, w, rng)
    draw = ImageDraw.Draw(image)
    radius = max(h, w) * math.exp(rng.uniform(math.log(0.005), math.log(0.08)))
    pairs = rng.uniform() < 0.4
    for _ in range(int(rng.integers(5, 200))):
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        r = radius * rng.uniform(0.5, 1.5)
        fill, squash = _fill(rng), rng.uniform(0.5, 1)
        for dx in ((-1.5 * r, 1.5 * r) if pairs else (0,)):
            draw.ellipse([x + dx - r, y - r * squash, x + dx + r, y + r * squash], fill=fill)
    return image


def _text(h: int, w: int, rng: np.random.Generator) -> Image.Image:
    """Lines of random letters and digits, as on posters, packets and adoption flyers."""
    image = _ground(h, w, rng)
    draw = ImageDraw.Draw(image)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,!?"
    for _ in range(int(rng.integers(2, 25))):
        size = int(max(h, w) * math.exp(rng.uniform(math.log(0.02), math.log(0.25))))
        font = ImageFont.load_default(size=max(size, 6))
        line = "".join(rng.choice(list(letters), int(rng.integers(3, 30))))
        draw.text((rng.uniform(-0.2, 0.9) * w, rng.uniform(-0.1, 0.95) * h), line,
                  fill=_fill(rng), font=font)
    return image


def cartoon_cat(h: int, w: int, rng: np.random.Generator) -> Image.Image:
    """One to three drawn cat faces (a disc or an oval, triangles for ears, dots or ovals for
    eyes, a nose, whiskers), flat or outlined, on a plain, noisy or scribbled ground: a toy or a
    drawing, not a photo of a cat."""
    ground = ("flat", "gradient", "pink", "scribble")[int(rng.integers(4))]
    image = Image.fromarray(texture(ground, h, w, rng))
    scale = 4  # drawn large and shrunk: smooth edges
    layer = Image.new("RGBA", (w * scale, h * scale), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for _ in range(int(rng.integers(1, 4))):
        side = min(h, w) * scale * math.exp(rng.uniform(math.log(0.12), math.log(0.8)))
        cx, cy = rng.uniform(0.1, 0.9) * w * scale, rng.uniform(0.15, 0.95) * h * scale
        _draw_cat(draw, cx, cy, side, rng)
    layer = layer.resize((w, h), Image.Resampling.LANCZOS)
    if rng.uniform() < 0.5:
        layer = layer.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.5)))
    image.paste(layer, (0, 0), layer)
    return image


def _draw_cat(draw: ImageDraw.ImageDraw, cx: float, cy: float, side: float,
              rng: np.random.Generator) -> None:
    fur, eye, outline = _fill(rng), _fill(rng), _fill(rng) if rng.uniform() < 0.6 else None
    width = max(1, int(side * rng.uniform(0.01, 0.04)))
    half_w, half_h = side / 2, side / 2 * rng.uniform(0.75, 1.05)
    ear = side * rng.uniform(0.25, 0.5)
    for sign in (-1, 1):  # ears: triangles on the head's top corners
        base = cx + sign * half_w * rng.uniform(0.35, 0.75)
        points = [(base - ear / 2, cy - half_h * 0.6), (base + ear / 2, cy - half_h * 0.6),
                  (base + sign * ear * rng.uniform(0, 0.4), cy - half_h - ear * 0.6)]
        draw.polygon(points, fill=fur, outline=outline, width=width)
    if rng.uniform() < 0.7:
        draw.ellipse([cx - half_w, cy - half_h, cx + half_w, cy + half_h], fill=fur,
                     outline=outline, width=width)
    else:  # a rounded square head
        draw.rounded_rectangle([cx - half_w, cy - half_h, cx + half_w, cy + half_h],
                               radius=side * 0.2, fill=fur, outline=outline, width=width)
    gap, ey = side * rng.uniform(0.15, 0.3), cy - half_h * rng.uniform(0.0, 0.3)
    r = side * rng.uniform(0.04, 0.14)
    for sign in (-1, 1):
        x = cx + sign * gap
        draw.ellipse([x - r, ey - r * rng.uniform(0.6, 1.3), x + r, ey + r], fill=eye)
        if rng.uniform() < 0.6:  # a pupil
            p = r * rng.uniform(0.2, 0.6)
            draw.ellipse([x - p * 0.6, ey - p, x + p * 0.6, ey + p], fill=(10, 10, 10))
    ny, n = cy + half_h * rng.uniform(0.15, 0.35), side * rng.uniform(0.03, 0.08)
    draw.polygon([(cx - n, ny - n / 2), (cx + n, ny - n / 2), (cx, ny + n / 2)], fill=_fill(rng))
    if rng.uniform() < 0.7:  # whiskers
        for sign in (-1, 1):
            for k in range(3):
                draw.line([(cx + sign * n * 2, ny + (k - 1) * n),
                           (cx + sign * half_w * rng.uniform(0.9, 1.4), ny + (k - 1) * n * 3)],
                          fill=outline or (20, 20, 20), width=max(1, width // 2))


def random_size(rng: np.random.Generator, low: int = 240, high: int = 800) -> tuple[int, int]:
    """A photo's (height, width): its long side between `low` and `high`, a photo's aspect."""
    long = int(rng.integers(low, high + 1))
    aspect = (1.0, 4 / 3, 3 / 2, 16 / 9)[int(rng.integers(4))]
    short = int(round(long / aspect))
    return (long, short) if rng.uniform() < 0.3 else (short, long)


def noise_photos(count: int, seed: int, jpeg_share: float = 0.3) -> list[Image.Image | bytes]:
    """`count` seeded pictures of noise, flat colours and textures as photos are uploaded
    (PIL images, some JPEG bytes), the kinds taken in turn: the noise benchmark's images."""
    rng = np.random.default_rng([seed, 7919])
    out: list[Image.Image | bytes] = []
    for i in range(count):
        kind = NOISE_KINDS[i % len(NOISE_KINDS)]
        h, w = random_size(rng)
        image = Image.fromarray(texture(kind, h, w, rng))
        if rng.uniform() < jpeg_share:
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=int(rng.integers(30, 96)))
            out.append(buffer.getvalue())
        else:
            out.append(image)
    return out


def cartoon_photos(count: int, seed: int) -> list[Image.Image]:
    """`count` seeded pictures of cartoon cats, 240 to 600 pixels a side: the noise benchmark's
    drawings (the first of them for a smaller count)."""
    rng = np.random.default_rng([seed, 2])
    return [cartoon_cat(int(rng.integers(240, 600)), int(rng.integers(240, 600)), rng)
            for _ in range(count)]
