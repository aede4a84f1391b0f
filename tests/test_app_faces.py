"""Several cats in one uploaded photo: every face found is boxed and numbered, best first, and
the visitor picks the one the upload stands for. The photo is built here from two faces of
../shared/data/cats.zip pasted on a plain background (the tests skip without it): the core and
the visitor's rules run fast, the page (AppTest, the real model and finder) is marked slow."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import torch
from conftest import CATS_ZIP, File, needs_cats, same_pixels_but_rounding
from PIL import Image
from streamlit.testing.v1 import AppTest

from kitten_mixer import faces
from kitten_mixer.faces import crop_face, face_or_centre
from kitten_mixer.store import KittenStore
from kitten_mixer.webapp import core
from kitten_mixer.webapp.launch import SCRIPT
from kitten_mixer.webapp.visitor import Visitor

pytestmark = needs_cats

# Where the two faces are pasted: (left, top, side) on a 640 x 400 photo.
PLACES = ((50, 100, 170), (410, 140, 150))


def two_cats(names: tuple[str, str] = ("cats/1.jpg", "cats/2.jpg")) -> bytes:
    """A JPEG of two cat faces side by side on a plain background, at PLACES."""
    photo = Image.new("RGB", (640, 400), (200, 190, 170))
    with zipfile.ZipFile(CATS_ZIP) as archive:
        for name, (left, top, side) in zip(names, PLACES):
            face = Image.open(io.BytesIO(archive.read(name))).convert("RGB")
            photo.paste(face.resize((side, side), Image.Resampling.LANCZOS), (left, top))
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def one_cat() -> bytes:
    photo = Image.new("RGB", (400, 300), (90, 120, 90))
    with zipfile.ZipFile(CATS_ZIP) as archive:
        face = Image.open(io.BytesIO(archive.read("cats/4.jpg"))).convert("RGB")
    photo.paste(face.resize((160, 160), Image.Resampling.LANCZOS), (120, 70))
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def place_of(box: tuple[float, ...]) -> int:
    """Which pasted face (0 or 1) holds the box's centre; -1 for neither."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return next((i for i, (left, top, side) in enumerate(PLACES)
                 if left <= cx <= left + side and top <= cy <= top + side), -1)


@pytest.fixture(scope="module")
def resources() -> core.Resources:
    return core.load_resources()


@pytest.fixture(scope="module")
def photo() -> bytes:
    return two_cats()


@pytest.fixture(scope="module")
def upload(resources, photo) -> core.Upload:
    return core.read_upload(resources, "two-cats.jpg", photo)


@pytest.fixture
def searches(monkeypatch) -> list[int]:
    """Counts the finder's searches of a photo from now on."""
    count = []
    for name in ("find_cat_faces", "look_for_cat_faces"):  # the library's, and the app's
        search = getattr(faces, name)

        def counted(*args, search=search, **kwargs):
            count.append(1)
            return search(*args, **kwargs)

        monkeypatch.setattr(faces, name, counted)
    return count


def code_of(resources: core.Resources, photo: bytes, box: tuple[float, ...]) -> torch.Tensor:
    return resources.mixer.encode(crop_face(photo, box, 64), find=False)[0]


def test_both_cats_of_a_photo_are_found_boxed_and_numbered_best_first(resources, photo, upload):
    assert sorted(place_of(box) for box in upload.boxes) == [0, 1]
    assert upload.boxes[0].score >= upload.boxes[1].score and core.MAX_FACES == 6
    assert upload.picked == 0 and upload.box == upload.boxes[0] and not upload.missed
    # the best face is the upload's cat, cropped as the library crops a photo's face
    best = face_or_centre(photo, 64)
    assert best.box == upload.box and np.array_equal(np.asarray(best.image),
                                                     np.asarray(upload.cat.face))
    assert upload.cat.name == "two-cats (1)" and upload.cat.key.count(":") == 1
    assert [face.size for face in upload.faces] == [(64, 64), (64, 64)]
    # the preview: the best face boxed in red, the other in blue, each with its number
    pixels = np.asarray(upload.preview).reshape(-1, 3)
    for colour in core.FACE_COLOURS:
        assert (np.abs(pixels.astype(int) - colour).sum(axis=1) < 30).sum() > 100


def test_picking_a_face_crops_and_encodes_it_alone(resources, photo, upload, searches):
    second = core.pick_face(resources, upload, photo, 1)
    assert searches == []  # the faces found when the photo was read: no search again
    assert second.picked == 1 and second.box == upload.boxes[1]
    assert torch.allclose(second.cat.code, code_of(resources, photo, upload.boxes[1]))
    assert not torch.allclose(second.cat.code, upload.cat.code)
    assert second.cat.key == f"{upload.cat.key}:2" and second.cat.name == "two-cats (2)"
    assert second.faces == upload.faces and second.preview is upload.preview
    first = core.pick_face(resources, second, photo, 0)
    assert first.cat.key == upload.cat.key and torch.allclose(first.cat.code, upload.cat.code)
    # no such face, or the one picked already: the same upload
    assert core.pick_face(resources, upload, photo, 0) is upload
    assert core.pick_face(resources, upload, photo, 2) is upload
    assert core.pick_face(resources, upload, photo, -1) is upload


def test_a_photo_with_one_cat_is_read_as_before(resources):
    data = one_cat()
    upload = core.read_upload(resources, "one-cat.jpg", data)
    found = face_or_centre(data, 64)
    assert len(upload.boxes) == 1 and upload.box == found.box == upload.boxes[0]
    assert upload.faces == () and upload.cat.name == "one-cat"
    assert np.array_equal(np.asarray(upload.cat.face), np.asarray(found.image))
    assert core.pick_face(resources, upload, data, 1) is upload


