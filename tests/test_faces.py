"""The cat-face finder: finds faces where there are some, nothing where there are none, boxes in
full-size pixels with scores and tilts, crops framed (and straightened) like the training faces,
safe in threads, and PhotoError on bad input."""

from __future__ import annotations

import copy
import io
import json
import math
import pickle
import re
import sys
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import same_pixels_but_rounding
from PIL import Image

from kitten_mixer import KittenMixer
from kitten_mixer.cli import main
from kitten_mixer.errors import ModelFileError, PhotoError
from kitten_mixer.faces import (
    Box,
    crop_face,
    face_or_centre,
    find_cat_faces,
    guess_cat_face,
    learned,
    look_for_cat_faces,
)
from kitten_mixer.faces.box import face_square, overlap, square_box, squares_to_boxes, suppress
from kitten_mixer.faces.learned import WEIGHTS, FaceFinder
from kitten_mixer.faces.networks import LiteCheck, LiteRefine, VerifyNet
from kitten_mixer.images import centre_crop, open_photo
from kitten_mixer.mixer import NoFaceFound
from kitten_mixer.storage import read_tensors, write_tensors
from kitten_mixer.training.composites import make_scene
from kitten_mixer.training.face_scenes import jitter, paste_faces
from kitten_mixer.training.textures import (
    KINDS,
    NOISE_KINDS,
    cartoon_cat,
    cartoon_photos,
    noise_photos,
    texture,
)

REPO = Path(__file__).resolve().parents[1]
PHOTOS_ZIP = REPO.parent / "shared" / "data" / "photos.zip"
BOX_FILES = {"dev": REPO / "labels" / "face_boxes.json",
             "test": REPO / "labels" / "face_boxes_test.json"}
GROUPS = REPO / "labels" / "photo_groups.json"
# The right-hand column of this figure holds real test-split faces, 64 pixels each.
FIGURE = REPO / "docs" / "images" / "reconstructions.png"
# Measured (docs/faces.md): a little below, so that a retrained finder has some room.
MIN_RECALL = {"dev": 0.85, "test": 0.85}
MIN_FIRST_RIGHT = {"dev": 0.93, "test": 0.93}


def iou(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h)


def jpeg(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92, **options)
    return buffer.getvalue()


def real_face(row: int = 0) -> Image.Image:
    """One real 64x64 cat face, cut from the docs' figure."""
    if not FIGURE.is_file():
        pytest.skip(f"{FIGURE} is missing")
    left, top = 2 + 7 * 66, 2 + row * 66
    return Image.open(FIGURE).convert("RGB").crop((left, top, left + 64, top + 64))


def backdrop(size: tuple[int, int] = (400, 300)) -> Image.Image:
    """A smooth room-like background with some texture."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size[1], 0:size[0]] / size[0]
    pixels = np.stack([0.4 + 0.3 * xx, 0.45 + 0.2 * yy, 0.35 + 0.1 * xx], axis=-1)
    pixels += rng.normal(0, 0.02, pixels.shape)
    return Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8), "RGB")


def paste(face: Image.Image, at: tuple[int, int], side: int, tilt: float = 0.0) -> tuple[
        Image.Image, tuple[int, int, int, int]]:
    """A scene with `face` as a side x side square at `at`, turned by `tilt` degrees
    (clockwise as seen), and the face's box as a labeller would draw it."""
    scene = backdrop()
    big = face.resize((side, side), Image.Resampling.LANCZOS)
    mask = Image.new("L", (side, side), 255)
    if tilt:
        big, mask = big.rotate(-tilt, Image.Resampling.BICUBIC), mask.rotate(-tilt)
    scene.paste(big, at, mask)
    box = square_box(at[0] + side / 2, at[1] + side / 2, side)
    return scene, tuple(round(v) for v in box)


@pytest.fixture(scope="module")
def scene() -> tuple[Image.Image, tuple[int, int, int, int]]:
    """A 400x300 'photo': a real face, 110 pixels wide, on a plain background."""
    return paste(real_face(), (150, 60), 110)


def plain_scene() -> Image.Image:
    """A smooth picture with no face: a colour gradient and a disc."""
    yy, xx = np.mgrid[0:300, 0:400] / 400.0
    pixels = np.stack([xx, yy, 1 - xx], axis=-1)
    pixels[(xx - 0.5) ** 2 + (yy - 0.4) ** 2 < 0.01] = (0.9, 0.2, 0.1)
    return Image.fromarray((pixels * 255).astype(np.uint8), "RGB")


def test_no_face_gives_nothing_and_the_centre_crop():
    photo = plain_scene()
    assert find_cat_faces(photo) == []
    crop, box, sought = face_or_centre(photo)
    assert box is None and sought
    assert np.array_equal(np.asarray(crop), np.asarray(centre_crop(open_photo(photo), 64)))


