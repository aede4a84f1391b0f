"""The app's breeding flows in Streamlit's AppTest (no browser): keeping a morph's step, the mix
slider's kitten and a new kitten; breeding a second generation and its family; tuning genes and
resetting them; blending three or four cats; opening links good and bad. All run the whole page
several times, so all are marked slow."""

from __future__ import annotations

import re
import shutil

import pytest
from streamlit.testing.v1 import AppTest
from test_app_page import (
    STEPS,
    choose_two,
    click,
    image_captions,
    image_urls,
    select_buttons,
    texts_of,
)
from test_app_page import app as app  # noqa: F401 (the fixture: the app's first page)
from test_app_page import store_folder as store_folder  # noqa: F401 (autouse: a store each)

from kitten_mixer.mixer import DEFAULT_MODEL
from kitten_mixer.webapp.launch import SCRIPT
from kitten_mixer.webapp.texts import TEXTS


def captions_of(app: AppTest) -> list[str]:
    return [*image_captions(app), *(c.value for c in app.caption)]


def captioned(app: AppTest, caption: str) -> set[str]:
    """The media URLs of the pictures with this caption."""
    return {url for image in app.get("image") for url, c in zip(
        (picture.url for picture in image.proto.imgs), image.captions) if c == caption}


def kept(app: AppTest) -> list:
    """The visitor's kept kittens (in the store), newest first."""
    return [cat for cat in app.session_state["own"].values() if cat.origin == "kept"]


def kept_names(app: AppTest) -> list[str]:
    names = [cat.name for cat in kept(app)]
    assert all(re.fullmatch(r"#[\w-]{6}", name) for name in names), names
    return names


def choose(app: AppTest, *keys: str) -> AppTest:
    for key in keys:
        click(app, f"select-{key}")
    return app


def remove_all(app: AppTest) -> AppTest:
    for key in list(app.session_state["chosen"]):
        click(app, f"remove-{key}")
    return app


@pytest.mark.slow
def test_a_step_and_the_mix_kitten_can_be_kept(app):
    a, b = choose_two(app)
    assert app.button(key="keep-step-4").label == TEXTS["keep_step"]["es"]
    click(app, "keep-step-4")
    [first] = kept_names(app)
    assert TEXTS["kept"]["es"].format(name=first) in [toast.value for toast in app.toast]
    assert select_buttons(app)[0].key == f"select-{kept(app)[0].key}"  # first in the gallery
    assert "60% 7078 + 40% 13660" in captions_of(app)  # its card names its parents
    app.slider(key="ratio").set_value(20).run()
    click(app, "keep-mix")
    assert app.button(key="keep-mix").label == TEXTS["keep"]["es"]
    assert kept_names(app)[1:] == [first]
    assert "80% 7078 + 20% 13660" in captions_of(app)
    assert app.session_state["chosen"] == [a, b]


@pytest.mark.slow
def test_a_new_kitten_can_be_kept(app):
    click(app, "kittens")
    kitten = next(iter(app.session_state["own"]))
    click(app, f"keep-{kitten}")
    assert len(kept_names(app)) == 1  # it keeps its place, under its key in the store
    assert select_buttons(app)[0].key == f"select-{kept(app)[0].key}"
    assert f"keep-{kitten}" not in [b.key for b in app.button]
    assert TEXTS["kind_kitten"]["es"] in captions_of(app)


@pytest.mark.slow
def test_kept_kittens_breed_a_second_generation_with_its_family(app):
    first, second, third, fourth = (b.key.removeprefix("select-")
                                    for b in select_buttons(app)[:4])
    choose(app, first, second)
    click(app, "keep-step-2")
    remove_all(app)
    choose(app, third, fourth)
    click(app, "keep-mix")
    remove_all(app)
    k2, k1 = kept(app)
    choose(app, k1.key, k2.key)
    assert sum(1 for b in app.get("download_button") if b.label == "PNG") == STEPS + 2
    click(app, "keep-step-7")
    assert len(kept_names(app)) == 3
    k3 = kept(app)[0]
    assert f"30% {k1.name} + 70% {k2.name}" in captions_of(app)
    assert TEXTS["link_local"]["es"] not in texts_of(app)  # kept kittens travel
    assert app.query_params == {"a": f"k.{k1.key[2:]}", "b": f"k.{k2.key[2:]}", "t": "0.5"}
    app.session_state["view"] = TEXTS["family"]["es"]
    ran(app)
    captions = captions_of(app)
    assert {k3.name, f"{k1.name} · 30% de {k3.name}", f"{k2.name} · 70% de {k3.name}",
            f"7078 · 80% de {k1.name}", f"13660 · 20% de {k1.name}",
            f"3896 · 50% de {k2.name}", f"15416 · 50% de {k2.name}"} <= set(captions)


def ran(app: AppTest) -> AppTest:
    """The page run once more, without an exception."""
    app.run()
    assert not app.exception, app.exception
    return app


def open_genes(app: AppTest) -> AppTest:
    """Open the genes' panel (folded by default) and run the page."""
    app.session_state["tune"] = True
    return ran(app)


