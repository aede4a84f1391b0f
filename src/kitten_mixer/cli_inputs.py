"""What the command line takes: numbers in range, photos or gallery cats, folders and files,
each refused in one true line before any work starts."""

from __future__ import annotations

import argparse
import math
import os
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import torch

from kitten_mixer.data import open_source
from kitten_mixer.errors import KittenMixerError, ModelFileError
from kitten_mixer.images import IMAGE_SUFFIXES, enlarge, image_grid
from kitten_mixer.mixer import DEFAULT_MODEL, KittenMixer
from kitten_mixer.shipping.gallery import Gallery, load_gallery

# Written before an id, it always names a cat of the model's gallery, even where a file has
# that name.
CAT_PREFIX = "cat:"
# What `kitten-mixer gallery` prints on each line and its contact sheet holds in each row.
GALLERY_COLUMNS = 10


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high` (no upper bound when None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            bounds = f"at least {low}" if high is None else f"from {low} to {high}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, not {value}")
        return value

    return parse


def positive_number(text: str) -> float:
    """An argparse type: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def image_file(text: str) -> str:
    """An argparse type: a path ending in one of the photo suffixes, all formats Pillow writes."""
    if Path(text).suffix.lower() not in IMAGE_SUFFIXES:
        raise argparse.ArgumentTypeError(
            f"{text}: must end in {', '.join(sorted(IMAGE_SUFFIXES))}")
    return text


def seed(text: str) -> int:
    """An argparse type: a seed torch and numpy both take."""
    return whole_number(0, 2**63 - 1)(text)


def _file_in_the_way(path: Path) -> Path | None:
    """The first part of `path` (itself included) that exists and is not a folder."""
    for part in [*reversed(path.parents), path]:
        if part.exists() and not part.is_dir():
            return part
    return None


def _folder_problem(text: str) -> str | None:
    blocker = _file_in_the_way(Path(text))
    if blocker is None:
        return None
    return f"{text}: is a file, not a folder" if blocker == Path(text) \
        else f"{text}: {blocker} is a file, not a folder"


def output_folder(text: str) -> str:
    """An argparse type: a folder to write in, made if missing; no file may stand in its way."""
    problem = _folder_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def output_file(text: str) -> str:
    """An argparse type: a file to write, whose folder is made if missing."""
    if Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text}: is a folder; give a file name in it")
    problem = _folder_problem(str(Path(text).parent))
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def input_file(text: str) -> str:
    """An argparse type: a file that exists."""
    if Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text}: is a folder, not a file")
    if not Path(text).exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    return text


def model_folder(text: str) -> str:
    """An argparse type: a saved-model folder (what is in it is checked when it loads)."""
    if Path(text).is_file():
        raise argparse.ArgumentTypeError(
            f"{text}: is a file; a saved model is a folder (the one holding config.json)")
    return text


def photo_source(text: str) -> str:
    """An argparse type: a folder (searched recursively) or a zip holding photos."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file or folder")
    if path.is_file() and not zipfile.is_zipfile(path):
        raise argparse.ArgumentTypeError(
            f"{text}: is a file but not a zip; give a folder or a .zip of photos")
    try:
        with open_source(path) as (names, _):
            if not names:
                raise argparse.ArgumentTypeError(
                    f"{text}: holds no .jpg, .jpeg, .png, .webp or .bmp files")
    except (OSError, zipfile.BadZipFile) as e:
        raise argparse.ArgumentTypeError(f"{text}: cannot be read ({e})") from None
    return text


def os_error_message(e: OSError) -> str:
    """One true line for an OSError: which path, and what is wrong with it."""
    if not (e.filename and e.strerror):
        return str(e)
    name = os.fsdecode(e.filename)
    if isinstance(e, IsADirectoryError):
        return f"{name}: is a folder, not a file"
    if isinstance(e, (FileExistsError, NotADirectoryError)):
        return _folder_problem(name) or f"{name}: {e.strerror}"
    return f"{name}: {e.strerror}"


def _gallery_ids(gallery: Gallery) -> list[str]:
    """What each gallery cat is called on the command line and in the app's links: the file
    name's stem ("7078"), or its whole id where two cats share a stem."""
    stems = [Path(i).stem for i in gallery.ids]
    return stems if len(set(stems)) == len(stems) else list(gallery.ids)


def show_gallery(mixer: KittenMixer, sheet: str | None = None, zoom: int = 1) -> None:
    """Print the ids of the model's gallery cats, GALLERY_COLUMNS to a line; with `sheet`, draw
    their faces in a grid with the same rows."""
    gallery = load_gallery(mixer.folder)
    ids = _gallery_ids(gallery)
    if not ids:
        raise KittenMixerError(f"{mixer.folder}: its gallery holds no cats")
    width = max(map(len, ids))
    model = "the shipped model" if mixer.folder == DEFAULT_MODEL else mixer.folder
    print(f"{len(ids)} cats in the gallery of {model} (mix two: kitten-mixer mix "
          f"{ids[0]} {ids[-1]} -o morph.gif; {CAT_PREFIX}ID where a file has the id's name):")
    for start in range(0, len(ids), GALLERY_COLUMNS):
        print("  ".join(i.ljust(width) for i in ids[start:start + GALLERY_COLUMNS]).rstrip())
    if sheet:
        faces = [enlarge(face, zoom) for face in mixer.decode(gallery.codes)]
        Path(sheet).parent.mkdir(parents=True, exist_ok=True)
        image_grid(faces, GALLERY_COLUMNS).save(sheet)
        print(f"wrote {sheet} (their faces, row by row as listed)")


def check_cat(text: str) -> None:
    """Refuse, before the model loads, a cat that names a folder."""
    if not text.startswith(CAT_PREFIX) and Path(text).is_dir():
        raise KittenMixerError(f"{text}: is a folder; give a photo (a file) or the id of a "
                               "cat of the model's gallery (`kitten-mixer gallery` lists them)")


def mix_cats(a: str | None, b: str | None, demo: bool) -> list[str]:
    """`mix`'s cats A and B, checked before the model loads: two of them, or none with --demo."""
    given = [cat for cat in (a, b) if cat]
    if demo and given:
        raise KittenMixerError(f"give two cats (A B) or --demo, not both ({' '.join(given)} "
                               "and --demo given): --demo mixes the gallery's first two cats")
    if not demo and len(given) < 2:
        raise KittenMixerError("give two cats (A B: photos, or ids that `kitten-mixer gallery` "
                               "lists, e.g. 7078 13660), or --demo")
    for cat in given:
        check_cat(cat)
    return given


def cats(texts: list[str], folder: Path) -> list[str | torch.Tensor]:
    """Each of `texts` as what a morph takes: a photo's path, or the code of the gallery cat it
    names by id ("7078"; "cat:7078" names the cat even where a file is called 7078). No texts:
    the first two cats of the gallery (`mix --demo`)."""
    if not texts:
        return list(load_gallery(folder).codes[:2])
    shipped: list[Gallery] = []  # read at the first id

    def gallery() -> tuple[list[str], torch.Tensor]:
        if not shipped:
            try:
                shipped.append(load_gallery(folder))
            except ModelFileError:  # a run folder: no gallery
                shipped.append(Gallery([], torch.zeros(0)))
        return _gallery_ids(shipped[0]), shipped[0].codes

    picked: list[str | torch.Tensor] = []
    for text in texts:
        check_cat(text)
        named = text.startswith(CAT_PREFIX)
        name = text[len(CAT_PREFIX):] if named else text
        ids, codes = gallery()
        if not named and Path(text).exists():
            if name in ids:
                print(f"kitten-mixer: note: {text} is the file here, not the gallery's cat "
                      f"{name} (write {CAT_PREFIX}{name} for the cat)", file=sys.stderr)
            picked.append(text)
        elif name in ids:
            picked.append(codes[ids.index(name)])
        else:
            raise KittenMixerError(_unknown(text, named, gallery()[0], folder))
    return picked


def _unknown(text: str, named: bool, ids: list[str], folder: Path) -> str:
    """Why `text` is neither a file nor a gallery cat, and where to see the ids."""
    if not ids:
        return f"{text}: the model {folder} has no gallery of cats" if named \
            else f"{text}: no such file"
    listed = f"`kitten-mixer gallery` lists its {len(ids)} ids, e.g. {', '.join(ids[:3])}"
    if named:
        return f"{text}: no such cat in the model's gallery ({listed})"
    if Path(text).suffix.lower() in IMAGE_SUFFIXES or len(Path(text).parts) > 1:
        return f"{text}: no such file (or mix the model's own cats by id: {listed})"
    return f"{text}: no such file, nor the id of a cat of the model's gallery ({listed})"