def test_where_no_face_is_found_the_guess_points_at_the_likeliest_square():
    """A face darkened as a black cat's is in a lit room: the last checks refuse it, so no face
    is found, but the guess (where framing by hand starts in the app) lies on it; a picture
    with nothing face-like gives no guess."""
    dark = Image.fromarray(((np.asarray(real_face(2)) / 255.0) ** 3.5 * 255).astype(np.uint8))
    photo, truth = paste(dark, (150, 60), 110)
    assert find_cat_faces(photo) == []
    guess = guess_cat_face(photo)
    assert guess is not None and iou(guess, truth) >= 0.5 and 0 < guess.score <= 1
    # the first two checks' best square, the last checks not asked
    finder = learned.default_finder()
    [face, *_] = finder.candidates(photo, learned.GUESS_THRESHOLD, last_checks=False)
    assert finder.guess(photo) == face
    assert finder.candidates(photo, learned.GUESS_THRESHOLD) != finder.candidates(
        photo, learned.GUESS_THRESHOLD, last_checks=False)
    # the app's one pass gives the same: no box, and the guess
    assert look_for_cat_faces(photo) == ([], guess) and finder.look(photo) == ([], face)
    # where a face is found, the guess is that face's square too; one pass gives the faces
    found, truth = paste(real_face(), (150, 60), 110)
    assert iou(guess_cat_face(found), find_cat_faces(found)[0]) >= 0.9
    assert look_for_cat_faces(found, 3) == (find_cat_faces(found, 3), None)
    flat = Image.new("RGB", (400, 300), (128, 128, 128))
    assert guess_cat_face(flat) is None
    with pytest.raises(PhotoError):
        guess_cat_face(b"not a photo")


def test_a_face_is_found_where_it_is_with_a_score(scene):
    photo, truth = scene
    boxes = find_cat_faces(photo)
    assert boxes and iou(boxes[0], truth) >= 0.5
    for box in boxes:
        assert 0 <= box.x0 < box.x1 <= photo.width and 0 <= box.y0 < box.y1 <= photo.height
        assert 0 < box.score <= 1
    assert [b.score for b in boxes] == sorted((b.score for b in boxes), reverse=True)
    assert abs(boxes[0].angle) < 10  # an upright face
    assert find_cat_faces(photo, max_faces=1) == boxes[:1]  # best first, and only one asked
    assert find_cat_faces(photo, max_faces=0) == []


def test_a_box_is_four_pixels_that_keep_their_score():
    box = Box(1.4, 2.6, 30, 40, score=0.9, angle=-12.0)
    assert tuple(box) == (1, 3, 30, 40) and box == (1, 3, 30, 40) and len(box) == 4
    for twin in (copy.deepcopy(box), pickle.loads(pickle.dumps(box))):
        assert twin == box and twin.score == 0.9 and twin.angle == -12.0
    assert (box.x0, box.y0, box.x1, box.y1) == (1, 3, 30, 40)


def test_suppression_keeps_the_best_square_of_each_overlapping_group_best_first():
    rng = np.random.default_rng(0)
    for count in (0, 1, 2, 40, 300):
        squares = np.column_stack([rng.uniform(0, 200, count), rng.uniform(0, 200, count),
                                   rng.uniform(10, 60, count)])
        scores = rng.choice([0.3, 0.5, 0.9], count)  # ties keep the earlier square first
        kept = suppress(squares, scores, 0.5)
        # The greedy rule, one square at a time: kept unless it overlaps a better kept one.
        expected: list[int] = []
        for i in np.argsort(-scores, kind="stable"):
            boxes = squares_to_boxes(squares[[i] + expected])
            if not expected or overlap(boxes[:1], boxes[1:]).max() <= 0.5:
                expected.append(int(i))
        assert kept.tolist() == expected
        assert suppress(squares, scores, 0.5, block=16).tolist() == expected  # several blocks
        if count > 2:
            assert 0 < len(kept) < count
            boxes = squares_to_boxes(squares[kept])
            assert (np.triu(overlap(boxes, boxes), 1) <= 0.5).all()


def test_a_tilted_head_is_found_and_cropped_upright(scene):
    face = real_face()
    photo, truth = paste(face, (150, 60), 110, tilt=25.0)
    found = find_cat_faces(photo)
    assert found and iou(found[0], truth) >= 0.4
    assert 12 < found[0].angle < 38
    reference = np.asarray(face, float)
    straightened = np.asarray(crop_face(photo, found[0]), float)
    upright = np.asarray(crop_face(photo, found[0], straighten=False), float)
    assert np.abs(straightened - reference).mean() < 0.8 * np.abs(upright - reference).mean()


def test_coarse_windows_lose_their_finest_detail_and_nothing_else_changes():
    """The last check's windows may be drawn from fewer pixels, as a small face's are; with no
    share asked, jitter draws the same random numbers as before (the first two networks train
    as they did)."""
    checks = torch.zeros(40, 3, 64, 64)
    checks[..., ::2, ::2] = checks[..., 1::2, 1::2] = 1.0  # the finest detail there is
    plain = jitter(checks.clone(), torch.Generator().manual_seed(3))
    assert torch.equal(plain, jitter(checks.clone(), torch.Generator().manual_seed(3), 0.0))
    coarse = jitter(checks.clone(), torch.Generator().manual_seed(3), coarse=1.0)
    assert coarse.shape == checks.shape and 0 <= coarse.min() and coarse.max() <= 1

    def detail(x: torch.Tensor) -> torch.Tensor:  # the mean step between neighbours
        return (x[..., 1:] - x[..., :-1]).abs().mean(dim=(1, 2, 3))
    assert (detail(coarse) < 0.5 * detail(plain)).float().mean() > 0.9


