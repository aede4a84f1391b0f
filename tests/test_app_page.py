"""The app's page, flow by flow, in Streamlit's AppTest (no browser): choosing, removing, pages,
languages, uploads good and bad, new kittens, the mix slider and photo galleries. Each flow runs
the whole page several times, a second or more each, so all but the first page are marked slow.
Keeping, breeding, genes, blends and links are in test_app_breeding.py, the browser test in
test_app_browser.py."""

from __future__ import annotations

import ast
import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import write_photos
from PIL import Image
from streamlit.testing.v1 import AppTest

from kitten_mixer.data import load_faces
from kitten_mixer.faces import crop_face, find_cat_faces
from kitten_mixer.mixer import DEFAULT_MODEL
from kitten_mixer.morph import MIN_STEPS
from kitten_mixer.webapp.launch import SCRIPT
from kitten_mixer.webapp.texts import TEXTS
from kitten_mixer.webapp.visitor import MAX_CHOSEN

REPO = Path(__file__).resolve().parents[1]
PHOTOS_ZIP = REPO.parent / "shared" / "data" / "photos.zip"
STEPS = 11


def start() -> AppTest:
    app = AppTest.from_file(str(SCRIPT), default_timeout=120)
    app.run()
    assert not app.exception, app.exception
    return app


@pytest.fixture(autouse=True)
def store_folder(monkeypatch, tmp_path) -> Path:
    """Every page of these tests keeps its kittens in a store of its own (none is made until
    the page needs it)."""
    monkeypatch.delenv("KITTEN_MIXER_DB", raising=False)
    monkeypatch.setenv("KITTEN_MIXER_DATA", str(tmp_path / "store"))
    return tmp_path / "store"


@pytest.fixture
def app(monkeypatch, store_folder) -> AppTest:
    monkeypatch.delenv("KITTEN_MIXER_GALLERY", raising=False)
    monkeypatch.delenv("KITTEN_MIXER_MODEL", raising=False)
    return start()


def select_buttons(app: AppTest) -> list:
    return [b for b in app.button if b.key.startswith("select-")]


def click(app: AppTest, key: str) -> AppTest:
    app.button(key=key).click().run()
    assert not app.exception, app.exception
    return app


def texts_of(app: AppTest) -> str:
    parts = [m.value for m in [*app.markdown, *app.caption, *app.info, *app.warning,
                                *app.error, *app.success, *app.subheader, *app.title]]
    return "\n".join(str(p) for p in parts)


def image_captions(app: AppTest) -> list[str]:
    return [caption for image in app.get("image") for caption in image.captions]


def image_urls(app: AppTest) -> list[str]:
    return [picture.url for image in app.get("image") for picture in image.proto.imgs]


def choose_two(app: AppTest) -> tuple[str, str]:
    first, second = (b.key for b in select_buttons(app)[:2])
    click(app, first)
    click(app, second)
    return first.removeprefix("select-"), second.removeprefix("select-")


def test_cached_functions_read_no_global_missing_from_their_key():
    cached = [f for module in SCRIPT.parent.glob("*.py")
              for f in ast.parse(module.read_text()).body if isinstance(f, ast.FunctionDef)
              and any("cache" in ast.unparse(d) for d in f.decorator_list)]
    assert len(cached) >= 6
    for function in cached:
        names = {n.id for n in ast.walk(function) if isinstance(n, ast.Name)}
        assert "RESOURCES" not in names, function.name
        parameters = [a.arg for a in function.args.args]
        if "_resources" in parameters:
            assert "resources_key" in parameters, function.name


def test_the_first_page_shows_15_cats_in_spanish(app):
    buttons = select_buttons(app)
    assert len(buttons) == 15
    assert {b.label for b in buttons} == {"Seleccionar"}
    assert app.title[0].value == TEXTS["title"]["es"]
    assert app.button(key="previous").disabled and not app.button(key="next").disabled
    assert "Página 1 de 8" in texts_of(app)  # 120 embedded cats
    assert app.slider(key="steps").min == MIN_STEPS


