"""App speed: the web app's three goals, measured against a real server and in Streamlit's AppTest.

start     seconds from launching the Streamlit server process to the first page showing the
          gallery (headless Chromium waits for the first "Seleccionar" button). Goal < 10 s.
          Cold: the model and the gallery load when the first visitor arrives, so they count.
morph     server milliseconds from the second choice to the morph, in AppTest (no browser, no
          network): one untimed click on "Seleccionar", then the timed click on a second cat
          runs the whole page with its 13 images (photo A, 11 steps, photo B), GIF, strip and
          mixed kitten. Every pair is new, so every timed morph is a cache MISS (the morph files
          are cached by cat keys); a reused pair would cost far less. Goal: median < 200 ms.
visitors  N visitors at once (N browser contexts in one headless Chromium) for S seconds
          against one server. Each one loops: choose a random cat on its page, then another,
          wait for the morph (the "La mezcla" heading and the 13th image's PNG button), remove
          both, and now and then turn the page. Latency runs from the second click to the morph
          on screen. Errors: timeouts, Streamlit exception boxes, the app's own error messages,
          anything else the browser reports; console errors are counted apart. Goal: no error
          (its p95 latency is reported, with no threshold).

    python benchmarks/app_speed.py                                  # all three, defaults
    python benchmarks/app_speed.py --only start
    python benchmarks/app_speed.py --only morph --pairs 50
    python benchmarks/app_speed.py --only visitors --visitors 20 --seconds 60
    python benchmarks/app_speed.py --only morph --threads 2     # torch on two threads

Each part that needs a server starts its own on a free loopback port and always stops it (its
whole process group), on errors and Ctrl+C too. It needs Debian's chromium (`chromium` or
`chromium-browser` on the PATH) for start and visitors. It prints PASS or MISS per goal with
the ratio measured / goal, and exits 0 unless the measurement itself failed: a tool to measure,
not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import itertools
import logging
import os
import random
import re
import shutil
import signal
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from common import prepare_threads

from kitten_mixer.webapp import SCRIPT, app_environment, serve_in_background
from kitten_mixer.webapp.texts import TEXTS

GOAL_START_S = 10.0
GOAL_MORPH_MS = 200.0
STEPS = 11  # the app's default: photo A, 11 steps, photo B
IMAGES = STEPS + 2
LANGUAGE = "es"  # the app's default
SELECT, REMOVE, MORPH, NEXT, PREVIOUS = (TEXTS[k][LANGUAGE] for k in
                                         ("select", "remove", "morph", "next", "previous"))
FAILURE = TEXTS["failure"][LANGUAGE].split("(")[0].strip()  # "Algo salió mal; ..."
CHROMIUM_ARGS = ["--no-sandbox"]
VIEWPORT = {"width": 1400, "height": 1000}


# ---- helpers ------------------------------------------------------------------------------------

def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        sys.exit("no chromium on the PATH (apt-get install chromium)")
    return path


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


# ---- start --------------------------------------------------------------------------------------

def measure_start(env: dict[str, str], timeout: float) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)  # ready before the clock starts
            with serve_in_background(env) as server:
                server.wait_healthy(timeout)
                page.goto(server.url, timeout=timeout * 1000)
                page.get_by_role("button", name=SELECT, exact=True).first.wait_for(
                    state="visible", timeout=timeout * 1000)
                gallery = time.perf_counter() - server.launched
                exceptions = page.locator("[data-testid='stException']").count()
        finally:
            browser.close()
    print(f"start: launch -> health check {server.healthy:.2f} s, "
          f"launch -> gallery visible {gallery:.2f} s"
          + (f" ({exceptions} exception boxes on the page)" if exceptions else ""))
    return {"start_s": gallery}


def report_start(result: dict) -> str:
    seconds = result["start_s"]
    return (f"{verdict(seconds < GOAL_START_S)}: start {seconds:.2f} s "
            f"(goal < {GOAL_START_S:.0f} s; {seconds / GOAL_START_S:.2f} of the goal)")


# ---- morph --------------------------------------------------------------------------------------

def select_keys(app) -> list[str]:
    return [b.key.removeprefix("select-") for b in app.button
            if b.key and b.key.startswith("select-")]


def page_problem(app) -> str | None:
    """What went wrong on the page AppTest last ran, if anything."""
    if app.exception:
        return f"exception: {app.exception[0].value}"
    failures = [e.value for e in app.error]
    return f"error message: {failures[0]}" if failures else None


def morph_problem(app) -> str | None:
    """Why the page AppTest last ran does not show a full morph, if it does not."""
    if problem := page_problem(app):
        return problem
    pngs = [b for b in app.download_button if b.key and re.fullmatch(r"png-\d+", b.key)]
    steps = [c for image in app.image for c in image.captions if re.fullmatch(r"\d+%", c)]
    if len(pngs) != IMAGES or len(steps) != STEPS:
        return f"{len(pngs)} morph images and {len(steps)} steps (expected {IMAGES}, {STEPS})"
    if not any(h.value == MORPH for h in app.subheader):
        return f"no {MORPH!r} heading"
    return None


def new_pairs(app, rng: random.Random) -> Iterator[tuple[str, str]]:
    """Pairs of cats never chosen together before, page after page: each page's cats in pairs
    in a random order (15 cats: 105 pairs a page), then "next" and the next page's."""
    while True:
        pairs = list(itertools.combinations(select_keys(app), 2))
        rng.shuffle(pairs)
        for a, b in pairs:
            yield (a, b) if rng.random() < 0.5 else (b, a)
        if app.button(key="next").disabled:
            return
        app.button(key="next").click().run()
        if problem := page_problem(app):
            raise RuntimeError(f"turning the page: {problem}")