def test_pasted_training_faces_are_where_their_targets_say():
    """The synthesis's geometry and the crop's agree: a pasted face, cropped from its target
    square and tilt, is the face again."""
    face = torch.from_numpy(np.asarray(real_face(), np.float32) / 255).permute(2, 0, 1)[None]
    gen = torch.Generator().manual_seed(3)
    backgrounds = torch.zeros(2, 3, 160, 160, dtype=torch.uint8)
    images, targets, overlap = paste_faces(face, backgrounds, 128, 160, 2.0, gen)
    best = []
    for image, (dx, dy, log_side, tilt), share in zip(images, targets, overlap):
        if share < 0.8:
            continue
        square = 160 / 2.0
        box = square_box(80 + dx.item() * square, 80 + dy.item() * square,
                         square * math.exp(log_side.item()))
        photo = Image.fromarray((image.permute(1, 2, 0).numpy() * 255).astype(np.uint8))
        crop = crop_face(photo, Box(*box, 1.0, math.degrees(tilt.item())))
        # The middle: the edges fade into the background, and some faces were made narrower.
        pixels = np.asarray(crop, float)[16:48, 16:48]
        mirrored = np.asarray(crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT), float)[16:48, 16:48]
        reference = face[0].permute(1, 2, 0).numpy()[16:48, 16:48] * 255
        errors = sorted([np.abs(pixels - reference).mean(), np.abs(mirrored - reference).mean()])
        assert errors[0] < errors[1]  # a pasted face may be mirrored (or narrowed), not turned
        best.append(errors[0])
    assert len(best) >= 10 and np.median(best) < 12


def test_synthetic_photos_hold_their_faces_where_their_squares_say():
    """A face drawn into a synthetic photo, cropped from its square and tilt, is the face
    again (mirrored or not); the photo is spoilt, so the match is loose."""
    face = torch.from_numpy(np.asarray(real_face(), np.uint8).copy()).permute(2, 0, 1)[None]
    rng = np.random.default_rng(5)
    errors = []
    for _ in range(12):
        scene = make_scene(face, [], rng, ("flat", "gradient"), cats=1)
        assert scene.image.mode == "RGB" and 240 <= max(scene.image.size) <= 640
        if not len(scene.squares):
            continue
        (cx, cy, side), tilt = scene.squares[0], scene.tilts[0]
        assert abs(tilt) <= 40 and side >= 8
        if side < 60 or min(cx - side / 2, cy - side / 2) < 0 or \
                cx + side / 2 > scene.image.width or cy + side / 2 > scene.image.height:
            continue  # too small to compare, or cut by the frame
        crop = crop_face(scene.image, Box(*square_box(cx, cy, side), 1.0, tilt))
        middle = [np.asarray(c, float)[20:44, 20:44] for c in
                  (crop, crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT))]
        reference = np.asarray(real_face(), float)[20:44, 20:44]
        errors.append(min(np.abs(m - reference).mean() for m in middle))
    assert len(errors) >= 3 and np.median(errors) < 40


def test_pictures_made_in_code_are_seeded_and_of_every_kind():
    rng = np.random.default_rng(0)
    for kind in KINDS + NOISE_KINDS:
        pixels = texture(kind, 60, 80, rng)
        assert pixels.shape == (60, 80, 3) and pixels.dtype == np.uint8
    first, again = noise_photos(13, seed=4), noise_photos(13, seed=4)
    as_array = [np.asarray(open_photo(p)) for p in first]
    assert all(np.array_equal(a, np.asarray(open_photo(b))) for a, b in zip(as_array, again))
    assert any(isinstance(p, bytes) for p in first) and any(isinstance(p, Image.Image)
                                                            for p in first)
    assert cartoon_cat(100, 120, rng).size == (120, 100)


def test_no_face_in_the_first_pictures_of_noise_flat_colours_or_textures():
    """The first 36 of the noise benchmark's pictures (benchmarks/face_finder.py --noise,
    seed 0), two of each kind: none scores a face."""
    scored = [i for i, picture in enumerate(noise_photos(36, seed=0)) if find_cat_faces(picture)]
    assert scored == []


@pytest.mark.slow
def test_few_faces_in_a_thousand_pictures_of_noise_flat_colours_or_textures():
    """All 1,000 of them. The goal is none; the shipped finder finds a face in 3
    (docs/faces.md), with its fourth check's linear read-out in 2, without its fourth check in
    9, without its last two in 19, the finder before the learned one in 174."""
    scored = sum(bool(find_cat_faces(picture)) for picture in noise_photos(1000, seed=0))
    assert scored <= 3


def test_cartoon_cats_are_not_cats():
    drawings = cartoon_photos(6, seed=0)  # the first of the noise benchmark's drawings
    assert [i for i, drawing in enumerate(drawings) if find_cat_faces(drawing)] == []


def test_photo_groups_cover_the_development_photos_only():
    groups = json.loads(GROUPS.read_text())
    dev = json.loads(BOX_FILES["dev"].read_text())
    test = json.loads(BOX_FILES["test"].read_text())
    assert set(dev) <= set(groups["photos"]) and not set(test) & set(groups["photos"])
    assert set(groups["photos"].values()) == set(groups["groups"])
    parts = [set(p) for p in groups["parts"].values()]
    assert len(parts) == 2 and not parts[0] & parts[1] and parts[0] | parts[1] == set(
        groups["groups"])


