"""Cat-face data sets: read a zip or folder once, drop duplicates, split, and batch from memory."""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kitten_mixer.errors import DataError, PhotoError
from kitten_mixer.images import IMAGE_SUFFIXES, open_photo, photo_to_array

# The shares of faces a run validates and tests on, unless its config says otherwise.
VAL_FRACTION = 0.1
TEST_FRACTION = 0.1

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


@dataclass
class CatFaces:
    """Distinct faces decoded once into memory, with what was read to get them."""

    images: torch.Tensor  # uint8 [N, 3, H, W]
    names: list[str]  # the first file of each distinct face
    hashes: list[str]  # sha256 of each face's pixels
    files: int = 0  # image files found
    duplicates: int = 0  # files whose pixels repeat an earlier file
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, why)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def fingerprint(self) -> str:
        """A short hash of the set of faces: equal for equal contents, whatever the file names."""
        digest = hashlib.sha256("".join(sorted(self.hashes)).encode()).hexdigest()
        return digest[:16]

    def subset(self, indices: list[int]) -> CatFaces:
        """The faces at `indices`, in that order."""
        index = torch.as_tensor(indices, dtype=torch.long)
        return CatFaces(self.images[index], [self.names[i] for i in indices],
                        [self.hashes[i] for i in indices], files=len(indices))

    def split(self, val_fraction: float = VAL_FRACTION,
              test_fraction: float = TEST_FRACTION) -> dict[str, CatFaces]:
        """Train, validation and test faces, each face placed by its own hash.

        The split depends only on a face's pixels: copies of one face land on the same side,
        and adding photos to the data set never moves the others.
        """
        if not (0 <= val_fraction and 0 <= test_fraction and val_fraction + test_fraction < 1):
            raise DataError("validation and test fractions must be >= 0 and sum to less than 1")
        parts: dict[str, list[int]] = {name: [] for name in SPLITS}
        for i, h in enumerate(self.hashes):
            u = int(h[:13], 16) / 16**13
            part = "test" if u < test_fraction else "val" if u < test_fraction + val_fraction \
                else "train"
            parts[part].append(i)
        return {name: self.subset(indices) for name, indices in parts.items()}

    def summary(self) -> str:
        """One line for people: files, distinct faces, duplicates and skips."""
        text = (f"{self.files} image files, {len(self)} distinct faces, "
                f"{self.duplicates} duplicates, {len(self.skipped)} unreadable skipped")
        return text