def measure_morph(pairs: int, warmup: int, seed: int) -> dict:
    from streamlit.testing.v1 import AppTest

    # AppTest's own harmless "missing ScriptRunContext" warning, on creating the test app
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").setLevel(
        logging.ERROR)
    app = AppTest.from_file(str(SCRIPT), default_timeout=180)
    began = time.perf_counter()
    app.run()  # loads the model and the gallery: untimed
    loaded = time.perf_counter() - began
    if problem := page_problem(app):
        raise RuntimeError(f"the app's first run: {problem}")

    def click(key: str) -> float:
        began = time.perf_counter()
        app.button(key=key).click().run()
        return (time.perf_counter() - began) * 1000

    first_ms, morph_ms = [], []
    source = new_pairs(app, random.Random(seed))
    for i in range(warmup + pairs):
        try:
            a, b = next(source)
        except StopIteration:
            raise RuntimeError(
                f"the gallery has too few cats for {warmup + pairs} new pairs") from None
        first = click(f"select-{a}")
        if problem := page_problem(app):
            raise RuntimeError(f"choosing {a}: {problem}")
        morph = click(f"select-{b}")
        if problem := morph_problem(app):
            raise RuntimeError(f"morphing {a} into {b}: {problem}")
        for key in (a, b):
            click(f"remove-{key}")
            if problem := page_problem(app):
                raise RuntimeError(f"removing {key}: {problem}")
        if app.session_state["chosen"]:
            raise RuntimeError(f"still chosen after removing both: {app.session_state['chosen']}")
        if i >= warmup:
            first_ms.append(first)
            morph_ms.append(morph)

    print(f"morph: AppTest, {pairs} new pairs after {warmup} warm-up, "
          f"{torch.get_num_threads()} torch threads (first run, loading the model and gallery: "
          f"{loaded:.1f} s)")
    print("every timed morph is a cache MISS: each pair of cats is new to the server\n")
    print(f"{'what':<40} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}")
    for what, times in ((f"second choice -> morph ({IMAGES} images)", morph_ms),
                        ("first choice (a page run, no morph)", first_ms)):
        print(f"{what:<40} {statistics.median(times):>10.1f} {percentile(times, 95):>8.1f} "
              f"{max(times):>8.1f}")
    return {"morph_median_ms": statistics.median(morph_ms),
            "morph_p95_ms": percentile(morph_ms, 95)}


def report_morph(result: dict) -> str:
    median = result["morph_median_ms"]
    return (f"{verdict(median < GOAL_MORPH_MS)}: morph median {median:.0f} ms, "
            f"p95 {result['morph_p95_ms']:.0f} ms, cache misses "
            f"(goal median < {GOAL_MORPH_MS:.0f} ms; {median / GOAL_MORPH_MS:.2f} of the goal)")


# ---- visitors -----------------------------------------------------------------------------------

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


class Visitor:
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
                crowd.append(Visitor(number, await context.new_page(), url, tally,
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


# ---- main ---------------------------------------------------------------------------------------

def _gist(message: str) -> str:
    """A console message without its varying parts (URLs, numbers), to count kinds of them."""
    return re.sub(r"https?://\S+|\d+", "#", message)[:80]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["start", "morph", "visitors"],
                        help="one measurement (default: all three)")
    parser.add_argument("--pairs", type=int, default=20,
                        help="morph: timed new pairs of cats (default: 20)")
    parser.add_argument("--warmup", type=int, default=1,
                        help="morph: untimed pairs first (default: 1)")
    parser.add_argument("--visitors", type=int, default=20,
                        help="visitors: how many at once (default: 20)")
    parser.add_argument("--seconds", type=float, default=60,
                        help="visitors: how long they keep morphing (default: 60)")
    parser.add_argument("--next-chance", type=float, default=0.2,
                        help="visitors: chance of turning the page before a morph (default: 0.2)")
    parser.add_argument("--timeout", type=float, default=60,
                        help="seconds any one wait may take before it counts as an error "
                             "(default: 60)")
    parser.add_argument("--model", help="a saved-model folder (default: the shipped model)")
    parser.add_argument("--gallery", help="a folder or zip of photos (default: the model's)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads in the app (AppTest here, OMP_NUM_THREADS for the "
                             "server; default: 1, as `kitten-mixer app` runs it)")
    parser.add_argument("--seed", type=int, default=0, help="for the random cats (default: 0)")
    args = parser.parse_args()
    # SIGTERM stops this script like Ctrl+C: the `finally` blocks stop the server
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    prepare_threads(args.threads, "slower")

    env = app_environment(args.model, args.gallery)
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    for name in ("KITTEN_MIXER_MODEL", "KITTEN_MIXER_GALLERY"):  # for AppTest, in this process
        if name in env:
            os.environ[name] = env[name]
        else:
            os.environ.pop(name, None)

    reports = []
    if args.only in (None, "start"):
        reports.append(report_start(measure_start(env, args.timeout)))
        print()
    if args.only in (None, "morph"):
        reports.append(report_morph(measure_morph(args.pairs, args.warmup, args.seed)))
        print()
    if args.only in (None, "visitors"):
        reports.append(report_visitors(measure_visitors(
            env, args.visitors, args.seconds, args.timeout, args.next_chance, args.seed)))
        print()
    print("\n".join(reports))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted (the server is stopped)")
