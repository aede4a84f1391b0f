"""The page's link: what its query parameters hold, and opening a link someone shared.

    ?a=7078&b=13660&t=0.4            cats a and b chosen (gallery ids), the mix slider at 40%
    &c=3896&d=8923&w=50,20,30,0      up to four cats; the blend's shares, in the order chosen
    &steps=7&method=linear           the morph's settings, when not the defaults
    &g=1.5,0,-1&tune=b               gene values (from gene 1; the rest 0) for cat b (default a)
    &lang=en                         the page's language, when not Spanish

Plain Python over the visitor's state (Streamlit's session): it reads and sets the values of
the page's widgets under their keys, listed in `widget_defaults` (and opens the genes' panel,
"tune", for a link with genes). Only gallery cats travel:
uploaded photos and kept kittens live in one visitor's session.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, MutableMapping
from typing import Any

from kitten_mixer.morph import DEFAULT_METHOD, METHODS, MIN_STEPS
from kitten_mixer.webapp.core import (
    DEFAULT_STEPS,
    GENE_REACH,
    GENE_STEP,
    MAX_STEPS,
    Resources,
)
from kitten_mixer.webapp.texts import DEFAULT_LANGUAGE, LANGUAGES
from kitten_mixer.webapp.visitor import MAX_CHOSEN

LETTERS = "abcd"[:MAX_CHOSEN]  # the chosen cats' parameters, in the order chosen
DEFAULT_RATIO = 50  # the mix slider: percent of the second cat
RATIO_STEP = 5
DEFAULT_SHARE = 50  # each blend slider: shares count in proportion, so equal shares to start
SHARE_STEP = 5


def widget_defaults(genes: int) -> dict[str, Any]:
    """The widget values a link can set, under the widgets' keys, as a plain page has them
    (the method's radio keeps its own default: see streamlit_app.sidebar)."""
    return {"steps": DEFAULT_STEPS, "ratio": DEFAULT_RATIO,
            **{f"share-{i}": DEFAULT_SHARE for i in range(MAX_CHOSEN)},
            **{f"gene-{i}": 0.0 for i in range(genes)}}


def can_travel(chosen: list[str], resources: Resources) -> bool:
    """Whether a link can show these cats: only gallery cats are known to every visitor."""
    return all(key in resources.link_ids for key in chosen)


def gene_values(state: Mapping[str, Any], genes: int) -> dict[int, float]:
    """The gene sliders' values that are not 0, by gene (from 0)."""
    # Rounded to the sliders' steps: a link's 0.3 and a slider's 0.30000000000000004 must tune
    # a cat to the same pixels.
    values = {i: round(float(state.get(f"gene-{i}", 0.0)), 6) for i in range(genes)}
    return {i: value for i, value in values.items() if value}


def tuned_key(state: Mapping[str, Any]) -> str | None:
    """The key of the chosen cat the genes tune: the one picked, else the first chosen."""
    chosen = state.get("chosen", [])
    picked = state.get("tune-cat")
    return picked if picked in chosen else (chosen[0] if chosen else None)


def link(state: Mapping[str, Any], resources: Resources) -> dict[str, str]:
    """The query parameters of a link that shows what the state shows; with a cat that cannot
    travel, only the language."""
    params = {}
    if (language := state.get("language", DEFAULT_LANGUAGE)) != DEFAULT_LANGUAGE:
        params["lang"] = language
    chosen = state.get("chosen", [])
    if not chosen or not can_travel(chosen, resources):
        return params
    params.update({letter: resources.link_ids[key] for letter, key in zip(LETTERS, chosen)})
    if len(chosen) >= 2:
        if (steps := state.get("steps", DEFAULT_STEPS)) != DEFAULT_STEPS:
            params["steps"] = str(steps)
        if (method := state.get("method", DEFAULT_METHOD)) != DEFAULT_METHOD:
            params["method"] = method
        params["t"] = f"{state.get('ratio', DEFAULT_RATIO) / 100:g}"
    if len(chosen) >= 3:
        params["w"] = ",".join(str(state.get(f"share-{i}", DEFAULT_SHARE))
                               for i in range(len(chosen)))
    values = gene_values(state, len(resources.genes) if resources.genes is not None else 0)
    if values:
        params["g"] = ",".join(f"{values.get(i, 0.0):g}" for i in range(max(values) + 1))
        if (index := chosen.index(tuned_key(state))) > 0:
            params["tune"] = LETTERS[index]
    return params


class BadLink(ValueError):
    """A link that names an unknown cat or holds a value the page cannot show."""


def open_link(params: Mapping[str, str], state: MutableMapping[str, Any],
              resources: Resources) -> bool:
    """Set the state to what a link shows. False if the link names an unknown cat or holds a
    bad value: then only its language, if good, is taken. Other parameters are ignored."""
    if params.get("lang") in LANGUAGES:
        state["language"] = params["lang"]
    try:
        state.update(_read(params, resources))
    except BadLink:
        return False
    return True


def _read(params: Mapping[str, str], resources: Resources) -> dict[str, Any]:
    """The state a link shows; BadLink if it cannot be shown."""
    if "lang" in params and params["lang"] not in LANGUAGES:
        raise BadLink("lang")
    letters = [letter for letter in LETTERS if letter in params]
    if letters != list(LETTERS[:len(letters)]):
        raise BadLink("cats must be a, b, c, d in order")
    chosen = [resources.by_link_id.get(params[letter]) for letter in letters]
    if None in chosen or len(set(chosen)) < len(chosen):
        raise BadLink("unknown or repeated cat")
    needs = {"t": 2, "steps": 2, "method": 2, "w": 3, "g": 1, "tune": 1}
    if any(name in params and len(chosen) < least for name, least in needs.items()):
        raise BadLink("a value for cats the link does not name")
    state: dict[str, Any] = {"chosen": chosen}
    if "steps" in params:
        state["steps"] = int(_number(params["steps"], MIN_STEPS, MAX_STEPS, 1))
    if "method" in params:
        if params["method"] not in METHODS:
            raise BadLink("method")
        state["method"] = params["method"]
    if "t" in params:
        state["ratio"] = round(_number(params["t"], 0, 1, RATIO_STEP / 100) * 100)
    if "w" in params:
        shares = params["w"].split(",")
        if len(shares) != len(chosen):
            raise BadLink("one share per cat")
        for i, share in enumerate(shares):
            state[f"share-{i}"] = int(_number(share, 0, 100, SHARE_STEP))
    if "g" in params:
        values = params["g"].split(",")
        if resources.genes is None or len(values) > len(resources.genes):
            raise BadLink("more genes than the model has")
        for i, value in enumerate(values):
            state[f"gene-{i}"] = _number(value, -GENE_REACH, GENE_REACH, GENE_STEP)
        state["tune"] = True  # the genes' panel, open
    if "tune" in params:
        if "g" not in params or params["tune"] not in letters:
            raise BadLink("tune")
        state["tune-cat"] = chosen[letters.index(params["tune"])]
    return state


def _number(text: str, low: float, high: float, step: float) -> float:
    """The number in `text`, if it lies from low to high on a slider's steps of `step`."""
    try:
        value = float(text)
    except ValueError:
        raise BadLink(text) from None
    steps = value / step if math.isfinite(value) else math.nan
    if not (low <= value <= high) or not abs(steps - round(steps)) < 1e-6:
        raise BadLink(text)
    return round(round(steps) * step, 6)