def test_boxes_are_in_full_size_pixels_of_the_rotated_photo(scene):
    photo, truth = scene
    # 8 times larger: the finder decodes the JPEG at 1/8 and must scale its boxes back up.
    big = photo.resize((3200, 2400), Image.Resampling.BICUBIC)
    box = find_cat_faces(jpeg(big))[0]
    assert iou(box, tuple(8 * v for v in truth)) >= 0.5
    # Stored on its side with an EXIF orientation: boxes are in the upright photo's pixels.
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to show it
    sideways = jpeg(big.transpose(Image.Transpose.ROTATE_90), exif=exif)
    assert open_photo(sideways, reduce_to=None).size == (3200, 2400)
    assert iou(find_cat_faces(sideways)[0], box) >= 0.8


def test_crop_face_is_a_square_rgb_face_framed_like_a_training_face(scene):
    photo, truth = scene
    box = find_cat_faces(photo)[0]
    crop = crop_face(photo, box)
    assert crop.size == (64, 64) and crop.mode == "RGB"
    # Framed like the training face that was pasted: far closer to it than a crop moved by
    # half the face.
    reference = np.asarray(real_face(), float)
    half = (box.x1 - box.x0) // 2
    moved = crop_face(photo, (box.x0 + half, box.y0, box.x1 + half, box.y1))
    error = np.abs(np.asarray(crop, float) - reference).mean()
    assert error < 0.7 * np.abs(np.asarray(moved, float) - reference).mean()
    native = crop_face(jpeg(photo), box, size=None)
    assert native.width == native.height >= 80 and native.mode == "RGB"
    # A face at the photo's edge: the square moves inside instead of leaving the photo.
    edge = crop_face(photo, (-40, 250, 60, 350), size=None)
    assert edge.width == edge.height == 100
    face, found, _ = face_or_centre(photo, size=96)
    assert found == box and face.size == (96, 96)


def test_the_square_convention_round_trips():
    cx, cy, side = face_square(square_box(100.0, 80.0, 50.0))
    assert (cx, cy, side) == pytest.approx((100.0, 80.0, 50.0))


@pytest.mark.parametrize("mode", ["RGBA", "LA", "L", "P", "CMYK", "I;16"])
def test_odd_modes_find_the_same_face(scene, mode):
    photo, truth = scene
    odd = photo.convert("L").convert(mode) if mode == "I;16" else photo.convert(mode)
    boxes = find_cat_faces(odd)
    assert boxes and iou(boxes[0], truth) >= 0.5


def test_tiny_and_huge_photos_do_not_crash():
    tiny = Image.new("RGB", (10, 10), (200, 100, 50))
    assert find_cat_faces(tiny) == []
    crop, box, sought = face_or_centre(tiny)
    assert crop.size == (64, 64) and box is None and not sought  # too small to hold a scene
    assert find_cat_faces(Image.new("RGB", (6000, 4000), (120, 130, 140))) == []
    assert find_cat_faces(np.full((4000, 6000), 0.5, np.float32)) == []
    assert find_cat_faces(Image.new("RGB", (4000, 30), (90, 90, 90))) == []  # a thin strip


def test_bad_photos_raise_photo_error(tmp_path):
    fake = tmp_path / "cat.jpg"
    fake.write_text("this is a text file, not a cat\n" * 10)
    for call in (find_cat_faces, face_or_centre, lambda p: crop_face(p, (0, 0, 10, 10))):
        with pytest.raises(PhotoError, match="not an image"):
            call(fake)
    with pytest.raises(PhotoError, match="no such file"):
        find_cat_faces(tmp_path / "missing.jpg")
    with pytest.raises(PhotoError):
        find_cat_faces(np.zeros((4, 4, 3), np.uint8))


def test_threads_find_what_one_thread_finds(scene):
    photo, _ = scene
    scenes = [photo, plain_scene(), jpeg(photo)]
    alone = [find_cat_faces(p) for p in scenes]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(find_cat_faces, scenes * 4))
    assert together == alone * 4
    assert [[b.score for b in boxes] for boxes in together] == \
        [[b.score for b in boxes] for boxes in alone * 4]


def test_shipped_weights_are_small_safetensors_and_damage_is_reported(tmp_path):
    assert WEIGHTS.is_file() and WEIGHTS.stat().st_size <= 2_000_000
    assert WEIGHTS.read_bytes()[8:9] == b"{"  # a safetensors header, not a pickle
    finder = FaceFinder.load()
    assert 0 < finder.proposal_threshold < 1 and 0 < finder.face_threshold < 1
    broken = tmp_path / "finder.safetensors"
    broken.write_text("not weights")
    with pytest.raises(ModelFileError, match="damaged or truncated"):
        FaceFinder.load(broken)
    truncated = tmp_path / "half.safetensors"
    truncated.write_bytes(WEIGHTS.read_bytes()[:100_000])
    with pytest.raises(ModelFileError, match="half.safetensors: damaged or truncated"):
        FaceFinder.load(truncated)
    other = tmp_path / "other.safetensors"  # sound, but a VAE's, not a finder's
    finder.save(other)
    tensors, metadata = read_tensors(other)
    write_tensors(other, {k: v for k, v in tensors.items() if k.startswith("proposal.")},
                  metadata)
    with pytest.raises(ModelFileError, match="not a face finder's weights"):
        FaceFinder.load(other)
    with pytest.raises(ModelFileError, match="no such file"):
        FaceFinder.load(tmp_path / "none.safetensors")


