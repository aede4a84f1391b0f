"""Kept kittens in a real headless Chromium, against a live server with a SQLite store of its
own: a reload keeps a visitor's kittens (their browser's cookie brings them back), and a copied
link opened in a fresh browser context (no cookie) shows the same pixels, compared as the
bytes the browser fetches, for a gallery cat, an uploaded cat that was kept, a kept kitten of
the third generation and a blend with a kept kitten in it. scripts/test installs Debian's
chromium for it."""

from __future__ import annotations

import re
import time

import pytest
from conftest import fake_photo

from kitten_mixer.webapp.stored import COOKIE

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1400, "height": 1000}
TIMEOUT = 60_000
KEPT = re.compile(r"Guardado como (#[\w-]{6})")


def fresh(browser):
    """A page in a browser context of its own: no cookie, as another browser."""
    return browser.new_context(viewport=VIEWPORT).new_page()


def button(page, key: str):
    """The button of the widget with this key."""
    return page.locator(f".st-key-{key} button")


def gallery_buttons(page):
    """The "Select" buttons of the gallery's cards (not the one under an upload's photo)."""
    return page.locator("[data-testid='stMain']").get_by_role("button", name="Seleccionar",
                                                              exact=True)


def ready(page) -> None:
    """Wait for the page's gallery (its last "Select" button) and for its runs to end."""
    gallery_buttons(page).nth(14).wait_for(timeout=TIMEOUT)
    page.wait_for_function("!document.querySelector(\"[data-testid='stStatusWidget']\")",
                           timeout=TIMEOUT)


def open_page(page, url: str) -> None:
    page.goto(url)
    ready(page)


def click_and_wait(page, locator) -> None:
    locator.click()
    page.wait_for_timeout(300)  # the run starts
    ready(page)


def select(page, nth: int) -> None:
    """Choose the nth (from 0) cat of the gallery's page."""
    chosen = page.get_by_role("button", name="Eliminar").count()
    gallery_buttons(page).nth(nth).click()
    page.get_by_role("button", name="Eliminar").nth(chosen).wait_for(timeout=TIMEOUT)
    ready(page)


def remove_all(page) -> None:
    while (count := page.get_by_role("button", name="Eliminar").count()):
        page.get_by_role("button", name="Eliminar").first.click()
        page.wait_for_function(
            "n => [...document.querySelectorAll('button')].filter(b => b.innerText === "
            "'Eliminar').length < n", arg=count, timeout=TIMEOUT)
        ready(page)


def keep(page, key: str | None = None, label: str | None = None) -> str:
    """Press the keep button with this key (or the first with this label); the kept kitten's
    name, once the page says so."""
    before = set(page.get_by_text(KEPT).all_inner_texts())
    (button(page, key) if key else page.get_by_role("button", name=label)).first.click()
    deadline = time.monotonic() + TIMEOUT / 1000
    while not (new := set(page.get_by_text(KEPT).all_inner_texts()) - before):
        assert time.monotonic() < deadline, "the page never said the kitten was kept"
        page.wait_for_timeout(100)
    ready(page)
    return KEPT.search(new.pop()).group(1)


def picture(page, caption: str) -> bytes:
    """The bytes of the first picture shown with this caption, as the browser fetches them."""
    image = page.locator("[data-testid='stImage']").filter(
        has=page.get_by_text(caption, exact=True)).first.locator("img")
    image.wait_for(timeout=TIMEOUT)
    return page.request.get(image.get_attribute("src")).body()


def link_of(page, pattern: str) -> str:
    """The page's link, once it matches `pattern`."""
    deadline = time.monotonic() + TIMEOUT / 1000
    while not re.search(pattern, page.url):
        assert time.monotonic() < deadline, f"the link {page.url} never matched {pattern}"
        page.wait_for_timeout(100)
    return page.url


def test_a_reload_keeps_the_visitors_kittens(server, browser):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    open_page(page, server)
    select(page, 0)
    select(page, 1)
    name = keep(page, "keep-step-4")
    assert [c["value"] for c in context.cookies() if c["name"] == COOKIE]
    token = next(c["value"] for c in context.cookies() if c["name"] == COOKIE)
    assert token not in page.url
    shown = picture(page, name)
    page.reload()
    ready(page)
    assert picture(page, name) == shown  # first in the gallery again
    page.get_by_role("tab", name="Tus gatitos").click()
    page.get_by_text("60% 7078 + 40% 13660").first.wait_for(timeout=TIMEOUT)
    assert page.locator("[data-testid='stException']").count() == 0
    other = fresh(browser)  # another browser has none of them
    open_page(other, server)
    other.get_by_role("tab", name="Tus gatitos").click()
    other.get_by_text("Aún no has guardado ningún gatito").wait_for(timeout=TIMEOUT)
    context.close()


def test_links_show_the_same_pixels_in_a_fresh_browser(server, browser, tmp_path):
    page = fresh(browser)
    open_page(page, server)
    # a gallery cat
    select(page, 0)
    link = link_of(page, r"\?a=7078$")
    gallery_cat = picture(page, "7078")
    # an uploaded cat, kept (its code and its face as the model draws it)
    remove_all(page)
    photo = tmp_path / "my-cat.png"
    fake_photo(5, (300, 240)).save(photo)
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(photo))
    page.get_by_role("button", name="Guardar este gato").first.wait_for(timeout=TIMEOUT)
    ready(page)
    upload_name = keep(page, label="Guardar este gato")
    select(page, 0)
    upload_link = link_of(page, r"\?k=[\w-]{16}$")
    upload = picture(page, upload_name)
    # a third generation: gallery cats -> k1 -> k2 -> k3
    remove_all(page)
    select(page, 1)  # 7078 (the kept upload is first)
    select(page, 2)  # 13660
    keep(page, "keep-step-3")  # k1
    remove_all(page)
    select(page, 0)  # k1 (then the upload, 7078, 13660)
    select(page, 4)  # 3896
    k2 = keep(page, "keep-mix")
    remove_all(page)
    select(page, 0)  # k2
    select(page, 1)  # k1
    k3 = keep(page, "keep-step-6")
    remove_all(page)
    select(page, 0)  # k3
    third_link = link_of(page, r"\?k=[\w-]{16}$")
    third = picture(page, k3)
    page.get_by_role("tab", name="Tus gatitos").click()
    page.get_by_text(f"{k2} · ").first.wait_for(timeout=TIMEOUT)
    page.get_by_role("tab", name="Galería").click()
    ready(page)
    # a blend: the kitten and two gallery cats (after k3, k2, k1 and the upload)
    select(page, 4)  # 7078
    select(page, 5)  # 13660
    blend_link = link_of(page, r"\?a=k\.[\w-]{16}&b=7078&c=13660&t=0\.5"
                               r"&w=50(%2C|,)50(%2C|,)50$")
    blend_caption = page.get_by_text(re.compile(rf"^34% {re.escape(k3)} \+ 33% ")).first
    blend_caption.wait_for(timeout=TIMEOUT)
    blend_name = blend_caption.inner_text()
    blend = picture(page, blend_name)

    for url, caption, expected in ((link, "7078", gallery_cat),
                                   (upload_link, upload_name, upload),
                                   (third_link, k3, third), (blend_link, blend_name, blend)):
        other = fresh(browser)
        open_page(other, url)
        assert picture(other, caption) == expected, url
        assert expected[:8] == b"\x89PNG\r\n\x1a\n"
        assert other.locator("[data-testid='stException']").count() == 0
        other.context.close()
    assert len({gallery_cat, upload, third, blend}) == 4
