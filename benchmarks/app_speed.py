"""App speed: the web app's goals, measured against a real server and in Streamlit's AppTest.

start     seconds from launching the Streamlit server process to the first page showing the
          gallery (headless Chromium waits for the first "Seleccionar" button). Goal < 10 s.
          Cold: the model and the gallery load when the first visitor arrives, so they count.
morph     server milliseconds from the second choice to the morph, in AppTest (no browser, no
          network): one untimed click on "Seleccionar", then the timed click on a second cat
          runs the whole page with its 13 images (photo A, 11 steps, photo B), GIF, strip and
          mixed kitten. Every pair is new, so every timed morph is a cache MISS (the morph files
          are cached by the two cats' codes); a reused pair costs far less. Goal: median < 200 ms.
tune      milliseconds for what the page computes when a gene slider moves: the tuned code,
          its face, 3x enlarged, as a PNG (webapp.core.tune, as the page calls it), over
          gallery cats and slider values, in this process. Goal: median < 100 ms.
visitors  N visitors at once (N browser contexts in one headless Chromium) for S seconds
          against one server, each choosing two cats, waiting for the morph and removing them,
          again and again (app_visitors.py). Goal: no error (its p95 latency is reported, with
          no threshold).

    python benchmarks/app_speed.py                                  # all three, defaults
    python benchmarks/app_speed.py --only start
    python benchmarks/app_speed.py --only morph --pairs 50
    python benchmarks/app_speed.py --only tune --cats 20
    python benchmarks/app_speed.py --only visitors --visitors 20 --seconds 60
    python benchmarks/app_speed.py --only morph --threads 2     # torch on two threads

Each part that needs a server starts its own on a free loopback port and always stops it (its
whole process group), on errors and Ctrl+C too. The app's kitten store is a SQLite store in a
temporary folder: none of these pages needs it, and the script says so if one opened it. It
needs Debian's chromium (`chromium` or `chromium-browser` on the PATH) for start and visitors.
It prints PASS or MISS per goal with the ratio measured / goal, and exits 0 unless the
measurement itself failed: a tool to measure, not a test.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import random
import re
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from app_common import (
    CHROMIUM_ARGS,
    IMAGES,
    MORPH,
    SELECT,
    STEPS,
    VIEWPORT,
    chromium,
    percentile,
    verdict,
)
from app_visitors import measure_visitors, report_visitors
from common import prepare_threads

from kitten_mixer.webapp.launch import SCRIPT, app_environment, serve_in_background

GOAL_START_S = 10.0
GOAL_MORPH_MS = 200.0
GOAL_TUNE_MS = 100.0


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


# ---- tune ---------------------------------------------------------------------------------------

def measure_tune(cats: int) -> dict:
    from kitten_mixer.images import enlarge, png_bytes
    from kitten_mixer.webapp import core

    began = time.perf_counter()
    resources = core.load_resources()
    loaded = time.perf_counter() - began
    chosen = resources.cats[:cats]
    values = (0.5, 1.0, 1.5, 2.0, 2.5)
    png_bytes(enlarge(core.tune(resources, chosen[0], {0: 0.1}), 3))  # warm-up
    times = []
    for cat in chosen:
        for value in values:  # two genes at once, as two moved sliders
            began = time.perf_counter()
            png_bytes(enlarge(core.tune(resources, cat, {0: value, 4: -value}), 3))
            times.append((time.perf_counter() - began) * 1000)
    print(f"tune: {len(chosen)} gallery cats x {len(values)} slider values, "
          f"{torch.get_num_threads()} torch threads (loading the model and gallery: "
          f"{loaded:.1f} s)\n")
    print(f"{'what':<40} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}")
    print(f"{'tuned code -> face -> 3x PNG':<40} {statistics.median(times):>10.1f} "
          f"{percentile(times, 95):>8.1f} {max(times):>8.1f}")
    return {"tune_median_ms": statistics.median(times), "tune_p95_ms": percentile(times, 95)}


def report_tune(result: dict) -> str:
    median = result["tune_median_ms"]
    return (f"{verdict(median < GOAL_TUNE_MS)}: tuned cat median {median:.1f} ms, "
            f"p95 {result['tune_p95_ms']:.1f} ms "
            f"(goal median < {GOAL_TUNE_MS:.0f} ms; {median / GOAL_TUNE_MS:.2f} of the goal)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["start", "morph", "tune", "visitors"],
                        help="one measurement (default: all four)")
    parser.add_argument("--pairs", type=int, default=20,
                        help="morph: timed new pairs of cats (default: 20)")
    parser.add_argument("--warmup", type=int, default=1,
                        help="morph: untimed pairs first (default: 1)")
    parser.add_argument("--cats", type=int, default=20,
                        help="tune: gallery cats to tune (default: 20)")
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

    store = Path(tempfile.mkdtemp(prefix="kitten-mixer-speed-"))
    env = app_environment(args.model, args.gallery, data_dir=store)
    env.pop("KITTEN_MIXER_DB", None)
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    for name in ("KITTEN_MIXER_MODEL", "KITTEN_MIXER_GALLERY", "KITTEN_MIXER_DATA",
                 "KITTEN_MIXER_DB"):  # for AppTest, in this process
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
    if args.only in (None, "tune"):
        reports.append(report_tune(measure_tune(args.cats)))
        print()
    if args.only in (None, "visitors"):
        reports.append(report_visitors(measure_visitors(
            env, args.visitors, args.seconds, args.timeout, args.next_chance, args.seed)))
        print()
    if any(store.iterdir()):
        reports.append("NOTE: the kitten store was opened, though no page measured needs it")
    print("\n".join(reports))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted (the server is stopped)")
