"""Explore a data set of photos: counts, duplicates, sizes and modes, and what the faces look like.

`kitten-mixer explore --data PATH -o report/` writes `report/report.md` with PNGs beside it.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, UnidentifiedImageError

from kitten_mixer.data import CatFaces, load_faces, open_source
from kitten_mixer.images import image_grid, tensor_to_images
from kitten_mixer.storage import write_text

CHANNEL_COLOURS = ((220, 50, 50), (40, 160, 60), (50, 90, 220))


def _file_stats(source: Path) -> tuple[Counter, Counter, Counter, Counter]:
    """Per file, from headers only: sizes, modes, formats; and copies per byte-identical file."""
    sizes, modes, formats, copies = Counter(), Counter(), Counter(), Counter()
    with open_source(source) as (names, read):
        for name in names:
            data = read(name)
            copies[hashlib.sha256(data).hexdigest()] += 1
            try:
                with Image.open(io.BytesIO(data)) as image:
                    sizes[image.size] += 1
                    modes[image.mode] += 1
                    formats[image.format] += 1
            except (UnidentifiedImageError, OSError):
                formats["unreadable"] += 1
    return sizes, modes, formats, copies


def histogram_plot(values: np.ndarray, colours: tuple[tuple[int, int, int], ...],
                   width: int = 512, height: int = 200) -> Image.Image:
    """Histogram curves (one row of `values` per curve), drawn with Pillow."""
    plot = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(plot)
    top = values.max() or 1
    for row, colour in zip(values, colours):
        points = [(i * (width - 1) / (len(row) - 1), height - 1 - v / top * (height - 10))
                  for i, v in enumerate(row)]
        draw.line(points, fill=colour, width=2)
    return plot


def _table(counter: Counter, head: str, limit: int = 8) -> list[str]:
    lines = [f"| {head} | files |", "|---|---|"]
    for value, count in counter.most_common(limit):
        shown = f"{value[0]}x{value[1]}" if isinstance(value, tuple) else value
        lines.append(f"| {shown} | {count} |")
    if len(counter) > limit:
        rest = sum(counter.values()) - sum(c for _, c in counter.most_common(limit))
        lines.append(f"| ({len(counter) - limit} more) | {rest} |")
    return lines


def explore(source: str | os.PathLike, out: str | os.PathLike, samples: int = 64) -> Path:
    """Write the report on the photos at `source` into the folder `out`; return its path."""
    source, out = Path(source), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sizes, modes, formats, copies = _file_stats(source)
    faces: CatFaces = load_faces(source)
    pixels = faces.images.float() / 255

    generator = torch.Generator().manual_seed(0)
    pick = torch.randperm(len(faces), generator=generator)[:samples]
    image_grid(tensor_to_images(pixels[pick]), columns=8).save(out / "samples.png")
    mean_face = tensor_to_images(pixels.mean(0, keepdim=True))[0]
    mean_face.resize((192, 192), Image.Resampling.LANCZOS).save(out / "mean-face.png")
    levels = faces.images.flatten(2).permute(1, 0, 2).flatten(1)  # [3, N*H*W]
    colour = np.stack([np.bincount(c.numpy(), minlength=256) for c in levels])
    histogram_plot(colour, CHANNEL_COLOURS).save(out / "colour-histogram.png")
    brightness = (pixels * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1)
    per_face = np.histogram(brightness.flatten(1).mean(1).numpy(), bins=64, range=(0, 1))[0]
    histogram_plot(per_face[None], ((60, 60, 60),)).save(out / "brightness-histogram.png")

    repeats = Counter(copies.values())
    mean_rgb = pixels.mean((0, 2, 3)).tolist()
    lines = [
        f"# Data set: {source.name}", "",
        f"- {faces.files} image files; {len(copies)} distinct files by bytes; "
        f"{len(faces)} distinct faces by pixels; {faces.duplicates} duplicates; "
        f"{len(faces.skipped)} unreadable.",
        "- How often each distinct file occurs: " + ", ".join(
            f"{n} files {k} time(s)" for k, n in sorted(repeats.items())) + ".",
        f"- Mean colour (R, G, B): {mean_rgb[0]:.3f}, {mean_rgb[1]:.3f}, {mean_rgb[2]:.3f}; "
        f"mean brightness {float(brightness.mean()):.3f}, spread across faces "
        f"(std of per-face brightness) {float(brightness.flatten(1).mean(1).std()):.3f}.", "",
        *_table(sizes, "size"), "", *_table(modes, "mode"), "", *_table(formats, "format"), "",
        "## Faces", "", "A random sample (`samples.png`), and the mean of all distinct faces:", "",
        "![sample](samples.png) ![mean face](mean-face.png)", "",
        "## Colour and brightness", "",
        "Pixel levels per channel (red, green, blue), and per-face mean brightness:", "",
        "![colour](colour-histogram.png) ![brightness](brightness-histogram.png)", ""]
    if faces.skipped:
        lines += ["## Unreadable files", ""] + [f"- {why}" for _, why in faces.skipped[:50]]
    write_text(out / "report.md", "\n".join(lines) + "\n")
    return out / "report.md"
