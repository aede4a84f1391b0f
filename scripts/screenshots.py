"""Take the README's screenshots of the app: a morph, and the latent map with a cat's tooltip.

    python scripts/screenshots.py [--out docs/images]

Starts the app on a free loopback port, drives it in headless Chromium (Playwright), and
writes app-morph.png and app-map.png.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from playwright.sync_api import sync_playwright

from kitten_mixer.webapp.background import serve_in_background


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/images", type=Path)
    parser.add_argument("--language", default="en", choices=["es", "en"])
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    with serve_in_background() as server:
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
            browser.close()
        print(f"wrote {args.out / 'app-morph.png'} and {args.out / 'app-map.png'}"
              f"{'' if found else ' (no tooltip caught)'}")


if __name__ == "__main__":
    main()
