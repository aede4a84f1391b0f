"""The app's kitten store in Streamlit's AppTest (no browser), on a real SQLite store in a
folder of each test's own: a kept kitten is there again after a reload (a new session whose
browser brings the visitor's cookie), `?k=` links, the nursery's pages and its opt-in,
deleting a kitten and its children's withdrawn parent, bad ids, and a store that is full, down
or rate-limited, each a one-line note that loses nothing kept before. AppTest cannot send a
cookie, so the page's cookie reader is replaced; test_app_store_browser.py sends real ones."""

from __future__ import annotations

import re
import sqlite3

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest
from test_app_page import choose_two, click, image_captions, select_buttons, start, texts_of
from test_app_page import store_folder as store_folder  # noqa: F401 (autouse: a store each)

from kitten_mixer.images import png_bytes
from kitten_mixer.store import KittenStore, Parent
from kitten_mixer.store.engine import FILE_NAME
from kitten_mixer.webapp import page
from kitten_mixer.webapp.core import load_resources
from kitten_mixer.webapp.launch import SCRIPT, free_port
from kitten_mixer.webapp.stored import COOKIE
from kitten_mixer.webapp.texts import TEXTS

pytestmark = pytest.mark.slow


def ran(app: AppTest) -> AppTest:
    app.run()
    assert not app.exception, app.exception
    return app


def opened(query: dict[str, str] | None = None, tab: str | None = None) -> AppTest:
    """A new session (a reload, or a link opened in another browser), on `tab` if given."""
    app = AppTest.from_file(str(SCRIPT), default_timeout=120)
    app.query_params.update(query or {})
    ran(app)
    if tab:
        show(app, tab)
    return app


def show(app: AppTest, tab: str) -> AppTest:
    app.session_state["view"] = TEXTS[tab]["es"]
    return ran(app)


def with_cookie(monkeypatch, token: str | None) -> None:
    """The browser brings this token in its cookie (None: no cookie)."""
    monkeypatch.setattr(page, "cookie_token", lambda: token)


def kept(app: AppTest) -> list:
    return [cat for cat in app.session_state["own"].values() if cat.origin == "kept"]


def cookie_script(app: AppTest) -> str | None:
    """The token the page gives the browser's cookie, if it gives one."""
    for html in app.get("html"):
        found = re.search(COOKIE + r"';.*name \+ '=([\w-]+);", html.value)
        if found:
            return found.group(1)
    return None


def notes(app: AppTest) -> list[str]:
    """The page's one-line notes: its errors and warnings."""
    return [n.value for n in [*app.error, *app.warning]]


def picture_of(app: AppTest, name: str) -> set[str]:
    """The media URLs (hashes of the bytes) of the pictures captioned with this name."""
    return {picture.url for image in app.get("image")
            for picture, caption in zip(image.proto.imgs, image.captions) if caption == name}


def test_the_first_page_and_a_morph_do_not_touch_the_store(store_folder):
    app = start()
    choose_two(app)
    click(app, "next")
    assert not store_folder.exists()  # opened on first use only
    assert "token" not in app.session_state and cookie_script(app) is None
    show(app, "nursery")
    assert store_folder.joinpath(FILE_NAME).is_file()
    assert TEXTS["nursery_empty"]["es"] in texts_of(app)


def test_a_kept_kitten_is_there_after_a_reload(monkeypatch):
    with_cookie(monkeypatch, None)
    app = start()
    choose_two(app)
    click(app, "keep-step-4")
    [kitten] = kept(app)
    token = app.session_state["token"]
    assert cookie_script(app) == token  # given to the browser's cookie...
    assert token not in str(app.query_params)  # ...never to the link
    with_cookie(monkeypatch, token)
    again = opened()  # the reload: a new session, the same browser
    assert [cat.key for cat in kept(again)] == [kitten.key]
    assert select_buttons(again)[0].key == f"select-{kitten.key}"
    assert picture_of(again, kitten.name) == picture_of(app, kitten.name)
    assert cookie_script(again) is None  # the browser has it
    show(again, "family")
    assert "60% 7078 + 40% 13660" in [c.value for c in again.caption]
    assert again.toggle(key=f"public-{kitten.key[2:]}").value is False  # private at first
    with_cookie(monkeypatch, None)
    stranger = opened(tab="family")  # another browser: none of it
    assert kept(stranger) == [] and TEXTS["family_empty"]["es"] in texts_of(stranger)


