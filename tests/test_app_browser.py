"""The app end to end in a real headless Chromium: start the server on loopback, click two cats,
wait for the morph, and save a screenshot. scripts/test installs Debian's chromium for it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from kitten_mixer.webapp.background import serve_in_background

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
STEPS = 11


@pytest.fixture(scope="module")
def server():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("no chromium: scripts/test installs it")
        pytest.skip("no chromium on this machine (scripts/test installs it)")
    with serve_in_background() as app:
        app.wait_healthy(60)
        yield app.url


def test_two_clicks_make_a_morph_in_chromium(server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(server)
            select = page.get_by_role("button", name="Seleccionar", exact=True)
            select.first.wait_for(timeout=60_000)
            assert select.count() == 15
            select.nth(0).click()
            page.get_by_role("button", name="Eliminar").first.wait_for(timeout=30_000)
            select.nth(1).click()
            downloads = page.get_by_role("button", name="PNG", exact=True)
            downloads.nth(STEPS + 1).wait_for(timeout=30_000)
            assert downloads.count() == STEPS + 2
            assert page.get_by_role("button", name="Eliminar").count() == 2
            assert page.locator("[data-testid='stException']").count() == 0
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
        finally:
            browser.close()
    print(f"screenshot: {Path(screenshot)}")
