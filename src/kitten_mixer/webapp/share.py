"""The page's link: what its query parameters hold, and opening a link someone shared.

    ?a=7078&b=13660&t=0.4            cats a and b chosen (gallery ids), the mix slider at 40%
    &c=3896&d=8923&w=50,20,30,0      up to four cats; the blend's shares, in the order chosen
    &steps=7&method=linear           the morph's settings, when not the defaults
    &g=1.5,0,-1&tune=b               gene values (from gene 1; the rest 0) for cat b (default a)
    &lang=en                         the page's language, when not Spanish

Plain Python over a `Visitor`, which owns what the page shows: a link reads its cats and
settings, and opening one sets them (and opens the genes' panel for a link with genes). Only
gallery cats travel: uploaded photos and kept kittens live in one visitor's session.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from kitten_mixer.morph import DEFAULT_METHOD, METHODS, MIN_STEPS
from kitten_mixer.webapp.core import DEFAULT_STEPS, GENE_REACH, GENE_STEP, MAX_STEPS, Resources
from kitten_mixer.webapp.texts import DEFAULT_LANGUAGE, LANGUAGES
from kitten_mixer.webapp.visitor import MAX_CHOSEN, RATIO_STEP, SHARE_STEP, Visitor

LETTERS = "abcd"[:MAX_CHOSEN]  # the chosen cats' parameters, in the order chosen


def can_travel(chosen: list[str], resources: Resources) -> bool:
    """Whether a link can show these cats: only gallery cats are known to every visitor."""
    return all(key in resources.link_ids for key in chosen)


def link(visitor: Visitor) -> dict[str, str]:
    """The query parameters of a link that shows what the visitor's page shows; with a cat
    that cannot travel, only the language."""
    resources = visitor.resources
    params = {}
    if visitor.language != DEFAULT_LANGUAGE:
        params["lang"] = visitor.language
    chosen = visitor.chosen
    if not chosen or not can_travel(chosen, resources):
        return params
    params.update({letter: resources.link_ids[key] for letter, key in zip(LETTERS, chosen)})
    if len(chosen) >= 2:
        if visitor.steps != DEFAULT_STEPS:
            params["steps"] = str(visitor.steps)
        if visitor.method != DEFAULT_METHOD:
            params["method"] = visitor.method
        params["t"] = f"{visitor.ratio / 100:g}"
    if len(chosen) >= 3:
        params["w"] = ",".join(map(str, visitor.shares()))
    values = visitor.gene_values()
    if values:
        params["g"] = ",".join(f"{values.get(i, 0.0):g}" for i in range(max(values) + 1))
        if (index := chosen.index(visitor.tuned_key)) > 0:
            params["tune"] = LETTERS[index]
    return params


class BadLink(ValueError):
    """A link that names an unknown cat or holds a value the page cannot show."""


@dataclass
class Shown:
    """What a link shows: the cats chosen, and the settings it names (None: not named)."""

    chosen: list[str]
    steps: int | None = None
    method: str | None = None
    ratio: int | None = None
    shares: list[int] | None = None
    genes: list[float] | None = None  # gene 0, 1, ...; the rest 0
    tuned: str | None = None  # the key of the cat the genes tune


def open_link(params: Mapping[str, str], visitor: Visitor) -> bool:
    """Show the visitor what a link shows. False if the link names an unknown cat or holds a
    bad value: then only its language, if good, is taken. Other parameters are ignored."""
    if params.get("lang") in LANGUAGES:
        visitor.language = params["lang"]
    try:
        shown = _read(params, visitor.resources)
    except BadLink:
        return False
    visitor.chosen = shown.chosen
    for name in ("steps", "method", "ratio"):
        if (value := getattr(shown, name)) is not None:
            setattr(visitor, name, value)
    if shown.shares is not None:
        visitor.set_shares(shown.shares)
    if shown.genes is not None:
        visitor.set_genes(shown.genes)
        visitor.genes_open = True
    if shown.tuned is not None:
        visitor.tuned_key = shown.tuned
    return True


def _read(params: Mapping[str, str], resources: Resources) -> Shown:
    """What a link shows; BadLink if it cannot be shown."""
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
    shown = Shown(chosen)
    if "steps" in params:
        shown.steps = int(_number(params["steps"], MIN_STEPS, MAX_STEPS, 1))
    if "method" in params:
        if params["method"] not in METHODS:
            raise BadLink("method")
        shown.method = params["method"]
    if "t" in params:
        shown.ratio = round(_number(params["t"], 0, 1, RATIO_STEP / 100) * 100)
    if "w" in params:
        shares = params["w"].split(",")
        if len(shares) != len(chosen):
            raise BadLink("one share per cat")
        shown.shares = [int(_number(share, 0, 100, SHARE_STEP)) for share in shares]
    if "g" in params:
        values = params["g"].split(",")
        if resources.genes is None or len(values) > len(resources.genes):
            raise BadLink("more genes than the model has")
        shown.genes = [_number(value, -GENE_REACH, GENE_REACH, GENE_STEP) for value in values]
    if "tune" in params:
        if "g" not in params or params["tune"] not in letters:
            raise BadLink("tune")
        shown.tuned = chosen[letters.index(params["tune"])]
    return shown


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