def test_a_kitten_link_opens_it_in_any_browser_with_its_family(monkeypatch):
    with_cookie(monkeypatch, None)
    app = start()
    choose_two(app)
    click(app, "keep-step-2")
    click(app, "keep-step-8")
    second, first = kept(app)
    for key in list(app.session_state["chosen"]):
        click(app, f"remove-{key}")
    click(app, f"select-{first.key}")
    click(app, f"select-{second.key}")
    click(app, "keep-mix")
    child = kept(app)[0]
    for key in list(app.session_state["chosen"]):
        click(app, f"remove-{key}")
    click(app, f"select-{child.key}")
    assert app.query_params == {"k": child.key[2:]}
    elsewhere = opened(dict(app.query_params), tab="family")
    assert elsewhere.session_state["chosen"] == [child.key]
    assert picture_of(elsewhere, child.name) == picture_of(app, child.name)
    assert kept(elsewhere) == []  # someone else's kitten: chosen, not theirs
    captions = image_captions(elsewhere)
    assert f"{first.name} · 50% de {child.name}" in captions
    assert "7078 · 80% de " + first.name in captions
    both = {"a": f"k.{first.key[2:]}", "b": f"k.{second.key[2:]}", "t": "0.4"}
    morph = opened(both)
    assert morph.session_state["chosen"] == [first.key, second.key]
    assert "60% del primero, 40% del segundo" in image_captions(morph)


@pytest.mark.parametrize("query, note", [
    ({"k": "AAAAAAAAAAAAAAAA"}, "link_gone"), ({"k": "nope"}, "link_gone"),
    ({"k": "<b>x</b>"}, "link_bad"), ({"a": "k.AAAAAAAAAAAAAAAA", "b": "7078"}, "link_gone"),
    ({"k": "A" * 5000}, "link_bad"), ({"k": "AAAAAAAAAAAAAAAA", "a": "7078"}, "link_bad")])
def test_a_link_with_a_bad_or_unknown_id_opens_the_plain_page(query, note):
    app = opened(query)
    assert app.session_state["chosen"] == [] and len(select_buttons(app)) == 15
    assert notes(app) == [TEXTS[note]["es"]]
    assert app.query_params == {}


@pytest.fixture(scope="module")
def resources():
    return load_resources()


def keep_directly(store: KittenStore, resources, owner: str, n: int, public: bool = False,
                  parents=()) -> list:
    """n kittens kept straight into the store (as other visitors' pages would)."""
    kittens = []
    for i in range(n):
        cat = resources.cats[i % len(resources.cats)]
        kittens.append(store.keep(owner, cat.code + 0.01 * i, parents, {},
                                  resources.model_digest, png_bytes(cat.face), public=public))
    return kittens


def test_the_nursery_shows_only_shared_kittens_page_by_page(monkeypatch, store_folder,
                                                           resources):
    with KittenStore.open(folder=store_folder) as store:
        keep_directly(store, resources, "someone-else", 3)  # private: never in the nursery
        shared = keep_directly(store, resources, "another-visitor", 16, public=True)
        for _ in range(2):  # the oldest shared kitten is bred twice
            keep_directly(store, resources, "a-third", 1,
                          parents=[Parent("kitten", shared[0].id, 1.0)])
    with_cookie(monkeypatch, None)
    app = opened(tab="nursery")
    names = [b.key for b in app.button if b.key.startswith("nursery-s:")]
    assert names == [f"nursery-s:{k.id}" for k in reversed(shared[1:])]  # newest first
    assert "Página 1 de 2" in texts_of(app)
    click(app, "nursery-next")
    assert [b.key for b in app.button if b.key.startswith("nursery-s:")] == \
        [f"nursery-s:{shared[0].id}"]
    app.radio(key="nursery_order").set_value("most_bred").run()
    first = next(b for b in app.button if b.key.startswith("nursery-s:"))
    assert first.key == f"nursery-s:{shared[0].id}" and "Página 1 de 2" in texts_of(app)
    assert "hijos: 2" in " ".join(c.value for c in app.caption)
    click(app, first.key)  # chosen like a gallery cat, and bred
    assert app.session_state["chosen"] == [f"s:{shared[0].id}"]
    assert app.button(key=first.key).disabled
    show(app, "gallery")
    click(app, select_buttons(app)[0].key)
    assert any(b.label == "PNG" for b in app.get("download_button"))
    click(app, "keep-mix")
    child = kept(app)[0]
    with KittenStore.open(folder=store_folder) as store:
        assert [p.ref for p in store.get(child.key[2:]).parents][0] == shared[0].id
        assert store.get(child.key[2:]).public is False
        assert store.nursery_size() == 16  # kept, not shared