def test_the_last_check_keeps_or_drops_what_the_first_two_find(scene, tmp_path):
    """A face is kept only when the last check (at the model's size) agrees; a finder saved
    without that check still loads and finds what its two networks find."""
    scene = scene[0]
    finder = FaceFinder.load()
    two = FaceFinder(finder.proposal, finder.refine, finder.proposal_threshold,
                     finder.face_threshold)
    older = tmp_path / "two.safetensors"
    two.save(older)
    assert FaceFinder.load(older).verify is None
    found = two.find(scene)
    assert found and [f[:3] for f in FaceFinder.load(older).find(scene)] == pytest.approx(
        [f[:3] for f in found], abs=0.5)

    def judged(bias: float) -> FaceFinder:
        verify = VerifyNet()
        torch.nn.init.zeros_(verify.head[-1].weight)
        torch.nn.init.constant_(verify.head[-1].bias, bias)
        return FaceFinder(finder.proposal, finder.refine, finder.proposal_threshold,
                          finder.face_threshold, verify, verify_threshold=0.5)

    assert [f[:3] for f in judged(5.0).find(scene)] == [f[:3] for f in found]
    assert judged(-5.0).find(scene) == []
    square = np.array([[50.0, 50.0, 40.0]])
    assert judged(5.0).verified(scene, square).tolist() == [True]
    assert judged(-5.0).verified(scene, square).tolist() == [False]
    saved = tmp_path / "three.safetensors"
    judged(-5.0).save(saved)
    assert FaceFinder.load(saved).find(scene) == []


def test_the_fourth_check_keeps_or_drops_what_the_others_find(scene, tmp_path):
    """A face is kept only when the fourth check (ImageNet's filters) agrees too; its
    threshold is saved with it, and a finder without it finds what the other checks find."""
    scene = scene[0]
    finder = FaceFinder.load()
    three = FaceFinder(finder.proposal, finder.refine, finder.proposal_threshold,
                       finder.face_threshold, finder.verify, finder.verify_threshold)
    found = three.find(scene)
    assert found

    def judged(bias: float, threshold: float = 0.5) -> FaceFinder:
        lite = LiteCheck()
        torch.nn.init.zeros_(lite.head[-1].weight)
        torch.nn.init.constant_(lite.head[-1].bias, bias)
        return FaceFinder(three.proposal, three.refine, three.proposal_threshold,
                          three.face_threshold, three.verify, three.verify_threshold, lite,
                          threshold)

    assert [f[:3] for f in judged(5.0).find(scene)] == [f[:3] for f in found]
    assert judged(-5.0).find(scene) == []
    assert judged(-5.0, threshold=0.001).find(scene) != []  # sigmoid(-5) = 0.0067
    saved = tmp_path / "four.safetensors"
    judged(-5.0, threshold=0.25).save(saved)
    again = FaceFinder.load(saved)
    assert again.lite is not None and again.lite_threshold == 0.25
    assert again.find(scene) == []


def test_the_checking_networks_twin_shares_its_say_in_every_check(scene, tmp_path):
    """With the twin on ImageNet's filters, a square's check is the mean of the two networks'
    face logits (where the checking network does not rule it out); a twin sure there is no face
    drops every face, and the twin is saved."""
    from kitten_mixer.faces.learned import TWIN_GATE, windows
    from kitten_mixer.faces.networks import REFINE_CONTEXT, REFINE_WINDOW
    scene = scene[0]
    finder = FaceFinder.load()
    assert finder.refine_lite is not None and finder.find(scene)
    squares = finder.propose(scene)[0]
    seen = windows(scene, squares, REFINE_WINDOW, REFINE_CONTEXT)
    with torch.no_grad():
        own = finder.refine(seen)[:, 0]
        mean = (own + finder.refine_lite(seen)[:, 0]) / 2
    asked = own >= TWIN_GATE
    assert asked.any() and not asked.all()
    expected = torch.sigmoid(torch.where(asked, mean, own)).numpy()
    assert np.allclose(finder.check(scene, squares)[1], expected, atol=1e-5)
    alone = FaceFinder(finder.proposal, finder.refine)
    assert not np.allclose(alone.check(scene, squares)[1], finder.check(scene, squares)[1])
    doubter = LiteRefine()
    torch.nn.init.zeros_(doubter.head[-1].weight)
    torch.nn.init.constant_(doubter.head[-1].bias, -40.0)
    finder.refine_lite = doubter
    assert finder.find(scene) == []
    saved = tmp_path / "twin.safetensors"
    finder.save(saved)
    again = FaceFinder.load(saved)
    assert again.refine_lite is not None and again.find(scene) == []