def test_the_picked_face_takes_the_uploads_place_and_is_the_one_kept(resources, photo,
                                                                     tmp_path, searches):
    with KittenStore.open(folder=tmp_path) as store:
        state = {}
        visitor = Visitor(state, resources, lambda: store)
        file = File("f1", "two-cats.jpg", photo)
        visitor.draw_kittens(2, seed=1)
        first = visitor.take_uploads([file])[0][0][1].cat
        gallery = list(visitor.own)
        visitor.choose(gallery[1])
        visitor.choose(first.key)
        visitor.pick_face(file, 1)
        upload = visitor.take_uploads([file])[0][0][1]
        second = upload.cat
        assert upload.picked == 1 and searches == [1] and file.reads == 2
        # in the first one's place: in the gallery and among the chosen
        assert list(visitor.own) == [second.key, *gallery[1:]]
        assert visitor.chosen == [gallery[1], second.key]
        assert torch.allclose(visitor.chosen_cats()[1].code, code_of(resources, photo,
                                                                     upload.boxes[1]))
        visitor.pick_face(file, 1)  # picked already: nothing changes, nothing is read
        assert file.reads == 2 and list(visitor.own)[0] == second.key
        # kept: the stored kitten is the second face's code and the face the model draws
        kept = visitor.keep_own(second.key)
        assert torch.equal(store.get(kept.key[2:]).code, second.code)
        picture = Image.open(io.BytesIO(store.get(kept.key[2:]).picture))
        assert same_pixels_but_rounding(picture.convert("RGB"),
                                        resources.mixer.decode(second.code)[0])
        assert visitor.chosen == [gallery[1], kept.key]
        # the first face again: a new cat, first; the kept one stays kept and chosen
        visitor.pick_face(file, 0)
        assert list(visitor.own)[:2] == [first.key, kept.key]
        assert torch.allclose(visitor.own[first.key].code, first.code)
        assert visitor.chosen == [gallery[1], kept.key]
        # and the second again: it is the kitten kept, not a second copy
        visitor.pick_face(file, 1)
        assert list(visitor.own)[0] == kept.key and second.key not in visitor.own
        assert first.key not in visitor.own
        assert visitor.cat(visitor.take_uploads([file])[0][0][1].cat.key) is visitor.own[kept.key]
        assert searches == [1]


# ---- the page --------------------------------------------------------------------------------

@pytest.fixture
def app(monkeypatch, tmp_path) -> AppTest:
    for name in ("KITTEN_MIXER_DB", "KITTEN_MIXER_GALLERY", "KITTEN_MIXER_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KITTEN_MIXER_DATA", str(tmp_path / "store"))
    app = AppTest.from_file(str(SCRIPT), default_timeout=120)
    app.run()
    assert not app.exception, app.exception
    return app


def face_buttons(app: AppTest) -> list:
    return [b for b in app.button if b.key.startswith("face-")]


def run(app: AppTest) -> AppTest:
    app.run()
    assert not app.exception, app.exception
    return app


@pytest.mark.slow
def test_the_visitor_picks_the_second_cat_of_a_photo_and_keeps_it(app, resources, photo,
                                                                  upload):
    app.get("file_uploader")[0].set_value([("two-cats.jpg", photo, "image/jpeg")])
    run(app)
    captions = "\n".join(c.value for c in app.caption)
    assert "two-cats.jpg: 2 caras encontradas" in captions
    buttons = face_buttons(app)
    assert [b.label for b in buttons] == ["1", "2"]
    assert [b.proto.type for b in buttons] == ["primary", "secondary"]
    [first] = app.session_state["own"].values()
    assert torch.allclose(first.code, upload.cat.code)
    app.button(key=f"select-{first.key}").click()
    run(app)
    face_buttons(app)[1].click()
    run(app)
    [second] = app.session_state["own"].values()
    expected = code_of(resources, photo, upload.boxes[1])
    assert second.name == "two-cats (2)" and torch.allclose(second.code, expected, atol=1e-5)
    assert app.session_state["chosen"] == [second.key]
    # the choice holds on the next page runs, in either language
    app.session_state["language"] = "en"
    run(app)
    assert "two-cats.jpg: 2 faces found" in "\n".join(c.value for c in app.caption)
    assert [b.proto.type for b in face_buttons(app)] == ["secondary", "primary"]
    assert list(app.session_state["own"]) == [second.key]
    # kept from its card in the gallery: the second face's code is stored
    app.button(key=f"keep-{second.key}").click()
    run(app)
    [kept] = app.session_state["own"].values()
    assert kept.origin == "kept" and kept.photo and torch.allclose(kept.code, second.code)
    assert app.session_state["chosen"] == [kept.key]



@pytest.mark.slow
def test_a_picture_of_noise_is_told_no_face_was_found(app):
    """The first of the noise benchmark's pictures (benchmarks/face_finder.py --noise, seed 0),
    uploaded: the page says no face was found and the centre is used."""
    from kitten_mixer.training.textures import noise_photos

    picture = noise_photos(1, seed=0)[0]
    if not isinstance(picture, bytes):
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        picture = buffer.getvalue()
    app.get("file_uploader")[0].set_value([("noise.png", picture, "image/png")])
    run(app)
    warnings = "\n".join(w.value for w in app.warning)
    assert "noise.png: no encontramos una cara de gato" in warnings
    assert not face_buttons(app) and len(app.session_state["own"]) == 1