@pytest.mark.slow
def test_genes_tune_a_chosen_cat_and_reset_puts_them_back(app):
    a, _ = choose_two(app)
    assert not [s for s in app.slider if s.key.startswith("gene-")]  # the panel is folded
    open_genes(app)
    assert len([s for s in app.slider if s.key.startswith("gene-")]) == 10
    lightness = app.slider(key="gene-0")
    assert lightness.label == TEXTS["gene_lightness"]["es"]
    assert app.slider(key="gene-1").label == "Gen 2" and (lightness.min, lightness.max) == (-3, 3)
    assert app.selectbox(key="tune-cat").value == a
    plain = image_urls(app)
    plain_7078 = captioned(app, "7078")  # the chosen cat, the morph's end, its card, untuned
    assert app.button(key="keep-tuned").disabled
    app.slider(key="gene-0").set_value(2.0).run()
    app.slider(key="gene-4").set_value(-1.5).run()
    assert not app.exception
    tuned = image_urls(app)
    assert len(set(tuned) - set(plain)) == 1  # only the tuned cat changed
    assert "7078, ajustado" in image_captions(app)
    assert app.query_params["g"] == "2,0,0,0,-1.5"
    click(app, "keep-tuned")
    assert len(kept_names(app)) == 1 and "7078, ajustado" in [c.value for c in app.caption]
    click(app, "tune-reset")
    open_genes(app)  # AppTest does not send the panel's state back as a browser does
    assert all(s.value == 0 for s in app.slider if s.key.startswith("gene-"))
    assert "g" not in app.query_params and captioned(app, "7078") == plain_7078
    app.selectbox(key="tune-cat").set_value(app.session_state["chosen"][1])
    open_genes(app)
    assert "13660" in image_captions(app) and not app.exception


@pytest.mark.slow
def test_three_or_four_cats_blend_in_their_shares(app):
    keys = [b.key.removeprefix("select-") for b in select_buttons(app)[:4]]
    choose(app, *keys[:3])
    assert [s.key for s in app.slider if s.key.startswith("share-")] == \
        ["share-0", "share-1", "share-2"]
    assert "34% 7078 + 33% 13660 + 33% 3896" in image_captions(app)
    app.slider(key="share-1").set_value(0).run()
    assert "50% 7078 + 50% 3896" in image_captions(app)
    assert app.query_params["w"] == "50,0,50"
    for i in (0, 2):
        app.slider(key=f"share-{i}").set_value(0).run()
    assert TEXTS["blend_empty"]["es"] in texts_of(app) and not app.exception
    app.slider(key="share-1").set_value(100).run()
    alone = [u for u, c in zip(image_urls(app), image_captions(app)) if c == "100% 13660"]
    assert len(alone) == 1
    app.slider(key="share-0").set_value(60).run()
    app.slider(key="share-1").set_value(40).run()
    click(app, "keep-blend")
    assert "60% 7078 + 40% 13660" in captions_of(app)  # a share of 0: not a parent
    choose(app, keys[3])
    assert len([s for s in app.slider if s.key.startswith("share-")]) == 4


def opened(query: dict[str, str]) -> AppTest:
    """The page opened by a link with these query parameters (in a new session)."""
    app = AppTest.from_file(str(SCRIPT), default_timeout=120)
    app.query_params.update(query)
    return ran(app)


@pytest.mark.slow
def test_a_link_opens_the_same_morph_and_kitten(app):
    a, b = choose_two(app)
    app.slider(key="ratio").set_value(40).run()
    assert app.query_params == {"a": "7078", "b": "13660", "t": "0.4"}
    linked = opened(app.query_params)
    assert linked.session_state["chosen"] == [a, b] and linked.slider(key="ratio").value == 40
    assert image_urls(linked) == image_urls(app)  # media URLs are hashes of the pictures
    assert "60% del primero, 40% del segundo" in image_captions(linked)
    assert linked.query_params == app.query_params
    query = {"a": "7078", "b": "13660", "c": "3896", "t": "0.4", "steps": "7",
             "method": "linear", "w": "50,20,30", "g": "1.5,0,-1", "tune": "c", "lang": "en"}
    linked = opened(query)
    assert linked.query_params == query and linked.title[0].value == TEXTS["title"]["en"]
    assert sum(1 for b in linked.get("download_button") if b.label == "PNG") == 7 + 2
    assert "50% 7078 + 20% 13660 + 30% 3896" in image_captions(linked)
    assert "3896, tuned" in image_captions(linked)
    assert linked.slider(key="gene-2").value == -1.0


@pytest.mark.slow
@pytest.mark.parametrize("query", [{"a": "no-such-cat", "b": "13660"},
                                   {"a": "7078", "b": "13660", "t": "1.7"},
                                   {"a": "7078", "g": "9,9"}, {"b": "7078"}])
def test_a_bad_link_opens_the_plain_page_with_a_note(query):
    app = opened(query)
    assert app.session_state["chosen"] == [] and len(select_buttons(app)) == 15
    assert [w.value for w in app.warning] == [TEXTS["link_bad"]["es"]]
    assert app.query_params == {}
    click(app, select_buttons(app)[0].key)
    assert not app.warning  # said once


@pytest.mark.slow
def test_a_model_without_genes_says_so_and_refuses_gene_links(tmp_path, monkeypatch):
    shutil.copytree(DEFAULT_MODEL, tmp_path / "model")
    (tmp_path / "model" / "genes.safetensors").unlink()
    monkeypatch.setenv("KITTEN_MIXER_MODEL", str(tmp_path / "model"))
    app = opened({"a": "7078", "g": "1"})
    assert [w.value for w in app.warning] == [TEXTS["link_bad"]["es"]]
    click(app, select_buttons(app)[0].key)
    assert TEXTS["no_genes"]["es"] in texts_of(app)
    assert not [s for s in app.slider if s.key.startswith("gene-")]