def test_the_filters_both_imagenet_checks_look_through_are_stored_once(scene, tmp_path):
    """The fourth check and the twin share their frozen ImageNet filters: a saved finder holds
    them once, a finder saved with a copy for each (as before) loads to the same networks, and
    filters that differ are each kept."""
    finder = FaceFinder.load()
    tensors, metadata = read_tensors(WEIGHTS)
    filters = finder.lite.filters()
    assert filters and set(finder.refine_lite.filters()) == set(filters)
    assert all(f"imagenet.{key}" in tensors for key in filters)
    assert not any(key.startswith(("lite.stem", "lite.blocks", "refine_lite.stem",
                                   "refine_lite.blocks")) for key in tensors)
    both = tmp_path / "both.safetensors"  # the layout of finders saved before
    own = {key: value for key, value in tensors.items() if not key.startswith("imagenet.")}
    copies = {f"{name}.{key}": tensors[f"imagenet.{key}"] for key in filters
              for name in ("lite", "refine_lite")}
    write_tensors(both, {**own, **copies}, metadata)
    assert both.stat().st_size > WEIGHTS.stat().st_size + 150_000
    older = FaceFinder.load(both)
    for name, net in finder.networks().items():
        state = older.networks()[name].state_dict()
        assert all(torch.equal(value, state[key]) for key, value in net.state_dict().items())
    assert older.find(scene[0]) == finder.find(scene[0])
    with torch.no_grad():
        older.lite.stem.weight.mul_(2)
    apart = tmp_path / "apart.safetensors"
    older.save(apart)
    assert "lite.stem.weight" in read_tensors(apart)[0]
    again = FaceFinder.load(apart)
    assert torch.equal(again.lite.stem.weight, older.lite.stem.weight)
    assert torch.equal(again.refine_lite.stem.weight, finder.refine_lite.stem.weight)


def test_the_twin_learns_only_its_head_over_the_fourth_checks_filters():
    """The twin and the fourth check look through the same ImageNet filters, frozen; the
    twin's head reads a 48-pixel window as the checking network does."""
    twin, check = LiteRefine.from_imagenet(), LiteCheck.from_imagenet()
    filters = {k: v for k, v in twin.state_dict().items() if not k.startswith("head.")}
    assert filters and all(torch.equal(v, check.state_dict()[k]) for k, v in filters.items())
    learned = [name for name, value in twin.named_parameters() if value.requires_grad]
    assert learned and all(name.startswith("head.") for name in learned)
    assert twin(torch.rand(2, 3, 48, 48)).shape == (2, 6)


def test_the_fourth_checks_read_out_learns_from_features_of_any_scale():
    """The read-out learns from standardised features and folds the standardisation into its
    first layer: it then reads raw features whose scales differ a thousandfold."""
    from kitten_mixer.training.lite_readout import fit_readout
    gen = torch.Generator().manual_seed(0)
    features = torch.randn(2000, 88, generator=gen) * torch.logspace(-2, 1, 88)
    labels = ((features[:, 0] * 100 - features[:, -1] / 10) > 0).float()  # tiny and large
    torch.manual_seed(0)
    head = LiteCheck().head
    fit_readout(head, features, labels, epochs=50, gen=gen)
    with torch.no_grad():
        right = ((head(features)[:, 0] > 0).float() == labels).float().mean()
    assert right > 0.98  # unstandardised, the same training gets 0.86
    assert not head.training


