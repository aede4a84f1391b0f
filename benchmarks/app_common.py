"""What the app's benchmarks share: the page's texts they wait for, the browser, verdicts."""

from __future__ import annotations

import re
import shutil
import sys

import numpy as np

from kitten_mixer.webapp.texts import TEXTS

STEPS = 11  # the app's default: photo A, 11 steps, photo B
IMAGES = STEPS + 2
LANGUAGE = "es"  # the app's default
SELECT, MORPH = (TEXTS[k][LANGUAGE] for k in ("select", "morph"))
# The page's word that a keep is done ("Kept as #x7Gh2k: ..."), with the kitten's name
_before, _after = TEXTS["kept"][LANGUAGE].split("{name}", 1)
KEPT = re.compile(re.escape(_before) + r"(#[A-Za-z0-9_-]+)" + re.escape(_after[:1]))
CHROMIUM_ARGS = ["--no-sandbox"]
VIEWPORT = {"width": 1400, "height": 1000}


def chromium() -> str:
    """Debian's chromium, or exit saying how to install it."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        sys.exit("no chromium on the PATH (apt-get install chromium)")
    return path


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def verdict(passed: bool) -> str:
    return "PASS" if passed else "MISS"


def kept_names(texts: list[str]) -> list[str]:
    """The names of the kittens the page said were kept (its "kept" toast), in these texts."""
    return [m.group(1) for text in texts if (m := KEPT.match(text))]
