"""The app's visitors goal: N visitors at once, in N browser contexts of one headless Chromium,
against one server (run by app_speed.py --only visitors).

Each visitor loops: choose a random cat on its page, then another, wait for the morph (the "La
mezcla" heading and the 13th image's PNG button), remove both, and now and then turn the page.
Latency runs from the second click to the morph on screen. Errors: timeouts, Streamlit
exception boxes, the app's own error messages, anything else the browser reports; console
errors are counted apart.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import re
import statistics
import time
from dataclasses import dataclass, field

from app_common import (
    CHROMIUM_ARGS,
    IMAGES,
    LANGUAGE,
    MORPH,
    SELECT,
    VIEWPORT,
    chromium,
    percentile,
    verdict,
)

from kitten_mixer.webapp.launch import serve_in_background
from kitten_mixer.webapp.texts import TEXTS

FAILURE = TEXTS["failure"][LANGUAGE].split("(")[0].strip()  # "Algo salió mal; ..."


def key_css(key: str) -> str:
    """The element Streamlit wraps around the widget with this key."""
    return f'[class~="st-key-{key}"]'


ENABLED_SELECT_KEYS = """() => [...document.querySelectorAll('[class*="st-key-select-"]')]
    .filter(e => { const b = e.querySelector('button'); return b && !b.disabled; })
    .map(e => [...e.classList].find(c => c.startsWith('st-key-select-')).slice(14))"""
IDLE = "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"  # no run under way


@dataclass
class Tally:
    """What all visitors saw."""
    latencies: list[float] = field(default_factory=list)  # second click -> morph visible, ms
    idle: list[float] = field(default_factory=list)  # second click -> the page's run over, ms
    first_time: list[float] = field(default_factory=list)  # latencies of pairs new to the server
    repeated: list[float] = field(default_factory=list)  # of pairs seen before (cache hits)
    loads: list[float] = field(default_factory=list)  # page load -> gallery visible, s
    seen: set[tuple[str, str]] = field(default_factory=set)
    errors: collections.Counter = field(default_factory=collections.Counter)
    console: collections.Counter = field(default_factory=collections.Counter)
    examples: list[str] = field(default_factory=list)
    page_turns: int = 0

    def error(self, visitor: int, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        if len(self.examples) < 8:
            lines = detail.strip().splitlines() or [""]
            waiting = [line.strip() for line in lines if "waiting for" in line][:1]
            self.examples.append(f"visitor {visitor}: {kind}: "
                                 + " / ".join([lines[0], *waiting])[:240])


class BrowserVisitor:
    """One visitor: a page of its own in the shared browser, choosing and removing cats."""

    def __init__(self, number: int, page, url: str, tally: Tally, rng: random.Random,
                 timeout_ms: float, next_chance: float):
        self.number, self.page, self.url, self.tally, self.rng = number, page, url, tally, rng
        self.next_chance = next_chance
        self.ready = False  # the page shows the gallery, no cat chosen
        page.set_default_timeout(timeout_ms)
        page.on("console", lambda m: tally.console.update(
            [f"console error ({_gist(m.text)})"] if m.type == "error" else []))
        page.on("pageerror", lambda e: tally.console.update(["page error (uncaught)"]))

    async def load(self) -> None:
        began = time.perf_counter()
        await self.page.goto(self.url)
        await self.page.get_by_role("button", name=SELECT, exact=True).first.wait_for()
        await self.idle()
        self.tally.loads.append(time.perf_counter() - began)

    async def idle(self) -> None:
        await self.page.wait_for_function(IDLE, polling=100)

    async def click(self, key: str) -> None:
        await self.page.locator(f"{key_css(key)} button").click()

    async def enabled_cats(self) -> list[str]:
        return await self.page.evaluate(ENABLED_SELECT_KEYS)

    async def turn_page(self) -> None:
        cats = await self.enabled_cats()
        can_go_on = await self.page.locator(f"{key_css('next')} button").is_enabled()
        await self.click("next" if can_go_on else "previous")
        if cats:
            await self.page.locator(key_css(f"select-{cats[0]}")).wait_for(state="detached")
        await self.idle()
        self.tally.page_turns += 1

    async def problems(self) -> None:
        """Count exception boxes and the app's own error messages on the page."""
        if boxes := await self.page.locator("[data-testid='stException']").count():
            self.tally.error(self.number, "exception box", f"{boxes} on the page")
        if await self.page.get_by_text(FAILURE).count():
            message = await self.page.get_by_text(FAILURE).first.inner_text()
            self.tally.error(self.number, "app error message", message)

    async def cycle(self) -> None:
        """Choose two cats, wait for the morph, remove both."""
        if self.rng.random() < self.next_chance:
            await self.turn_page()
        a = self.rng.choice(await self.enabled_cats())
        await self.click(f"select-{a}")
        await self.page.locator(key_css(f"remove-{a}")).wait_for()
        await self.idle()
        b = self.rng.choice([k for k in await self.enabled_cats() if k != a])
        began = time.perf_counter()
        await self.click(f"select-{b}")
        await self.page.get_by_role("heading", name=MORPH).wait_for()
        await self.page.locator(key_css(f"png-{IMAGES - 1}")).wait_for()  # the 13th image's
        latency = (time.perf_counter() - began) * 1000
        await self.idle()
        idle = (time.perf_counter() - began) * 1000
        tally = self.tally
        tally.latencies.append(latency)
        tally.idle.append(idle)
        (tally.repeated if (a, b) in tally.seen else tally.first_time).append(latency)
        tally.seen.add((a, b))
        await self.problems()
        for key in (a, b):
            await self.click(f"remove-{key}")
            await self.page.locator(key_css(f"remove-{key}")).wait_for(state="detached")
            await self.idle()
        await self.page.locator(key_css(f"png-{IMAGES - 1}")).wait_for(state="detached")

    async def attempt(self, work) -> bool:
        """Await `work()`; count what goes wrong, and leave the page to be loaded again."""
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        try:
            await work()
            return True
        except PlaywrightTimeout as e:
            self.tally.error(self.number, "timeout", str(e))
        except PlaywrightError as e:
            self.tally.error(self.number, "browser error", str(e))
        except IndexError:  # no cat left to choose: the page is not what it should be
            self.tally.error(self.number, "no cat to choose", "no enabled Select button")
        with contextlib.suppress(PlaywrightError):
            await self.problems()
        self.ready = False
        await asyncio.sleep(0.5)
        return False

    async def start(self) -> None:
        self.ready = await self.attempt(self.load)

    async def run(self, deadline: float) -> None:
        """Morph after morph until the deadline; after an error, on a freshly loaded page."""
        while time.monotonic() < deadline:
            if self.ready or await self.attempt(self.load):
                self.ready = await self.attempt(self.cycle)


