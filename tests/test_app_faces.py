"""Which face of an uploaded photo the upload stands for. With several cats, every face found is
boxed and numbered, best first, and the visitor picks one; when the finder missed the face (or
boxed another cat), the visitor frames it by hand: moves, sizes and turns a square over the
photo, which starts where the finder guesses a face is. The photos are built here from faces of
../shared/data/cats.zip pasted on plain backgrounds (the tests skip without it): the core and
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
from kitten_mixer.faces.box import face_square
from kitten_mixer.store import KittenStore
from kitten_mixer.webapp import core, framing
from kitten_mixer.webapp.framing import FRAMED, Frame
from kitten_mixer.webapp.keys import Key
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


def uploaded(resources: core.Resources, store: KittenStore, photo: bytes):
    """A visitor's state and the visitor, who drew two new kittens and then uploaded the photo
    as file "f1"; the file, the upload's cat and the gallery's keys (the upload's first)."""
    state = {}
    visitor = Visitor(state, resources, lambda: store)
    file = File("f1", "two-cats.jpg", photo)
    visitor.draw_kittens(2, seed=1)
    first = visitor.take_uploads([file])[0][0][1].cat
    return state, visitor, file, first, list(visitor.own)


def test_the_picked_face_takes_the_uploads_place_and_is_the_one_kept(resources, photo,
                                                                     tmp_path, searches):
    with KittenStore.open(folder=tmp_path) as store:
        state, visitor, file, first, gallery = uploaded(resources, store, photo)
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


# ---- a face framed by hand (webapp/framing.py) --------------------------------------------

def frame_around(place: int, angle: float = 0.0) -> Frame:
    """The frame of the face pasted at PLACES[place] (the square it was pasted into)."""
    left, top, side = PLACES[place]
    return Frame((left + side / 2) / 640, (top + side / 2) / 400, side / 400, angle)


def coloured_pixels(image: Image.Image, colour: tuple[int, int, int]) -> int:
    pixels = np.asarray(image.convert("RGB")).reshape(-1, 3).astype(int)
    return int((np.abs(pixels - colour).sum(axis=1) < 60).sum())


def yellow_pixels(image: Image.Image) -> int:
    return coloured_pixels(image, framing.FRAME_COLOUR)


def test_a_frame_is_a_crop_square_in_shares_of_the_photo():
    frame = Frame(0.25, 0.5, 0.5, 10.0)
    box = frame.box(800, 600)
    cx, cy, side = face_square(box)  # the square a face box is cropped from: the frame's
    assert abs(cx - 200) <= 1 and abs(cy - 300) <= 1 and abs(side - 300) <= 1
    assert box.angle == 10.0 and box.score == 1.0
    # a side under MIN_SIDE or over the photo is held within them
    assert abs(face_square(Frame(side=0.0).box(800, 600))[2] - 600 * framing.MIN_SIDE) <= 1
    assert abs(face_square(Frame(side=3.0).box(800, 600))[2] - 600) <= 1
    # the sliders show it on their steps and within their ranges, and read back the same
    assert frame.sliders() == {"x": 25.0, "y": 50.0, "side": 50.0, "angle": 10.0}
    assert Frame.from_sliders(frame.sliders()) == frame
    odd = Frame(1.2, 0.123, 0.01, 135.0).sliders()
    assert odd == {"x": 100.0, "y": 12.5, "side": 100 * framing.MIN_SIDE, "angle": 90.0}
    assert all(value % framing.STEP == 0 for value in odd.values())


def test_framing_the_other_cat_by_hand_crops_and_encodes_that_square(resources, photo, upload,
                                                                      searches):
    frame = frame_around(0)
    framed = framing.frame_face(resources, upload, photo, frame)
    assert searches == []  # the photo is not searched again
    assert framed.frame == frame and framed.picked == FRAMED
    assert framed.boxes == upload.boxes and framed.faces == upload.faces
    box = frame.box(640, 400)
    assert framed.box == box
    face = crop_face(photo, box, 64)
    assert np.array_equal(np.asarray(framed.cat.face), np.asarray(face))
    assert torch.allclose(framed.cat.code, code_of(resources, photo, box))
    # not the cat the finder put first (the other pasted face)
    assert not torch.allclose(framed.cat.code, upload.cat.code)
    assert framed.cat.name == "two-cats (+)" and framed.cat.key.startswith(upload.cat.key)
    assert framed.cat.key != upload.cat.key and framed.cat.origin == "upload"
    # the preview shows the square in yellow over the finder's boxes; the photo stays clean
    assert yellow_pixels(framed.preview) > 100 and yellow_pixels(upload.preview) == 0
    assert yellow_pixels(upload.photo) == 0 and upload.photo.size == upload.preview.size
    assert coloured_pixels(framed.preview, core.FACE_COLOURS[1]) > 100
    alone = framing.framed_preview(upload, frame, 640, 400, found=False)  # the panel's
    assert yellow_pixels(alone) > 100
    assert all(coloured_pixels(alone, colour) == 0 for colour in core.FACE_COLOURS)
    # the same frame again is the same upload; another is another cat
    assert framing.frame_face(resources, framed, photo, frame) is framed
    turned = framing.frame_face(resources, framed, photo, frame_around(0, 20.0))
    assert turned.cat.key != framed.cat.key and turned.box.angle == 20.0
    # and a face picked from the finder's again: its crop, its key, the finder's preview
    back = core.pick_face(resources, framed, photo, 0)
    assert back.frame is None and back.picked == 0 and back.cat.key == upload.cat.key
    assert torch.allclose(back.cat.code, upload.cat.code)
    assert np.array_equal(np.asarray(back.preview), np.asarray(upload.preview))


def test_a_frame_starts_at_the_face_the_upload_stands_for(upload):
    frame = framing.frame_of(upload, 640, 400)
    cx, cy, side = face_square(upload.box)
    assert frame.x == pytest.approx(cx / 640) and frame.y == pytest.approx(cy / 400)
    assert frame.side == pytest.approx(side / 400) and frame.angle == upload.box.angle
    # framed at that square, the crop is the finder's (to a pixel's rounding)
    again = np.asarray(framing.framed_face(two_cats(), frame, 64)).astype(int)
    assert np.abs(again - np.asarray(upload.cat.face).astype(int)).mean() < 3
    # with no face found, the photo's centre: the centre crop the upload used
    assert framing.frame_of(core.Upload("x.jpg"), 640, 400) == Frame()


def dark_cat() -> bytes:
    """A JPEG of a face darkened as a black cat's is in a lit room, at (250, 120), 150 pixels:
    a face the finder misses (its last checks refuse it) but guesses."""
    with zipfile.ZipFile(CATS_ZIP) as archive:
        face = Image.open(io.BytesIO(archive.read("cats/20.jpg"))).convert("RGB")
    pixels = np.asarray(face.resize((150, 150), Image.Resampling.LANCZOS)) / 255.0
    photo = Image.new("RGB", (480, 360), (90, 80, 70))
    photo.paste(Image.fromarray((pixels ** 3.5 * 255).astype(np.uint8)), (250, 120))
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def test_with_no_face_found_framing_starts_where_the_finder_guesses_one(resources, tmp_path):
    data = dark_cat()
    upload = core.read_upload(resources, "dark.jpg", data)
    assert upload.missed and upload.box is None and upload.guess is not None
    cx, cy, side = face_square(upload.guess)
    assert abs(cx - 325) < 30 and abs(cy - 195) < 30 and 100 < side < 200  # on the face
    frame = framing.frame_of(upload, 480, 360)
    assert (frame.x, frame.y, frame.side) == pytest.approx((cx / 480, cy / 360, side / 360))
    # the panel opens there; mixed as it opens, the upload stands for the dark face
    state = {}
    visitor = Visitor(state, resources, None)
    file = File("d1", "dark.jpg", data)
    visitor.take_uploads([file])
    visitor.open_frame(file)
    assert visitor.frame_shown("d1") == Frame.from_sliders(frame.sliders())
    visitor.frame_face(file, visitor.frame_shown("d1"))
    framed = visitor.upload("d1")
    assert framed.frame is not None and list(visitor.own) == [framed.cat.key]
    # a photo read without finding is never guessed at: framing starts at its centre
    centre = core.read_upload(resources, "dark.jpg", data, find=False)
    assert centre.guess is None and framing.frame_of(centre, 480, 360) == Frame()


def test_a_missed_face_framed_by_hand_replaces_the_centre(resources):
    """A photo whose face the finder cannot see (a small face on a busy picture): the centre
    is used, until the visitor frames the face."""
    photo = Image.new("RGB", (600, 400), (40, 40, 40))
    cat = Image.open(io.BytesIO(two_cats())).crop((50, 100, 220, 270)).resize((60, 60))
    photo.paste(cat, (500, 20))
    buffer = io.BytesIO()
    photo.save(buffer, "PNG")
    data = buffer.getvalue()
    upload = core.read_upload(resources, "corner.png", data, find=False)
    frame = Frame(530 / 600, 50 / 400, 60 / 400)
    framed = framing.frame_face(resources, upload, data, frame)
    assert framed.cat.name == "corner (+)" and framed.box is not None
    assert torch.allclose(framed.cat.code, code_of(resources, data, frame.box(600, 400)))


def test_a_frame_reads_a_photo_turned_by_its_exif_as_it_is_shown(resources, photo):
    """A camera's photo stored sideways with an EXIF orientation: the frame is in shares of the
    photo as shown (upright), on the preview and in the crop alike."""
    upright = Image.open(io.BytesIO(photo))
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned a quarter clockwise: stored turned the other way
    buffer = io.BytesIO()
    upright.transpose(Image.Transpose.ROTATE_90).save(buffer, "JPEG", quality=95, exif=exif)
    sideways = buffer.getvalue()
    assert core.photo_size(sideways) == (640.0, 400.0)
    upload = core.read_upload(resources, "sideways.jpg", sideways)
    assert upload.photo.size == upload.preview.size and upload.photo.width > upload.photo.height
    frame = frame_around(0)
    framed = framing.frame_face(resources, upload, sideways, frame)
    expected = np.asarray(crop_face(photo, frame.box(640, 400), 64)).astype(int)
    assert np.abs(np.asarray(framed.cat.face).astype(int) - expected).mean() < 4


def test_the_visitor_frames_a_face_and_it_takes_the_uploads_place(resources, photo, tmp_path):
    with KittenStore.open(folder=tmp_path) as store:
        state, visitor, file, first, gallery = uploaded(resources, store, photo)
        visitor.choose(first.key)
        # the panel opened: its sliders start at the face the upload stands for
        state[Key.framing("f1")] = True
        visitor.open_frame(file)
        start = framing.frame_of(visitor.upload("f1"), 640, 400).sliders()
        assert {part: state[Key.frame("f1", part)] for part in framing.SLIDERS} == start
        assert visitor.frame_shown("f1") == Frame.from_sliders(start)
        # moved over the other cat and mixed: the framed cat in the first one's place
        for part, value in frame_around(0).sliders().items():
            state[Key.frame("f1", part)] = value
        frame = visitor.frame_shown("f1")
        visitor.frame_face(file, frame)
        framed = visitor.upload("f1").cat
        assert visitor.upload("f1").frame == frame
        assert list(visitor.own) == [framed.key, *gallery[1:]] and visitor.chosen == [framed.key]
        assert torch.allclose(framed.code, code_of(resources, photo, frame.box(640, 400)))
        reads = file.reads
        visitor.frame_face(file, frame)  # framed so already: nothing changes, nothing is read
        assert file.reads == reads and visitor.upload("f1").cat is framed
        # opened again the sliders keep the visitor's square; closed, they are let go, and
        # open again at the square the upload stands for
        visitor.open_frame(file)
        assert visitor.frame_shown("f1") == frame
        state[Key.framing("f1")] = False
        visitor.fold_frame("f1")
        assert not any(Key.frame("f1", part) in state for part in framing.SLIDERS)
        state[Key.framing("f1")] = True
        visitor.open_frame(file)
        assert visitor.frame_shown("f1") == Frame.from_sliders(frame.sliders())
        # kept: the framed face's code is stored; a face picked again is a new cat
        kept = visitor.keep_own(framed.key)
        assert torch.equal(store.get(kept.key[2:]).code, framed.code)
        visitor.pick_face(file, 0)
        assert list(visitor.own)[:2] == [first.key, kept.key]
        assert visitor.chosen == [kept.key]


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


@pytest.mark.slow
def test_the_visitor_frames_the_other_cat_on_the_page(app, resources, photo):
    app.get("file_uploader")[0].set_value([("two-cats.jpg", photo, "image/jpeg")])
    run(app)
    [upload_key] = app.session_state["uploads"]  # "<the uploader's file id>:face"
    file_id = upload_key.split(":")[0]
    [before] = app.session_state["own"].values()
    assert not [s for s in app.slider if s.key and s.key.startswith("frame-")]  # folded
    app.session_state[Key.framing(file_id)] = True
    run(app)
    sliders = {s.key: s for s in app.slider if s.key and s.key.startswith("frame-")}
    assert len(sliders) == 4 and sliders[Key.frame(file_id, "side")].label == \
        "Tamaño (% del lado corto)"
    use = app.button(key=f"frame-use-{file_id}")
    assert use.disabled is False and use.label == "Mezclar este encuadre"
    for part, value in frame_around(0).sliders().items():
        sliders[Key.frame(file_id, part)].set_value(value)
    run(app)
    app.button(key=f"frame-use-{file_id}").click()
    run(app)
    [framed] = app.session_state["own"].values()
    frame = Frame.from_sliders(frame_around(0).sliders())
    assert framed.name == "two-cats (+)" and framed.key != before.key
    assert torch.allclose(framed.code, code_of(resources, photo, frame.box(640, 400)),
                          atol=1e-5)
    assert "two-cats.jpg: cara encuadrada a mano (cuadrado amarillo)." in \
        [c.value for c in app.caption]
    assert app.button(key=f"frame-use-{file_id}").disabled  # this square is the one mixed
    # back to the face found: the finder's best again
    app.button(key=f"frame-back-{file_id}").click()
    run(app)
    [back] = app.session_state["own"].values()
    assert back.key == before.key and torch.allclose(back.code, before.code)