@contextmanager
def open_source(source: Path) -> Iterator[tuple[list[str], Callable[[str], bytes]]]:
    """Names of the image files under a folder or inside a zip, and a reader for them."""
    if source.is_dir():
        names = sorted(str(p.relative_to(source)) for p in source.rglob("*")
                       if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        yield names, lambda name: (source / name).read_bytes()
    elif zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            names = sorted(info.filename for info in archive.infolist()
                           if not info.is_dir()
                           and Path(info.filename).suffix.lower() in IMAGE_SUFFIXES
                           and not Path(info.filename).name.startswith("._"))
            # Entries are read into memory, never extracted: a name like ../x.jpg writes nothing.
            yield names, archive.read
    else:
        raise DataError(f"{source}: not a folder or a zip file")


def load_faces(source: str | os.PathLike, size: int | tuple[int, int] = 64,
               workers: int | None = None, find_faces: bool = False) -> CatFaces:
    """Read every photo under a folder (recursively) or in a zip, once.

    Photos of any size and colour mode become centre-cropped RGB faces at `size`. With
    `find_faces`, photos over twice that size are cropped around their best cat face instead
    (kitten_mixer.faces; the centre when none is found): for whole-scene photos. Files that
    cannot be read are skipped, counted, and logged; faces whose pixels repeat are kept once.
    """
    source = Path(source)
    if not source.exists():
        raise DataError(f"{source}: no such file or folder")
    with open_source(source) as (names, read):
        if not names:
            raise DataError(f"{source}: holds no .jpg, .jpeg, .png, .webp or .bmp files")
        arrays, kept_names, hashes, skipped = _decode_distinct(names, read, size, workers,
                                                               find_faces)
    for _, why in skipped:
        log.warning("skipped %s", why)
    if not arrays:
        raise DataError(f"{source}: none of its {len(names)} image files could be read")
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return CatFaces(images, kept_names, hashes, files=len(names),
                    duplicates=len(names) - len(skipped) - len(arrays), skipped=skipped)


def _decode_distinct(names: list[str], read: Callable[[str], bytes],
                     size: int | tuple[int, int], workers: int | None,
                     find_faces: bool = False):
    """Decode every file; keep each distinct face once, in file order."""

    def decode(name: str) -> tuple[str, np.ndarray | None, str]:
        """(name, pixels, their hash) or (name, None, why not)."""
        try:
            data = read(name)
            array = _face_array(data, size, name) if find_faces \
                else photo_to_array(data, size, name=name)
        except PhotoError as e:
            return name, None, str(e)
        except (OSError, zipfile.BadZipFile, RuntimeError) as e:
            return name, None, f"{name}: cannot be read ({e})"
        return name, array, hashlib.sha256(array.tobytes()).hexdigest()

    # Pillow releases the GIL while decoding, so threads do help here.
    workers = workers or min(8, os.cpu_count() or 1)
    arrays: list[np.ndarray] = []
    kept_names, hashes, skipped = [], [], []
    seen: set[str] = set()
    with ThreadPoolExecutor(workers) as pool:
        for name, array, digest in pool.map(decode, names):
            if array is None:
                skipped.append((name, digest))
                continue
            if digest in seen:
                continue
            seen.add(digest)
            arrays.append(array)
            kept_names.append(name)
            hashes.append(digest)
    return arrays, kept_names, hashes, skipped


def _face_array(data: bytes, size: int | tuple[int, int], name: str) -> np.ndarray:
    """A whole-scene photo cropped around its best cat face; a face crop centre-cropped."""
    from kitten_mixer.faces import face_or_centre  # the finder loads only when faces are sought

    open_photo(data, name)  # names the file in the error when it cannot be read
    return np.asarray(face_or_centre(data, size).image)


class FaceLoader:
    """Batches of faces straight from a uint8 tensor in memory: no decoding, no workers.

    Shuffling, flips and shifts are drawn from (seed, epoch) alone, so a resumed run sees the
    same batches it would have seen. `shift` moves each face by up to that many pixels in each
    direction, repeating its edge pixels into the gap. With `world_size` > 1 each rank gets its
    own shard of every epoch, as DistributedSampler does; all shards have the same number of
    batches.
    """

    def __init__(self, images: torch.Tensor, batch_size: int = 64, shuffle: bool = True,
                 flip: bool = False, drop_last: bool = False, seed: int = 0,
                 rank: int = 0, world_size: int = 1, shift: int = 0):
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError("FaceLoader expects a uint8 tensor [N, C, H, W]")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if not 0 <= shift < min(images.shape[-2:]):
            raise ValueError("shift must be at least 0 and smaller than the faces")
        self.shift = shift
        self.images = images
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.flip = flip
        self.drop_last = drop_last
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order and flips the next iteration uses."""
        self.epoch = epoch

    def _shard(self) -> torch.Tensor:
        n = len(self.images)
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        if self.world_size > 1:
            per_rank = -(-n // self.world_size)
            order = torch.cat([order, order[: per_rank * self.world_size - n]])  # pad evenly
            order = order[self.rank::self.world_size]
        return order

    def __len__(self) -> int:
        n = len(self._shard()) if self.world_size > 1 else len(self.images)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[torch.Tensor]:
        order = self._shard()
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch + 7)
        flips = torch.rand(len(order), generator=generator) < 0.5 if self.flip else None
        moves = torch.randint(-self.shift, self.shift + 1, (len(order), 2),
                              generator=generator) if self.shift else None
        for start in range(0, len(order), self.batch_size):
            index = order[start:start + self.batch_size]
            if self.drop_last and len(index) < self.batch_size:
                return
            batch = self.images[index]
            if flips is not None:
                mirrored = flips[start:start + self.batch_size]
                batch[mirrored] = batch[mirrored].flip(-1)
            if moves is not None:
                batch = _shifted(batch, moves[start:start + self.batch_size])
            yield batch


def _shifted(batch: torch.Tensor, moves: torch.Tensor) -> torch.Tensor:
    """Each image [C, H, W] of `batch` moved by its (down, right) pixels, edges repeated."""
    n, channels, h, w = batch.shape
    rows = (torch.arange(h) - moves[:, :1]).clamp(0, h - 1)  # [N, H]: source row of each row
    cols = (torch.arange(w) - moves[:, 1:]).clamp(0, w - 1)
    return batch[torch.arange(n)[:, None, None, None], torch.arange(channels)[None, :, None, None],
                 rows[:, None, :, None], cols[:, None, None, :]]


def training_splits(config: dict[str, Any], data: str | os.PathLike,
                    size: tuple[int, int]) -> dict[str, CatFaces]:
    """The train, validation and test faces of `data` that a saved model's config (its
    experiment's val_fraction and test_fraction) says it was trained on."""
    experiment = config.get("experiment") or {}
    return load_faces(data, size).split(experiment.get("val_fraction", VAL_FRACTION),
                                        experiment.get("test_fraction", TEST_FRACTION))
