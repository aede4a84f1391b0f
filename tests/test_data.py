"""Data sets: read once from a folder or zip, duplicates dropped, split by content, batched fast."""

from __future__ import annotations

import logging
import zipfile

import pytest
import torch
from conftest import CATS_ZIP, fake_photo, needs_cats, write_photos, zip_folder

from kitten_mixer.data import FaceLoader, load_faces
from kitten_mixer.errors import DataError


def test_folder_is_read_recursively_in_every_format(tmp_path):
    write_photos(tmp_path / "a", 3, fmt="png")
    write_photos(tmp_path / "a" / "deeper", 3, start=3, fmt="jpg")
    write_photos(tmp_path / "b", 2, start=6, fmt="webp", size=(90, 70))
    write_photos(tmp_path / "b", 2, start=8, fmt="bmp")
    (tmp_path / "notes.txt").write_text("not a photo")
    faces = load_faces(tmp_path)
    assert faces.files == 10 and len(faces) == 10
    assert faces.images.shape == (10, 3, 64, 64) and faces.images.dtype == torch.uint8
    assert "a/deeper/cat003.jpg" in faces.names


def test_zip_and_folder_give_the_same_faces(photo_folder, tmp_path):
    from_folder = load_faces(photo_folder)
    from_zip = load_faces(zip_folder(photo_folder, tmp_path / "cats.zip"))
    assert torch.equal(from_folder.images, from_zip.images)
    assert from_folder.fingerprint == from_zip.fingerprint


def test_duplicates_are_kept_once(photo_folder):
    (photo_folder / "copy.png").write_bytes((photo_folder / "cat000.png").read_bytes())
    fake_photo(1).save(photo_folder / "same-pixels-other-name.bmp")  # same pixels, other file
    faces = load_faces(photo_folder)
    assert faces.files == 42 and len(faces) == 40 and faces.duplicates == 2
    assert len(set(faces.hashes)) == 40


