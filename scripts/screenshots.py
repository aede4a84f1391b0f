"""Take the README's screenshots of the app: a morph, the latent map with a cat's tooltip, a
second-generation kitten with its family, and the nursery with a kitten shared in it.

    python scripts/screenshots.py [--out docs/images]

Starts the app on a free loopback port, with a kitten store of its own in a temporary folder,
drives it in headless Chromium (Playwright), and writes app-morph.png, app-map.png,
app-family.png and app-nursery.png.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from kitten_mixer.webapp.launch import app_environment, serve_in_background
from kitten_mixer.webapp.texts import TEXTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/images", type=Path)
    parser.add_argument("--language", default="en", choices=["es", "en"])
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    store = tempfile.TemporaryDirectory(prefix="kitten-mixer-screenshots-")
    env = app_environment(data_dir=store.name)
    env.pop("KITTEN_MIXER_DB", None)
    with store, serve_in_background(env) as server:
        server.wait_healthy()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium,
                                                 args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1440, "height": 1100})
            page.goto(server.url)
            page.get_by_role("button", name="Seleccionar").first.wait_for(timeout=60_000)
            if args.language == "en":
                page.get_by_text("English").click()
                page.get_by_role("button", name="Select", exact=True).first.wait_for()
            select = "Select" if args.language == "en" else "Seleccionar"
            buttons = page.get_by_role("button", name=select, exact=True)
            buttons.nth(2).click()
            page.wait_for_timeout(800)
            buttons.nth(7).click()
            page.get_by_role("button", name="PNG", exact=True).nth(12).wait_for()
            page.wait_for_timeout(1500)
            chosen = page.get_by_text(TEXTS["chosen"][args.language], exact=True)
            chosen.scroll_into_view_if_needed()  # the top of the morph
            page.screenshot(path=str(args.out / "app-morph.png"))
            page.get_by_role("tab").nth(1).click()
            faces = page.locator("[data-testid='stVegaLiteChart'] image")
            faces.first.wait_for()
            faces.nth(40).scroll_into_view_if_needed()
            page.mouse.wheel(0, 250)
            page.wait_for_timeout(800)
            faces.nth(40).hover(force=True)
            found = page.locator("#vg-tooltip-element img").count() > 0
            page.wait_for_timeout(500)
            page.screenshot(path=str(args.out / "app-map.png"))
            page.get_by_role("tab").nth(0).click()
            breed_a_second_generation(page, args.language)
            page.screenshot(path=str(args.out / "app-family.png"))
            share_in_the_nursery(page, args.language)
            page.screenshot(path=str(args.out / "app-nursery.png"))
            browser.close()
        print(f"wrote {args.out / 'app-morph.png'}, {args.out / 'app-map.png'}"
              f"{'' if found else ' (no tooltip caught)'}, {args.out / 'app-family.png'} "
              f"and {args.out / 'app-nursery.png'}")


def breed_a_second_generation(page: Page, language: str) -> None:
    """From the two cats chosen: keep a step of their morph (#k1); keep the mix of two other
    cats (#k2); keep a step of the morph of #k1 and #k2 (#k3); then show the family tab. (The
    kittens are named after their ids in the store: #k1 and so on name them here only.)"""
    select, remove = (TEXTS[key][language] for key in ("select", "remove"))
    buttons = page.get_by_role("button", name=select, exact=True)

    def keep_step(step: int) -> None:  # the heart under the morph's step (from 0)
        page.locator(f".st-key-keep-step-{step} button:visible").click()

    def settle() -> None:
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(800)

    def remove_all() -> None:
        while page.get_by_role("button", name=remove, exact=True).count():
            page.get_by_role("button", name=remove, exact=True).first.click()
            settle()

    def choose(*indices: int) -> None:
        for index in indices:  # positions on the gallery's first page
            buttons.nth(index).click()
            settle()
        page.get_by_role("button", name="PNG", exact=True).nth(12).wait_for()

    keep_step(4)  # 40%: #k1
    settle()
    remove_all()
    choose(1, 6)  # the gallery's first cat and its sixth, after #k1
    page.get_by_role("button", name=TEXTS["keep"][language], exact=True).first.click()  # #k2
    settle()
    remove_all()
    choose(1, 0)  # #k1, then #k2
    keep_step(5)  # 50%: #k3
    settle()
    remove_all()
    family = page.get_by_role("tab", name=TEXTS["family"][language])
    family.click()
    page.get_by_text(TEXTS["grandparents"][language], exact=True).first.wait_for()
    family.hover()
    page.mouse.wheel(0, 340)  # the tabs to the top: the three kittens' families in view
    page.wait_for_timeout(5000)  # the toasts fade away


def share_in_the_nursery(page: Page, language: str) -> None:
    """Share the newest kitten (#k3) and the first (#k1) in the nursery, and show it."""
    for toggle in (0, 2):
        page.get_by_text(TEXTS["public"][language], exact=True).nth(toggle).click()
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(800)
    nursery = page.get_by_role("tab", name=TEXTS["nursery"][language])
    nursery.click()
    page.get_by_text(TEXTS["nursery_help"][language]).wait_for()
    page.wait_for_timeout(1500)


if __name__ == "__main__":
    main()
