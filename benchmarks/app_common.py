"""What the app's benchmarks share: the page's texts they wait for, the browser, verdicts."""

from __future__ import annotations

import shutil
import sys

import numpy as np

from kitten_mixer.webapp.texts import TEXTS

STEPS = 11  # the app's default: photo A, 11 steps, photo B
IMAGES = STEPS + 2
LANGUAGE = "es"  # the app's default
SELECT, MORPH = (TEXTS[k][LANGUAGE] for k in ("select", "morph"))
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