@pytest.mark.slow
def test_choosing_two_cats_shows_the_morph_with_downloads(app):
    a, b = choose_two(app)
    assert app.session_state["chosen"] == [a, b]
    # photo A, 11 steps, photo B: 13 images, each with its PNG button
    assert sum(1 for b in app.get("download_button") if b.label == "PNG") == STEPS + 2
    labels = {b.label for b in app.get("download_button")}
    assert {TEXTS["download_gif"]["es"], TEXTS["download_strip"]["es"],
            TEXTS["download_mix"]["es"]} <= labels
    assert TEXTS["morph"]["es"] in texts_of(app)
    # a third and a fourth cat can join (a blend), a fifth cannot
    for button in select_buttons(app)[2:MAX_CHOSEN]:
        click(app, button.key)
    assert len(app.session_state["chosen"]) == MAX_CHOSEN
    assert all(b.disabled for b in select_buttons(app))
    assert TEXTS["all_chosen"]["es"] in texts_of(app)
    assert sum(1 for b in app.get("download_button") if b.label == "PNG") == STEPS + 2


@pytest.mark.slow
def test_removing_a_cat_hides_the_morph(app):
    a, b = choose_two(app)
    click(app, f"remove-{a}")
    assert app.session_state["chosen"] == [b]
    assert not any(b.label == "PNG" for b in app.get("download_button"))
    assert not select_buttons(app)[0].disabled
    click(app, f"remove-{b}")
    assert app.session_state["chosen"] == []


@pytest.mark.slow
def test_the_steps_slider_changes_the_morph_length(app):
    choose_two(app)
    app.slider(key="steps").set_value(5).run()
    assert sum(1 for b in app.get("download_button") if b.label == "PNG") == 5 + 2


@pytest.mark.slow
def test_the_morph_follows_the_arc_unless_the_line_is_chosen(app):
    choose_two(app)
    assert app.radio(key="method").value == "slerp"
    arc = image_urls(app)
    app.radio(key="method").set_value("linear").run()
    assert not app.exception
    line = image_urls(app)
    # Same ends, other kittens in between (media URLs are hashes of the pictures).
    assert len(line) == len(arc) and line != arc and len(set(line) & set(arc)) >= 2
    assert sum(1 for b in app.get("download_button") if b.label == "PNG") == STEPS + 2


@pytest.mark.slow
def test_pages_turn_forward_and_back(app):
    first_page = [b.key for b in select_buttons(app)]
    click(app, "next")
    second_page = [b.key for b in select_buttons(app)]
    assert len(second_page) == 15 and not set(first_page) & set(second_page)
    assert not app.button(key="previous").disabled
    click(app, "previous")
    assert [b.key for b in select_buttons(app)] == first_page


@pytest.mark.slow
def test_the_last_page_has_no_next(app):
    for _ in range(7):
        click(app, "next")
    assert "Página 8 de 8" in texts_of(app)
    assert app.button(key="next").disabled


@pytest.mark.slow
def test_the_language_toggle_switches_every_text(app):
    app.slider(key="steps").set_value(7).run()
    app.radio(key="method").set_value("linear").run()
    app.radio(key="language").set_value("en").run()
    assert app.slider(key="steps").value == 7  # settings survive the switch
    assert app.radio(key="method").value == "linear"
    assert app.title[0].value == TEXTS["title"]["en"]
    assert {b.label for b in select_buttons(app)} == {"Select"}
    assert app.button(key="next").label == "Next"
    a, _ = choose_two(app)
    assert app.button(key=f"remove-{a}").label == "Remove"
    app.radio(key="language").set_value("es").run()
    assert app.button(key=f"remove-{a}").label == "Eliminar"


def photo_bytes(name: str) -> bytes:
    if not PHOTOS_ZIP.is_file():
        pytest.skip("needs ../shared/data/photos.zip")
    with zipfile.ZipFile(PHOTOS_ZIP) as archive:
        return archive.read(name)


def upload(app: AppTest, *files: tuple[str, bytes]) -> AppTest:
    app.get("file_uploader")[0].set_value(
        [(name, data, "image/jpeg") for name, data in files]).run()
    assert not app.exception, app.exception
    return app


@pytest.mark.slow
def test_uploading_a_cat_photo_finds_the_face_and_adds_the_cat(app):
    upload(app, ("my-cat.jpg", photo_bytes("photos/cat.1.jpg")))
    own = list(app.session_state["own"].values())
    assert len(own) == 1 and own[0].origin == "upload"
    assert "my-cat.jpg: cara encontrada" in texts_of(app)
    # the new cat is first in the gallery, can be chosen under its photo too, and mixes
    first, second = (b.key for b in select_buttons(app)[:2])
    assert first == f"select-{own[0].key}"
    under_photo = next(b for b in app.button if b.key.startswith("upload-"))
    under_photo.click().run()
    assert app.session_state["chosen"] == [own[0].key]
    click(app, second)
    assert sum(1 for b in app.get("download_button") if b.label == "PNG") == STEPS + 2