def test_unreadable_files_are_counted_and_skipped(photo_folder, caplog):
    (photo_folder / "text.jpg").write_text("I am not a cat")
    (photo_folder / "empty.png").write_bytes(b"")
    data = (photo_folder / "cat001.png").read_bytes()
    (photo_folder / "truncated.png").write_bytes(data[: len(data) // 3])
    fake_photo(5, (1, 1)).save(photo_folder / "dot.png")
    with caplog.at_level(logging.WARNING):
        faces = load_faces(photo_folder)
    assert len(faces) == 40
    assert sorted(name for name, _ in faces.skipped) == \
        ["dot.png", "empty.png", "text.jpg", "truncated.png"]
    assert "4 unreadable skipped" in faces.summary()
    assert "text.jpg" in caplog.text


def test_empty_folder_zip_and_missing_path_raise(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no"):
        load_faces(tmp_path / "empty")
    zipfile.ZipFile(tmp_path / "empty.zip", "w").close()
    with pytest.raises(DataError, match="holds no"):
        load_faces(tmp_path / "empty.zip")
    with pytest.raises(DataError, match="no such file"):
        load_faces(tmp_path / "missing")
    (tmp_path / "plain.txt").write_text("hello")
    with pytest.raises(DataError, match="not a folder or a zip"):
        load_faces(tmp_path / "plain.txt")


def test_only_broken_files_raise(tmp_path):
    (tmp_path / "a.jpg").write_text("no")
    with pytest.raises(DataError, match="none of its 1 image files"):
        load_faces(tmp_path)


def test_zip_entry_outside_the_folder_writes_nothing(tmp_path):
    target = tmp_path / "inside" / "evil.zip"
    target.parent.mkdir()
    png = tmp_path / "p.png"
    fake_photo(0).save(png)
    with zipfile.ZipFile(target, "w") as archive:
        archive.write(png, "../x.jpg")
        archive.write(png, "../../y.png")
        archive.writestr("cats/ok.png", png.read_bytes())
    before = sorted(p for p in tmp_path.rglob("*"))
    faces = load_faces(target)
    assert sorted(p for p in tmp_path.rglob("*")) == before
    assert not (tmp_path / "x.jpg").exists()
    assert faces.files == 3 and len(faces) == 1  # read in memory, the same face thrice


def test_split_is_deterministic_disjoint_and_stable(tmp_path):
    write_photos(tmp_path / "p", 200, size=(16, 16))
    faces = load_faces(tmp_path / "p", 16)
    first, second = faces.split(0.2, 0.2), faces.split(0.2, 0.2)
    assert all(first[k].names == second[k].names for k in first)
    assert sum(len(part) for part in first.values()) == 200
    hashes = [set(part.hashes) for part in first.values()]
    assert not (hashes[0] & hashes[1] or hashes[0] & hashes[2] or hashes[1] & hashes[2])
    assert 20 <= len(first["test"]) <= 60 and 20 <= len(first["val"]) <= 60
    # Adding photos never moves the ones already there.
    write_photos(tmp_path / "p", 50, start=200, size=(16, 16))
    grown = load_faces(tmp_path / "p", 16).split(0.2, 0.2)
    assert set(first["test"].hashes) <= set(grown["test"].hashes)
    with pytest.raises(DataError):
        faces.split(0.6, 0.5)


def test_copies_never_straddle_splits(tmp_path):
    paths = write_photos(tmp_path / "p", 60, size=(16, 16))
    for path in paths:  # every photo twice, under another name
        (path.parent / f"copy-{path.name}").write_bytes(path.read_bytes())
    faces = load_faces(tmp_path / "p", 16)
    assert len(faces) == 60 and faces.duplicates == 60


def test_loader_shuffles_by_seed_and_epoch(tiny_faces):
    loader = FaceLoader(tiny_faces, batch_size=10, seed=3)
    epoch0 = torch.cat(list(loader))
    assert epoch0.shape == tiny_faces.shape and len(loader) == 4
    assert torch.equal(torch.cat(list(loader)), epoch0)  # same epoch: same order
    loader.set_epoch(1)
    epoch1 = torch.cat(list(loader))
    assert not torch.equal(epoch1, epoch0)
    assert sorted(epoch1.flatten(1).sum(1).tolist()) == \
        sorted(tiny_faces.flatten(1).sum(1).tolist())  # every face once
    ordered = torch.cat(list(FaceLoader(tiny_faces, batch_size=7, shuffle=False)))
    assert torch.equal(ordered, tiny_faces)


def test_loader_flips_about_half_and_never_touches_the_source(tiny_faces):
    original = tiny_faces.clone()
    batch = next(iter(FaceLoader(tiny_faces, batch_size=32, shuffle=False, flip=True)))
    flipped = [not torch.equal(b, o) and torch.equal(b, o.flip(-1))
               for b, o in zip(batch, original)]
    assert 6 <= sum(flipped) <= 26
    assert torch.equal(tiny_faces, original)


def test_loader_shifts_each_face_by_at_most_its_limit(tiny_faces):
    original = tiny_faces.clone()
    loader = FaceLoader(tiny_faces, batch_size=32, shuffle=False, shift=2, seed=3)
    batch = next(iter(loader))
    h, w = tiny_faces.shape[-2:]
    moved = 0
    for b, o in zip(batch, original):
        # Some move of at most 2 pixels, edges repeated, gives exactly this image.
        found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                 if torch.equal(b, o[:, (torch.arange(h) - dy).clamp(0, h - 1)]
                                [:, :, (torch.arange(w) - dx).clamp(0, w - 1)])]
        assert found
        moved += (0, 0) not in found
    assert moved >= 16  # 24 of the 25 moves move
    assert torch.equal(next(iter(loader)), batch)  # drawn from (seed, epoch) alone
    loader.set_epoch(1)
    assert not torch.equal(next(iter(loader)), batch)
    assert torch.equal(tiny_faces, original)
    with pytest.raises(ValueError, match="shift"):
        FaceLoader(tiny_faces, shift=-1)


def test_loader_shards_cover_every_face(tiny_faces):
    faces = tiny_faces[:30]
    shards = [FaceLoader(faces, 4, seed=1, rank=r, world_size=4) for r in range(4)]
    batches = [len(s) for s in shards]
    assert len(set(batches)) == 1  # every rank takes the same number of steps
    seen = torch.cat([torch.cat(list(s)) for s in shards])
    assert len(seen) == 32  # 30 padded to a multiple of 4
    as_set = lambda images: {tuple(f.flatten().tolist()) for f in images}  # noqa: E731
    assert as_set(seen) == as_set(faces)


def test_drop_last(tiny_faces):
    loader = FaceLoader(tiny_faces, batch_size=10, drop_last=True)
    assert len(loader) == 3 and all(len(b) == 10 for b in loader)


@pytest.mark.slow  # reads the whole data set
@needs_cats
def test_the_cat_faces_data_set():
    faces = load_faces(CATS_ZIP)
    assert faces.files == 14752 and len(faces) == 8709 and not faces.skipped
    splits = faces.split()
    sizes = {name: len(part) for name, part in splits.items()}
    assert sizes == {"train": 6979, "val": 872, "test": 858}