def test_sharing_in_the_nursery_is_the_visitors_choice(monkeypatch):
    with_cookie(monkeypatch, None)
    app = start()
    choose_two(app)
    click(app, "keep-step-3")
    kitten = kept(app)[0]
    show(app, "nursery")
    assert TEXTS["nursery_empty"]["es"] in texts_of(app)
    show(app, "family")
    app.toggle(key=f"public-{kitten.key[2:]}").set_value(True).run()
    assert not app.exception
    show(app, "nursery")
    assert [b.key for b in app.button if b.key.startswith("nursery-s:")] == \
        [f"nursery-{kitten.key}"]
    show(app, "family")
    app.toggle(key=f"public-{kitten.key[2:]}").set_value(False).run()
    show(app, "nursery")
    assert TEXTS["nursery_empty"]["es"] in texts_of(app)


def test_a_deleted_kitten_reads_as_withdrawn_in_its_childrens_family(monkeypatch):
    with_cookie(monkeypatch, None)
    app = start()
    a, b = choose_two(app)
    click(app, "keep-step-3")
    parent = kept(app)[0]
    click(app, f"remove-{b}")
    click(app, f"select-{parent.key}")
    click(app, "keep-mix")
    child = kept(app)[0]
    assert f"50% 7078 + 50% {parent.name}" in [c.value for c in app.caption]
    show(app, "family")
    click(app, f"delete-{parent.key[2:]}")
    assert TEXTS["deleted"]["es"].format(name=parent.name) in [x.value for x in app.toast]
    assert [cat.key for cat in kept(app)] == [child.key]
    assert app.session_state["chosen"] == [a]
    assert f"{TEXTS['parent_withdrawn']['es']} · 50% de {child.name}" in \
        [c.value for c in app.caption]
    assert not app.exception
    token = app.session_state["token"]
    with_cookie(monkeypatch, token)
    again = opened(tab="family")  # after a reload too, from the store
    assert [cat.key for cat in kept(again)] == [child.key]
    assert "50% 7078 + 50% retirado" in [c.value for c in again.caption]
    gone = opened({"k": parent.key[2:]})
    assert notes(gone) == [TEXTS["link_gone"]["es"]]


def test_a_full_store_keeps_nothing_new_and_loses_nothing(monkeypatch, store_folder,
                                                          resources):
    token = "C" * 32
    with KittenStore.open(folder=store_folder) as store:
        before = keep_directly(store, resources, token, 2)
    with sqlite3.connect(store_folder / FILE_NAME) as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]

    def full(connection, _record):
        connection.execute(f"PRAGMA max_page_count = {pages}")

    # Every connection the page opens to the store finds the disk full.
    sa.event.listen(sa.pool.Pool, "connect", full)
    try:
        with_cookie(monkeypatch, token)
        app = start()
        assert [cat.key[2:] for cat in kept(app)] == [k.id for k in reversed(before)]
        choose_two(app)
        click(app, "keep-step-6")
        assert notes(app) == [TEXTS["store_full"]["es"]]
        assert [cat.key[2:] for cat in kept(app)] == [k.id for k in reversed(before)]
        click(app, "keep-mix")
        assert notes(app) == [TEXTS["store_full"]["es"]]
    finally:
        sa.event.remove(sa.pool.Pool, "connect", full)
    with KittenStore.open(folder=store_folder) as store:
        assert [k.id for k in store.mine(token)] == [k.id for k in reversed(before)]


def test_a_store_that_is_down_gives_a_note_and_the_page_works(monkeypatch):
    # A PostgreSQL server that refuses connections: nothing listens on this port.
    monkeypatch.setenv("KITTEN_MIXER_DB", f"postgresql+psycopg://kittens@127.0.0.1:"
                                          f"{free_port()}/kittens")
    with_cookie(monkeypatch, None)
    app = start()  # the first page needs no store
    choose_two(app)
    click(app, "keep-step-3")
    assert notes(app) == [TEXTS["store_down"]["es"]] and kept(app) == []
    assert any(b.label == "PNG" for b in app.get("download_button"))  # the morph stays
    show(app, "nursery")
    assert TEXTS["store_down"]["es"] in notes(app)
    with_cookie(monkeypatch, "A" * 32)  # a returning visitor: their kittens cannot be read
    again = opened({"k": "AAAAAAAAAAAAAAAA"})
    assert notes(again) == [TEXTS["store_down"]["es"]]
    assert again.query_params == {"k": "AAAAAAAAAAAAAAAA"}  # kept: a reload tries again
    assert len(select_buttons(again)) == 15


def test_too_many_keeps_in_a_minute_are_refused_with_a_note(monkeypatch, store_folder,
                                                           resources):
    token = "B" * 32
    with KittenStore.open(folder=store_folder) as store:
        keep_directly(store, resources, token, 30)
    with_cookie(monkeypatch, token)
    app = start()
    assert len(kept(app)) == 30
    choose_two(app)
    click(app, "keep-step-3")
    assert notes(app) == [TEXTS["store_rate"]["es"]] and len(kept(app)) == 30