@pytest.mark.slow
def test_a_photo_without_a_face_is_centre_cropped_with_a_note(app):
    noise = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "PNG")
    upload(app, ("noise.png", buffer.getvalue()))
    assert len(app.session_state["own"]) == 1
    assert any("noise.png: no encontramos una cara" in w.value for w in app.warning)
    # A face crop already: untick the finder, and the centre is used without a note.
    app.checkbox(key="find_face").uncheck().run()
    assert not app.exception, app.exception
    assert not any("noise.png" in w.value for w in app.warning)
    assert len(app.session_state["own"]) == 2


@pytest.mark.slow
def test_bad_uploads_get_a_message_each_and_no_traceback(app):
    good = io.BytesIO()
    Image.new("RGB", (200, 200), "orange").save(good, "JPEG")
    truncated = good.getvalue()[: len(good.getvalue()) // 2]
    huge = io.BytesIO()
    Image.new("1", (11_000, 11_000)).save(huge, "PNG")  # 121 megapixels in a few kB
    upload(app, ("notes.jpg", b"this is a text file, not a photo"),
           ("empty.png", b""), ("half.jpg", truncated), ("huge.png", huge.getvalue()))
    errors = "\n".join(e.value for e in app.error)
    assert "huge.png: la imagen tiene demasiados píxeles" in errors
    assert "notes.jpg: no es una imagen" in errors
    assert "empty.png: el archivo está vacío" in errors
    assert "half.jpg: la imagen está dañada" in errors
    assert not app.session_state["own"]
    assert not app.exception


@pytest.mark.slow
def test_new_kittens_join_the_gallery_and_mix(app):
    click(app, "kittens")
    own = list(app.session_state["own"].values())
    assert len(own) == 5 and all(cat.origin == "kitten" for cat in own)
    assert [b.key for b in select_buttons(app)[:5]] == [f"select-{c.key}" for c in own]
    click(app, f"select-{own[0].key}")
    click(app, f"select-{own[1].key}")
    assert sum(1 for b in app.get("download_button") if b.label == "PNG") == STEPS + 2


@pytest.mark.slow
def test_the_mix_slider_moves_the_single_kitten(app):
    choose_two(app)
    app.slider(key="ratio").set_value(20).run()
    assert not app.exception
    assert "80% del primero, 20% del segundo" in image_captions(app)


@pytest.mark.slow
def test_a_photo_gallery_replaces_the_embedded_one(tmp_path, monkeypatch):
    write_photos(tmp_path / "gallery", 20)
    (tmp_path / "gallery" / "broken.jpg").write_bytes(b"not a photo")
    monkeypatch.setenv("KITTEN_MIXER_GALLERY", str(tmp_path / "gallery"))
    app = start()
    buttons = select_buttons(app)
    assert len(buttons) == 15 and buttons[0].key == "select-g:cat000.png"
    assert "Página 1 de 2" in texts_of(app)


def test_a_gallery_of_whole_photos_shows_the_cats_faces(tmp_path):
    scene = photo_bytes("photos/cat.1.jpg")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "scene.jpg").write_bytes(scene)
    write_photos(tmp_path / "photos", 3)  # faces already, 64 px: kept as they are
    faces = load_faces(tmp_path / "photos", 64, find_faces=True)
    by_name = dict(zip(faces.names, faces.images.permute(0, 2, 3, 1).numpy()))
    expected = crop_face(scene, find_cat_faces(scene)[0], 64)
    assert np.array_equal(by_name["scene.jpg"], np.asarray(expected))
    assert np.array_equal(by_name["cat000.png"],
                          np.asarray(Image.open(tmp_path / "photos" / "cat000.png")))


@pytest.mark.slow
def test_a_missing_model_is_reported_on_the_page(tmp_path, monkeypatch):
    monkeypatch.setenv("KITTEN_MIXER_MODEL", str(tmp_path / "nowhere"))
    app = AppTest.from_file(str(SCRIPT), default_timeout=120).run()
    assert not app.exception
    assert "No se pudo cargar el modelo" in app.error[0].value


@pytest.mark.slow
def test_a_model_without_a_sampler_disables_new_kittens(tmp_path, monkeypatch):
    shutil.copytree(DEFAULT_MODEL, tmp_path / "model")
    (tmp_path / "model" / "sampler.safetensors").unlink()
    monkeypatch.setenv("KITTEN_MIXER_MODEL", str(tmp_path / "model"))
    app = start()
    assert app.button(key="kittens").disabled
    assert TEXTS["no_sampler"]["es"] in texts_of(app)