async def visit_all(url: str, visitors: int, seconds: float, timeout_s: float,
                    next_chance: float, seed: int) -> tuple[Tally, float]:
    from playwright.async_api import async_playwright

    tally = Tally()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium(),
                                                   args=CHROMIUM_ARGS)
        try:
            crowd = []
            for number in range(visitors):
                context = await browser.new_context(viewport=VIEWPORT)
                crowd.append(BrowserVisitor(number, await context.new_page(), url, tally,
                                     random.Random(seed + number), timeout_s * 1000,
                                     next_chance))
            await asyncio.gather(*(v.start() for v in crowd))
            began = time.monotonic()
            await asyncio.gather(*(v.run(began + seconds) for v in crowd))
            elapsed = time.monotonic() - began
        finally:
            await browser.close()
    return tally, elapsed


def measure_visitors(env: dict[str, str], visitors: int, seconds: float, timeout_s: float,
                     next_chance: float, seed: int) -> dict:
    with serve_in_background(env) as server:
        server.wait_healthy(timeout_s)
        tally, elapsed = asyncio.run(visit_all(server.url, visitors, seconds, timeout_s,
                                               next_chance, seed))
        tracebacks = server.output().count("Traceback")
    morphs = len(tally.latencies)
    errors = sum(tally.errors.values())
    print(f"visitors: {visitors} at once for {seconds:.0f} s (ran {elapsed:.1f} s: cycles under "
          f"way at the end finish), one server, one Chromium, {visitors} contexts")
    print(f"page loads ({len(tally.loads)}): median {statistics.median(tally.loads):.1f} s, "
          f"max {max(tally.loads):.1f} s (before the clock starts, and after errors)")
    print(f"morphs: {morphs} ({morphs / elapsed:.2f} a second), page turns: "
          f"{tally.page_turns}, pairs new to the server: {len(tally.first_time)}, "
          f"pairs seen before (cache hits): {len(tally.repeated)}\n")
    if morphs:
        print(f"{'latency from the second click':<44} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} "
              f"{'max ms':>8}")
        for what, times in (("to the morph visible", tally.latencies),
                            ("  of pairs new to the server (cache miss)", tally.first_time),
                            ("  of pairs seen before (cache hit)", tally.repeated),
                            ("to the page's run over (all of the page)", tally.idle)):
            if times:
                print(f"{what:<44} {len(times):>4} {statistics.median(times):>8.0f} "
                      f"{percentile(times, 95):>8.0f} {max(times):>8.0f}")
    print(f"\nerrors: {errors}" + "".join(f", {kind} {n}" for kind, n in tally.errors.items()))
    for example in tally.examples:
        print(f"  {example}")
    console = sum(tally.console.values())
    print(f"console errors (counted apart): {console}"
          + "".join(f", {kind} {n}" for kind, n in tally.console.items()))
    print(f"tracebacks in the server's log: {tracebacks}")
    return {"morphs": morphs, "errors": errors, "console": console, "tracebacks": tracebacks,
            "p95_ms": percentile(tally.latencies, 95) if morphs else None}


def report_visitors(result: dict) -> str:
    errors, morphs = result["errors"], result["morphs"]
    p95 = f"{result['p95_ms']:.0f} ms" if result["p95_ms"] is not None else "n/a"
    extra = "".join(f", {n} {what}" for what, n in (("console errors", result["console"]),
                                                     ("server tracebacks", result["tracebacks"]))
                    if n)
    return (f"{verdict(errors == 0 and morphs > 0)}: visitors {errors} errors in {morphs} "
            f"morphs, p95 {p95}{extra} (goal: no error; no latency threshold)")


def _gist(message: str) -> str:
    """A console message without its varying parts (URLs, numbers), to count kinds of them."""
    return re.sub(r"https?://\S+|\d+", "#", message)[:80]
