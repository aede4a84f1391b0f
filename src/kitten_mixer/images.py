"""Turning photos of any kind into the 64x64 RGB faces the model reads, and back."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from kitten_mixer.errors import PhotoError

Photo = Union[str, os.PathLike, bytes, Image.Image, np.ndarray]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp"})
# Refuse absurd images before decoding them: a 50-megapixel photo is fine, a decompression
# bomb is not. Pillow's own guard warns at ~89 MP and only fails at twice that.
MAX_PIXELS = 120_000_000
# Anything smaller cannot hold a recognisable face.
MIN_SIDE = 8


def open_photo(photo: Photo, name: str | None = None, reduce_to: int | None = 256) -> Image.Image:
    """Read a photo from a path, bytes, a PIL image or an array, as an RGB PIL image.

    `reduce_to` lets a JPEG decode at a fraction of its size, keeping both sides at least that
    long: a 50-megapixel photo then costs no more than a small one. None keeps every pixel.
    """
    label = name or (str(photo) if isinstance(photo, (str, os.PathLike)) else "photo")
    if isinstance(photo, Image.Image):
        image = photo
    elif isinstance(photo, np.ndarray):
        return _array_to_image(photo, label)
    elif isinstance(photo, (bytes, bytearray)):
        image = _decode(io.BytesIO(photo), label, reduce_to)
    elif isinstance(photo, (str, os.PathLike)):
        path = Path(photo)
        if not path.is_file():
            raise PhotoError(f"{label}: no such file", "missing")
        try:
            data = path.read_bytes()
        except OSError as e:
            raise PhotoError(f"{label}: cannot be read ({e.strerror or e})", "missing") from None
        image = _decode(io.BytesIO(data), label, reduce_to)
    else:
        raise PhotoError(f"{label}: expected a path, bytes, a PIL image or an array, "
                         f"got {type(photo).__name__}", "type")
    return _to_rgb(image, label)


def _decode(stream: io.BytesIO, label: str, reduce_to: int | None) -> Image.Image:
    if stream.getbuffer().nbytes == 0:
        raise PhotoError(f"{label}: the file is empty", "empty")
    try:
        with warnings.catch_warnings():  # we apply our own, lower, size limit just below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(stream)
    except UnidentifiedImageError:
        raise PhotoError(f"{label}: not an image Pillow can read", "not-image") from None
    except Image.DecompressionBombError:
        raise PhotoError(f"{label}: too large (over {MAX_PIXELS // 1_000_000} megapixels)",
                         "too-large") from None
    except (OSError, ValueError) as e:
        raise PhotoError(f"{label}: unreadable image ({e})") from None
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise PhotoError(f"{label}: {width}x{height} is too large "
                         f"(over {MAX_PIXELS // 1_000_000} megapixels)", "too-large")
    if min(width, height) < MIN_SIDE:
        raise PhotoError(f"{label}: {width}x{height} is too small to hold a face", "too-small")
    if reduce_to:
        image.draft("RGB", (reduce_to, reduce_to))
    try:
        image.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise PhotoError(f"{label}: damaged or truncated image ({e})") from None
    return image


def _to_rgb(image: Image.Image, label: str) -> Image.Image:
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block must not cost us the photo
        pass
    mode = image.mode
    if mode == "RGB":
        return image
    if mode.startswith("I") or mode == "F":
        return _array_to_image(np.asarray(image), label)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    try:
        return image.convert("RGB")
    except (OSError, ValueError) as e:
        raise PhotoError(f"{label}: colour mode {mode} cannot be read ({e})") from None


def _array_to_image(array: np.ndarray, label: str) -> Image.Image:
    """Arrays: HxW or HxWxC (C = 1, 3, 4), integers of any width or floats in [0, 1]."""
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[0] in (1, 3, 4) and a.shape[2] not in (1, 3, 4):
        a = np.moveaxis(a, 0, -1)  # channels first, as a tensor would be
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise PhotoError(f"{label}: an array of shape {a.shape} is not an image", "not-image")
    if min(a.shape[:2]) < MIN_SIDE:
        raise PhotoError(f"{label}: {a.shape[1]}x{a.shape[0]} is too small to hold a face",
                         "too-small")
    if a.dtype == np.uint8:
        pass
    elif np.issubdtype(a.dtype, np.floating):
        a = np.clip(np.nan_to_num(a) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_:
        top = 65535 if a.max(initial=0) > 255 else 255
        a = (a.astype(np.float64) * (255.0 / top) + 0.5).clip(0, 255).astype(np.uint8)
    else:
        raise PhotoError(f"{label}: arrays of {a.dtype} are not images", "not-image")
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    if a.shape[2] == 4:
        return _to_rgb(Image.fromarray(a, "RGBA"), label)
    return Image.fromarray(np.ascontiguousarray(a), "RGB")


def centre_crop(image: Image.Image, size: int | tuple[int, int] = 64) -> Image.Image:
    """The centred crop of the photo with the aspect ratio of `size` (height, width), resized."""
    out_w, out_h = (size, size) if isinstance(size, int) else (size[1], size[0])
    width, height = image.size
    scale = min(width / out_w, height / out_h)
    crop_w, crop_h = out_w * scale, out_h * scale
    left, top = (width - crop_w) / 2, (height - crop_h) / 2
    box = (left, top, left + crop_w, top + crop_h)
    if image.size == (out_w, out_h):
        return image
    return image.resize((out_w, out_h), Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)


def photo_to_array(photo: Photo, size: int | tuple[int, int] = 64,
                   name: str | None = None) -> np.ndarray:
    """One photo as a uint8 HxWx3 array of its centre crop at the model's size."""
    return np.asarray(centre_crop(open_photo(photo, name), size), dtype=np.uint8)