def test_the_fourth_check_sees_through_efficientnet_lite1(scene):
    """Its filters are EfficientNet-Lite1's first three stages with the batch norms folded in:
    the same features (the mean maps after blocks 1, 3 and 6) as the ImageNet network itself
    gives, to 16-bit rounding."""
    from kitten_mixer.imagenet import imagenet_network, stages
    images = torch.rand(6, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    images[0] = torch.from_numpy(np.array(scene[0].resize((64, 64)))).permute(2, 0, 1) / 255
    lite = imagenet_network("lite1")
    with torch.no_grad():
        maps = stages(lite, images * 2 - 1, (1, 3, 6))[1:]
        got = LiteCheck.from_imagenet().features(images)
    assert got.shape == (6, 24 + 24 + 40)
    for expected, part in zip(maps, got.split([24, 24, 40], dim=1)):
        expected = expected.mean(dim=(2, 3))
        assert torch.allclose(part, expected, atol=0.02 * expected.abs().max().item())
    assert not torch.allclose(got[0], got[1], atol=0.1)


def test_mining_both_kinds_in_one_pass_gives_what_each_pass_gives(scene):
    """The last check's training mines false proposals and false finds of the same photos;
    proposed on once, they are the windows of `propose` and of `find` away from the labels."""
    from kitten_mixer.faces.box import overlap, squares_to_boxes
    from kitten_mixer.faces.learned import MAX_PROPOSALS, windows
    from kitten_mixer.training.face_data import Photos, mine, mine_both, to_uint8
    from kitten_mixer.training.face_scenes import NO_FACE_IOU

    finder = FaceFinder.load(WEIGHTS)
    labelled = np.array([[300.0, 200.0, 60.0]])  # a label elsewhere: the face is a false find
    photos = Photos([scene[0], plain_scene()], [labelled, np.zeros((0, 3))])
    proposals, finds = mine_both(finder, photos, 48, 0.25)
    for mined, squares_of in ((proposals, lambda image: finder.propose(image)[0]),
                              (finds, lambda image: np.array(
                                  [f[:3] for f in finder.find(image)]).reshape(-1, 3))):
        expected = []
        for image, label in zip(photos.images, photos.squares):
            found = squares_of(image)
            if len(found) and len(label):
                found = found[overlap(squares_to_boxes(found),
                                      squares_to_boxes(label)).max(axis=1) < NO_FACE_IOU]
            if len(found):
                expected.append(to_uint8(windows(image, found, 48, 0.25)))
        assert torch.equal(mined, torch.cat(expected))
    assert len(finds) == 1 and len(proposals) > len(finds)  # the face; more proposals
    assert torch.equal(mine(finder, photos, 48, 0.25, whole=True), finds)  # one kind alone
    assert torch.equal(mine(finder, photos, 48, 0.25, whole=False, limit=MAX_PROPOSALS),
                       proposals)


def test_the_benchmark_measures_a_finder_at_another_face_threshold(scene):
    sys.path.append(str(REPO / "benchmarks"))
    from face_finder import learned_finder

    photo, _ = scene
    shipped = find_cat_faces(photo)
    assert learned_finder(face_threshold=FaceFinder.load().face_threshold)(photo) == shipped
    lower = learned_finder(face_threshold=0.6)(photo)
    assert tuple(lower[0]) == tuple(shipped[0])
    # The same face, its score shown against the lower threshold; the shipped finder untouched.
    assert lower[0].score > shipped[0].score
    assert find_cat_faces(photo)[0].score == shipped[0].score


def test_the_cascades_group_windows_and_rank_them_by_support():
    pytest.importorskip("cv2", reason="the cascades need opencv-python-headless")
    sys.path.append(str(REPO / "benchmarks"))  # the cascades serve the finder's benchmark only
    from cascades import _faces

    def windows(x: float, count: int, score: float = 1.0, side: int = 50) -> list[list[float]]:
        return [[x + i, 10 + i, x + side + i, 10 + side + i, score] for i in range(count)]
    rows = np.array(windows(200, 4) + windows(0, 6) + windows(400, 2)  # 2: too few
                    + windows(600, 5, score=-0.5)  # 5, but none scores 0 or more
                    + windows(18, 3)  # overlaps the face at 0: the same face, found twice
                    + windows(20, 3, side=25))  # inside the face at 0: its eyes, say
    faces = _faces(rows)
    assert [count for _, count in faces] == [6, 4]
    assert faces[0][0][0] == pytest.approx(2.5) and faces[1][0][0] == pytest.approx(201.5)


@pytest.mark.slow  # searches 189 photos
@pytest.mark.skipif(not PHOTOS_ZIP.is_file(), reason=f"{PHOTOS_ZIP} is missing")
@pytest.mark.parametrize("photo_set", ["dev", "test"])
def test_finds_the_hand_labelled_faces(photo_set):
    labels = json.loads(BOX_FILES[photo_set].read_text())
    faces = matched = first_right = first_tried = 0
    with zipfile.ZipFile(PHOTOS_ZIP) as archive:
        for name, boxes in labels.items():
            found = find_cat_faces(archive.read(name))
            faces += len(boxes)
            matched += sum(any(iou(b, f) >= 0.5 for f in found) for b in boxes)
            if boxes and found:
                first_tried += 1
                first_right += any(iou(b, found[0]) >= 0.5 for b in boxes)
    assert faces >= 40
    assert matched / faces >= MIN_RECALL[photo_set]
    assert first_right / first_tried >= MIN_FIRST_RIGHT[photo_set]


@pytest.mark.slow  # trains the five networks for a few steps, and the last three again
def test_train_finder_writes_a_finder_that_loads(tmp_path, monkeypatch):
    from conftest import write_photos, zip_folder

    import kitten_mixer.training.face_finder as training

    monkeypatch.setattr(training, "PROPOSAL_STEPS", (3, 2))
    monkeypatch.setattr(training, "REFINE_STEPS", (3, 2))
    monkeypatch.setattr(training, "VERIFY_STEPS", (3, 2))
    monkeypatch.setattr(training, "LITE_BATCHES", 2)
    monkeypatch.setattr(training, "LITE_EPOCHS", 2)
    monkeypatch.setattr(training, "SCENES", 6)
    monkeypatch.setattr(training, "TEXTURES", 4)
    write_photos(tmp_path / "cats", 40)
    cats = zip_folder(tmp_path / "cats", tmp_path / "cats.zip")
    scenes = tmp_path / "scenes" / "photos"
    write_photos(scenes, 4, size=(320, 240), fmt="jpg")
    photos = zip_folder(tmp_path / "scenes", tmp_path / "photos.zip")
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({f"photos/cat{i:03d}.jpg": [[100, 60, 180, 140]] if i else []
                                 for i in range(4)}))
    out = tmp_path / "finder.safetensors"
    assert main(["train-faces", "--faces", str(cats), "--photos", str(photos),
                 "--boxes", str(boxes), "-o", str(out)]) == 0
    finder = FaceFinder.load(out)
    assert out.stat().st_size < 2_000_000
    assert finder.verify is not None and 0 < finder.verify_threshold < 1
    assert finder.lite is not None and 0 < finder.lite_threshold < 1
    assert finder.refine_lite is not None
    assert isinstance(finder.find(backdrop()), list)
    # The last check trained again on the saved networks, whatever the random state before:
    # the saved weights, so that a finished finder's last check can be trained anew.
    sources = training.make_sources(cats, photos, boxes, np.random.default_rng(0))
    for seed in (5, 6):
        torch.manual_seed(seed)
        again = training.train_verify(FaceFinder(finder.proposal, finder.refine), sources)
        assert all(torch.equal(value.half(), finder.verify.state_dict()[key].half())
                   for key, value in again.verify.state_dict().items())
        lite = training.train_lite(FaceFinder(finder.proposal, finder.refine), sources)
        assert all(torch.equal(value.half(), finder.lite.state_dict()[key].half())
                   for key, value in lite.state_dict().items())
        twin = training.train_refine_lite(FaceFinder(finder.proposal, finder.refine), sources)
        assert all(torch.equal(value.half(), finder.refine_lite.state_dict()[key].half())
                   for key, value in twin.state_dict().items())


