"""The page's link: what its query parameters hold, and opening a link someone shared.

    ?a=7078&b=13660&t=0.4            cats a and b chosen (gallery ids), the mix slider at 40%
    ?a=k.x7Gh2kLm0pQr3sTu&b=7078     a stored kitten ("k." and its id) and a gallery cat
    ?k=x7Gh2kLm0pQr3sTu              one stored kitten alone (the same as a=k.<id>)
    &c=3896&d=8923&w=50,20,30,0      up to four cats; the blend's shares, in the order chosen
    &steps=7&method=linear           the morph's settings, when not the defaults
    &g=1.5,0,-1&tune=b               gene values (from gene 1; the rest 0) for cat b (default a)
    &lang=en                         the page's language, when not Spanish

Plain Python over a `Visitor`, which owns what the page shows: a link reads its cats and
settings, and opening one sets them (and opens the genes' panel for a link with genes).
Gallery cats and stored kittens (anyone's, by id) travel; an upload or a new kitten travels
once it is kept. The visitor's token never goes in a link.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from kitten_mixer.morph import DEFAULT_METHOD, METHODS, MIN_STEPS
from kitten_mixer.webapp import stored
from kitten_mixer.webapp.core import (
    DEFAULT_STEPS,
    GENE_REACH,
    GENE_STEP,
    MAX_STEPS,
    Cat,
    Resources,
)
from kitten_mixer.webapp.texts import DEFAULT_LANGUAGE, LANGUAGES
from kitten_mixer.webapp.visitor import MAX_CHOSEN, RATIO_STEP, SHARE_STEP, Visitor

LETTERS = "abcd"[:MAX_CHOSEN]  # the chosen cats' parameters, in the order chosen
KITTEN = "k"  # one stored kitten alone
MAX_VALUE = 100  # characters of any one value the page reads: a longer one is a bad link


def can_travel(chosen: list[str], resources: Resources) -> bool:
    """Whether a link can show these cats: gallery cats and stored kittens are known to every
    visitor; uploads and new kittens only once they are kept."""
    return all(key in resources.link_ids or stored.id_of(key) for key in chosen)


def link_id(key: str, resources: Resources) -> str:
    """What a link calls the cat under `key` (a gallery cat or a stored kitten)."""
    kitten_id = stored.id_of(key)
    return resources.link_ids[key] if kitten_id is None else stored.link_id(kitten_id)


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
    if len(chosen) == 1 and stored.id_of(chosen[0]) and not visitor.gene_values():
        return params | {KITTEN: stored.id_of(chosen[0])}
    params.update({letter: link_id(key, resources) for letter, key in zip(LETTERS, chosen)})
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

    note = "link_bad"  # the text the page shows


class GoneLink(BadLink):
    """A link that names a stored kitten no one has (deleted, or never kept)."""

    note = "link_gone"


@dataclass
class Shown:
    """What a link shows: the cats chosen, and the settings it names (None: not named)."""

    chosen: list[str]
    kittens: list[Cat]  # the stored kittens among them
    steps: int | None = None
    method: str | None = None
    ratio: int | None = None
    shares: list[int] | None = None
    genes: list[float] | None = None  # gene 0, 1, ...; the rest 0
    tuned: str | None = None  # the key of the cat the genes tune


def open_link(params: Mapping[str, str], visitor: Visitor) -> str | None:
    """Show the visitor what a link shows: None once shown; if the link names an unknown cat
    or holds a bad value, the note to show instead ("link_bad", or "link_gone" for a stored
    kitten no one has), and only its language, if good, is taken. Other parameters are
    ignored. A link naming a stored kitten asks the store, whose refusal (StoreError) passes
    through."""
    if params.get("lang") in LANGUAGES:
        visitor.language = params["lang"]
    try:
        shown = _read(params, visitor.resources, visitor.find_stored)
    except BadLink as e:
        return e.note
    visitor.remember(shown.kittens)
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
    return None


def _read(params: Mapping[str, str], resources: Resources,
          find_stored: Callable[[str], Cat | None]) -> Shown:
    """What a link shows; BadLink if it cannot be shown. `find_stored` finds a stored kitten
    by its id (None: there is none)."""
    if any(len(value) > MAX_VALUE for value in params.values()):
        raise BadLink("a value too long")
    if "lang" in params and params["lang"] not in LANGUAGES:
        raise BadLink("lang")
    if KITTEN in params:
        if any(letter in params for letter in LETTERS):
            raise BadLink("k and a cat")
        params = {**params, LETTERS[0]: stored.link_id(params[KITTEN])}
    letters = [letter for letter in LETTERS if letter in params]
    if letters != list(LETTERS[:len(letters)]):
        raise BadLink("cats must be a, b, c, d in order")
    needs = {"t": 2, "steps": 2, "method": 2, "w": 3, "g": 1, "tune": 1}
    if any(name in params and len(letters) < least for name, least in needs.items()):
        raise BadLink("a value for cats the link does not name")
    values = [params[letter] for letter in letters]
    if len(set(values)) < len(values):
        raise BadLink("a repeated cat")
    kitten_ids = [stored.id_in_link(value) if value not in resources.by_link_id else None
                  for value in values]
    if "" in kitten_ids or any(resources.by_link_id.get(value) is None
                               for value, kitten_id in zip(values, kitten_ids)
                               if kitten_id is None):
        raise BadLink("an unknown cat")
    shown = Shown([resources.by_link_id.get(value) for value in values], [])
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
        if len(shares) != len(letters):
            raise BadLink("one share per cat")
        shown.shares = [int(_number(share, 0, 100, SHARE_STEP)) for share in shares]
    if "g" in params:
        genes = params["g"].split(",")
        if resources.genes is None or len(genes) > len(resources.genes):
            raise BadLink("more genes than the model has")
        shown.genes = [_number(value, -GENE_REACH, GENE_REACH, GENE_STEP) for value in genes]
    if "tune" in params and ("g" not in params or params["tune"] not in letters):
        raise BadLink("tune")
    # Last, once the rest is good: the stored kittens, from the store.
    for i, kitten_id in enumerate(kitten_ids):
        if kitten_id is not None:
            cat = find_stored(kitten_id)
            if cat is None:
                raise GoneLink(values[i])
            shown.chosen[i] = cat.key
            shown.kittens.append(cat)
    if "tune" in params:
        shown.tuned = shown.chosen[letters.index(params["tune"])]
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