def photos_to_tensor(photos: list[Photo], size: int | tuple[int, int] = 64) -> torch.Tensor:
    """Photos as one uint8 tensor [N, 3, H, W]."""
    arrays = [photo_to_array(p, size) for p in photos]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def tensor_to_images(x: torch.Tensor) -> list[Image.Image]:
    """Float images [N, 3, H, W] in [0, 1] as PIL images."""
    pixels = (x.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    pixels = pixels.permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(np.ascontiguousarray(p), "RGB") for p in pixels]


def image_grid(images: list[Image.Image], columns: int, pad: int = 2,
               background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Images of one size laid out in rows of `columns`."""
    if not images:
        raise ValueError("no images to lay out")
    w, h = images[0].size
    rows = (len(images) + columns - 1) // columns
    grid = Image.new("RGB", (columns * (w + pad) + pad, rows * (h + pad) + pad), background)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        grid.paste(image, (pad + c * (w + pad), pad + r * (h + pad)))
    return grid


def enlarge(image: Image.Image, zoom: int) -> Image.Image:
    """The image `zoom` times larger (Lanczos): 64 pixels drawn bigger, no detail invented."""
    return image.resize((image.width * zoom, image.height * zoom), Image.Resampling.LANCZOS)


def png_bytes(image: Image.Image) -> bytes:
    """An image as a PNG file, compressed fast."""
    buffer = io.BytesIO()
    # Level 1 writes a 128-pixel cat in 1 ms instead of 6, for files about 10% larger.
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def gif_bytes(frames: list[Image.Image], duration_ms: int = 120) -> bytes:
    """An endless animated GIF that goes from the first frame to the last and back.

    All frames share one palette, taken from all of them at once: 10 ms for a 2x morph,
    where letting Pillow quantize each frame on its own takes 30 times longer.
    """
    palette = image_grid(frames, len(frames), pad=0).quantize(
        256, method=Image.Quantize.FASTOCTREE)
    loop = [frame.quantize(palette=palette, dither=Image.Dither.NONE)
            for frame in frames + frames[-2:0:-1]]
    buffer = io.BytesIO()
    loop[0].save(buffer, format="GIF", save_all=True, append_images=loop[1:],
                 duration=duration_ms, loop=0)
    return buffer.getvalue()