# One crop path: the library, the command line and the app crop a photo the same way.

@pytest.fixture(scope="module")
def mixer() -> KittenMixer:
    return KittenMixer.load()


def test_the_mixer_crops_a_whole_scene_photo_around_its_face(scene, mixer, tmp_path):
    photo, truth = scene
    (crop,) = mixer.faces(photo)
    assert crop.sought and iou(crop.box, truth) >= 0.5
    assert np.array_equal(np.asarray(crop.image), np.asarray(crop_face(photo, crop.box)))
    path = tmp_path / "scene.png"
    photo.save(path)
    codes = mixer.encode([photo, path, path.read_bytes()])
    assert torch.allclose(codes[0], mixer.encode(crop.image, find=False)[0], atol=1e-5)
    assert torch.allclose(codes[1], codes[0]) and torch.allclose(codes[2], codes[0])
    # The same photo centre-cropped is another cat: the sofa, not the face.
    assert not torch.allclose(mixer.encode(photo, find=False)[0], codes[0], atol=1e-2)
    morph = mixer.morph(photo, real_face(1), steps=3)
    assert np.array_equal(np.asarray(morph.ends[0]), np.asarray(crop.image))
    # The mix decodes its code alone, the morph in a batch.
    assert same_pixels_but_rounding(mixer.mix([photo, real_face(1)], [1, 0]), morph.frames[0])


def test_a_photo_without_a_face_is_centre_cropped_with_a_note_naming_it(mixer, tmp_path):
    photo = plain_scene()
    path = tmp_path / "sofa.png"
    photo.save(path)
    with pytest.warns(NoFaceFound, match=r"sofa\.png: no cat face found, using the centre"):
        code = mixer.encode(path)
    with pytest.warns(NoFaceFound, match=r"^photo 2: no cat face found"):
        mixer.encode([real_face(), photo])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # turned off: no finding, no note
        assert torch.equal(code, mixer.encode(photo, find=False))


def test_face_crops_are_not_cropped_again(mixer):
    face = real_face()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        crops = mixer.faces([face, face.resize((128, 128))])
    assert not any(crop.sought for crop in crops)
    assert np.array_equal(np.asarray(crops[0].image), np.asarray(face))
    assert face_or_centre(face.resize((129, 129))).sought  # over twice the model's size


def test_mix_finds_faces_unless_told_not_to(scene, tmp_path, capsys):
    photo, _ = scene
    photo.save(tmp_path / "scene.png")
    plain_scene().save(tmp_path / "sofa.png")
    args = ["mix", str(tmp_path / "scene.png"), str(tmp_path / "sofa.png"), "--steps", "3",
            "--zoom", "1"]
    assert main(args + ["-o", str(tmp_path / "found.png")]) == 0
    notes = capsys.readouterr().err.strip().splitlines()
    assert notes == [f"kitten-mixer: note: {tmp_path / 'sofa.png'}: no cat face found, "
                     "using the centre of the photo"]
    assert main(args + ["--no-find", "-o", str(tmp_path / "centre.png")]) == 0
    assert capsys.readouterr().err == ""
    # The strip opens with cat a's face as the model saw it (after a 2-pixel margin).
    found = np.asarray(Image.open(tmp_path / "found.png"))[2:66, 2:66]
    centre = np.asarray(Image.open(tmp_path / "centre.png"))[2:66, 2:66]
    assert np.array_equal(found, np.asarray(face_or_centre(photo).image))
    assert np.array_equal(centre, np.asarray(face_or_centre(photo, find=False).image))


@pytest.mark.parametrize("boxes, message", [
    ("{not json", "cannot be read as JSON"),
    ('{"photos/a.jpg": [[1, 2, 3]]}', r"expected \{photo name"),
    ('{"photos/none.jpg": []}', "has no photos/none.jpg"),
])
def test_train_faces_refuses_bad_boxes_in_one_line(tmp_path, capsys, boxes, message):
    from conftest import write_photos, zip_folder

    write_photos(tmp_path / "scenes" / "photos", 1, size=(320, 240), fmt="jpg")
    photos = zip_folder(tmp_path / "scenes", tmp_path / "photos.zip")
    (tmp_path / "boxes.json").write_text(boxes)
    status = main(["train-faces", "--faces", str(photos), "--photos", str(photos),
                   "--boxes", str(tmp_path / "boxes.json"),
                   "-o", str(tmp_path / "finder.safetensors")])
    error = capsys.readouterr().err
    assert status == 2 and len(error.strip().splitlines()) == 1
    assert re.search(message, error)
    assert not (tmp_path / "finder.safetensors").exists()
