"""The app end to end in a real headless Chromium: start the server on loopback, click two cats,
wait for the morph, and save a screenshot; copy the page's link and open it in a fresh browser
context to see the same pixels. scripts/test installs Debian's chromium for it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

STEPS = 11
# Each shown button's label: its widget's key, and the widths of its text and of the room it
# has (wider text is cut short with an ellipsis). A button with a tooltip is drawn twice, once
# hidden.
LABELS = """() => [...document.querySelectorAll("button [data-testid='stMarkdownContainer']")]
    .filter(text => text.clientWidth > 0)
    .map(text => ({text: text.innerText, width: text.scrollWidth, room: text.clientWidth,
                   key: text.closest("[class*='st-key-']")?.className.match(/st-key-(\\S+)/)[1]
                        ?? ""}))
"""


def choose_two(page, url: str, first: int, second: int):
    """Open the app, choose the gallery's cats number `first` and `second` (from 0) and wait
    for their morph; the locator of its PNG buttons."""
    page.goto(url)
    select = page.get_by_role("button", name="Seleccionar", exact=True)
    # The gallery's buttons arrive as the page streams in: wait for the last one.
    select.nth(14).wait_for(timeout=60_000)
    assert select.count() == 15
    select.nth(first).click()
    page.get_by_role("button", name="Eliminar").first.wait_for(timeout=30_000)
    select.nth(second).click()
    downloads = page.get_by_role("button", name="PNG", exact=True)
    downloads.nth(STEPS + 1).wait_for(timeout=30_000)
    return downloads


def test_two_clicks_make_a_morph_in_chromium(server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    downloads = choose_two(page, server, 0, 1)
    assert downloads.count() == STEPS + 2
    assert page.get_by_role("button", name="Eliminar").count() == 2
    assert page.locator("[data-testid='stException']").count() == 0
    # Every button's label can be read in full: the keep buttons under the morph's steps too.
    labels = page.evaluate(LABELS)
    assert len([label for label in labels if label["key"].startswith("keep-step-")]) == STEPS
    assert [label for label in labels if label["width"] > label["room"]] == []
    with page.expect_download() as download:
        page.get_by_role("button", name="Descargar la animación (GIF)").click()
    gif = tmp_path / "morph.gif"
    download.value.save_as(gif)
    assert gif.read_bytes()[:6] == b"GIF89a"
    screenshot = tmp_path / "morph.png"
    page.screenshot(path=str(screenshot))
    assert screenshot.stat().st_size > 10_000
    # the latent map: remove a cat, then choose one by clicking its face on the map
    page.get_by_role("button", name="Eliminar").first.click()
    page.wait_for_function("document.querySelectorAll('button').length > 0 && "
                           "[...document.querySelectorAll('button')]"
                           ".filter(b => b.innerText === 'Eliminar').length === 1")
    page.get_by_role("tab", name="Mapa latente").click()
    faces = page.locator("[data-testid='stVegaLiteChart'] image")
    faces.first.wait_for(timeout=30_000)
    assert faces.count() == 120
    faces.nth(60).hover(force=True)
    tooltip = page.locator("#vg-tooltip-element img")
    tooltip.wait_for(timeout=10_000)  # hovering shows the cat's picture
    faces.nth(60).click(force=True)
    page.get_by_role("button", name="Eliminar").nth(1).wait_for(timeout=30_000)
    downloads.nth(STEPS + 1).wait_for(timeout=30_000)
    print(f"screenshot: {Path(screenshot)}")


def picture_bytes(page, caption: str) -> bytes:
    """The bytes of the picture shown with this caption, fetched as the browser fetches it."""
    picture = page.locator("[data-testid='stImage']", has_text=caption).locator("img")
    picture.wait_for(timeout=30_000)
    return page.request.get(picture.get_attribute("src")).body()


def test_a_copied_link_shows_the_same_morph_in_a_fresh_page(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    choose_two(page, server, 3, 5)
    ratio = page.get_by_role("slider", name="Cuánto del segundo gato")
    ratio.press("ArrowLeft")
    ratio.press("ArrowLeft")
    page.wait_for_url(re.compile(r"\?a=\w+&b=\w+&t=0\.4$"), timeout=30_000)
    link = page.url
    captions = ["60% del primero, 40% del segundo", "30%"]  # the mix slider's kitten, a step
    shown = [picture_bytes(page, caption) for caption in captions]
    fresh = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
    fresh.goto(link)
    assert [picture_bytes(fresh, caption) for caption in captions] == shown
    assert shown[0][:8] == b"\x89PNG\r\n\x1a\n" and shown[0] != shown[1]
    removes = fresh.get_by_role("button", name="Eliminar")
    removes.nth(1).wait_for(timeout=30_000)  # a rerun may redraw them after the pictures
    assert removes.count() == 2
    assert fresh.locator("[data-testid='stException']").count() == 0
    fresh.goto(link.replace("t=0.4", "t=7"))  # a bad value: the plain page, with a note
    fresh.get_by_text("Ese enlace nombra gatos o valores").wait_for(timeout=30_000)
    assert fresh.get_by_role("button", name="Eliminar").count() == 0


def test_a_photo_of_two_cats_offers_both_faces_in_chromium(server, browser, tmp_path):
    from conftest import CATS_ZIP
    from test_app_faces import two_cats

    if not CATS_ZIP.is_file():
        pytest.skip("../shared/data/cats.zip absent")
    photo = tmp_path / "two-cats.jpg"
    photo.write_bytes(two_cats())
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(server)
    page.get_by_role("button", name="Seleccionar", exact=True).nth(14).wait_for(timeout=60_000)
    page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(photo)
    sidebar = page.locator("[data-testid='stSidebar']")
    sidebar.get_by_text("two-cats.jpg: 2 caras encontradas").wait_for(timeout=60_000)
    faces = sidebar.locator("[class*='st-key-face-'] button:visible")  # with a tooltip: twice
    faces.nth(1).wait_for(timeout=30_000)  # the caption can arrive before the second button
    assert faces.all_inner_texts() == ["1", "2"]
    assert faces.nth(0).get_attribute("data-testid") == "stBaseButton-primary"
    faces.nth(1).click()
    page.get_by_text("two-cats (2)", exact=True).wait_for(timeout=30_000)
    assert faces.nth(1).get_attribute("data-testid") == "stBaseButton-primary"
    assert page.get_by_text("two-cats (1)", exact=True).count() == 0
    # the faces' buttons show their numbers in full
    labels = [label for label in page.evaluate(LABELS) if label["key"].startswith("face-")]
    assert len(labels) == 2 and all(label["width"] <= label["room"] for label in labels)
    assert page.locator("[data-testid='stException']").count() == 0
    screenshot = tmp_path / "two-cats.png"
    page.screenshot(path=str(screenshot))
    assert screenshot.stat().st_size > 10_000
    print(f"screenshot: {screenshot}")
    # framed by hand: the panel opens with its sliders at the face picked; the size slider
    # moved with the keyboard, the square is mixed and the upload stands for it
    sidebar.get_by_text("¿No es su cara? Encuádrala tú").click()
    size = sidebar.get_by_role("slider", name="Tamaño (% del lado corto)")
    size.wait_for(timeout=30_000)
    start = float(size.input_value())
    assert 30 <= start <= 50  # the second face: 150 of the photo's 400 pixels, and its margin
    for _ in range(10):
        size.press("ArrowRight")
    page.wait_for_function("""(start) => Number(document.querySelector(
        "[data-testid='stSidebar'] input[type='range'][aria-label^='Tamaño']")?.value)
        >= start + 4.5""", arg=start, timeout=30_000)
    sidebar.get_by_text("lo que lee el modelo").wait_for(timeout=30_000)
    sidebar.get_by_role("button", name="Mezclar este encuadre").click()
    sidebar.get_by_text("two-cats.jpg: cara encuadrada a mano").wait_for(timeout=30_000)
    # the panel's buttons show their labels in full
    labels = [label for label in page.evaluate(LABELS) if label["key"].startswith("frame-")]
    assert {label["text"] for label in labels} == {"Mezclar este encuadre",
                                                   "Volver a la cara encontrada"}
    assert all(label["width"] <= label["room"] for label in labels)
    page.get_by_text("two-cats (+)", exact=True).wait_for(timeout=30_000)
    assert page.get_by_text("two-cats (2)", exact=True).count() == 0
    assert page.locator("[data-testid='stException']").count() == 0
    sidebar.get_by_text("¿No es su cara? Encuádrala tú").scroll_into_view_if_needed()
    framed = tmp_path / "framed.png"
    sidebar.screenshot(path=str(framed))
    print(f"screenshot: {framed}")
