"""One visitor of the app, and the only owner of what the app keeps for them: the cats chosen,
the gallery's page, the visitor's own cats (kept kittens among them), the page's settings (the
values of its widgets), and the notes an action leaves for the next page run; with the rules
for changing them. Plain Python over a dict-like state (Streamlit's session, which outlives the
page run), so the rules are tested without Streamlit.

Every key of that state is named in `Key` and read or written here only: the page asks a
`Visitor` and gives its widgets `Key`'s names, share.py reads and sets the settings a link
holds through a `Visitor`. A widget whose value the page takes from the widget itself (a
button, the uploader, the tabs) keeps a key of the page's own.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import torch

from kitten_mixer.morph import DEFAULT_METHOD
from kitten_mixer.webapp import core
from kitten_mixer.webapp.core import DEFAULT_STEPS, Cat, Resources, Upload, new_kittens, read_upload
from kitten_mixer.webapp.family import kept_kitten, kept_name, parents_of
from kitten_mixer.webapp.texts import DEFAULT_LANGUAGE

log = logging.getLogger("kitten_mixer.app")

# The morph and the mix slider go from the first cat chosen to the second; a blend takes up to
# four.
MAX_CHOSEN = 4
DEFAULT_RATIO = 50  # the mix slider: percent of the second cat
RATIO_STEP = 5
DEFAULT_SHARE = 50  # each blend slider: shares count in proportion, so equal shares to start
SHARE_STEP = 5


class Key:
    """The keys of a visitor's state. Those marked "widget" are also the keys of the widgets
    that show and set the value."""

    LANGUAGE = "language"  # widget: "es" or "en"
    CHOSEN = "chosen"  # keys of up to MAX_CHOSEN cats, in the order chosen
    PAGE = "page"  # the gallery's page, from 0
    OWN = "own"  # key -> Cat: this visitor's uploads, new and kept kittens, newest first
    KEPT = "kept"  # how many kittens this visitor has kept
    UPLOADS = "uploads"  # "<the uploader's file id>:face|centre" -> Upload
    STEPS = "steps"  # widget: the morph's steps
    METHOD = "method"  # widget: the morph's interpolation (the radio keeps its own default)
    RATIO = "ratio"  # widget: the mix slider, percent of the second cat
    TUNE = "tune"  # widget: whether the genes' panel is open
    TUNE_CAT = "tune-cat"  # widget: the key of the chosen cat the genes tune
    MAP = "map"  # widget: the latent map's selection event
    LINK_OPENED = "link_opened"  # whether the page's link was read (on the first page run)
    # Notes for the next page run, taken once (Visitor.take_notes).
    FAILURE = "failure"  # the name of the error an action raised
    LAST_KEPT = "last_kept"  # the name of the kitten an action kept
    LAST_KITTENS = "last_kittens"  # how many new kittens were drawn
    LINK_BAD = "link_bad"  # the page's link could not be shown

    @staticmethod
    def share(i: int) -> str:
        """Widget: the blend's share slider of the chosen cat number i (from 0)."""
        return f"share-{i}"

    @staticmethod
    def gene(i: int) -> str:
        """Widget: the slider of gene number i (from 0)."""
        return f"gene-{i}"


def language_of(state: Mapping[str, Any]) -> str:
    """The language of a visitor's page, read from their state."""
    return state.get(Key.LANGUAGE, DEFAULT_LANGUAGE)


class Setting:
    """A visitor's setting: the value under `key` in their state (a widget's value), else
    `default`."""

    def __init__(self, key: str, default: Any):
        self.key, self.default = key, default

    def __get__(self, visitor: Visitor | None, owner: type | None = None) -> Any:
        return self if visitor is None else visitor.state.get(self.key, self.default)

    def __set__(self, visitor: Visitor, value: Any) -> None:
        visitor.state[self.key] = value


class UploadedFile(Protocol):
    """What the visitor's uploader hands over for each file (Streamlit's UploadedFile)."""

    file_id: str
    name: str

    def getvalue(self) -> bytes: ...


@dataclass(frozen=True)
class GalleryPage:
    """The cats on the page shown, and where it lies: page `number` (from 0) of `count`."""

    cats: list[Cat]
    number: int
    count: int


@dataclass(frozen=True)
class Notes:
    """What the visitor's actions left to say on the next page run."""

    failure: str | None = None  # an action failed with this error
    kept: str | None = None  # a kitten was kept under this name
    kittens: int = 0  # so many new kittens were drawn
    link_bad: bool = False  # the page's link could not be shown


class Visitor:
    """A visitor's choices, settings and own cats, kept in `state`, which outlives this object
    (the session), and the rules for changing them: at most four known cats chosen, each once;
    own cats first in the gallery; a kitten kept once, numbered in the order kept."""

    def __init__(self, state: MutableMapping[str, Any], resources: Resources):
        self.state = state
        self.resources = resources
        # Every page run sets what is missing: Streamlit forgets a widget's value while the
        # widget is not on the page (a slider of a part not shown).
        defaults = {Key.LANGUAGE: DEFAULT_LANGUAGE, Key.CHOSEN: [], Key.PAGE: 0, Key.OWN: {},
                    Key.KEPT: 0, Key.UPLOADS: {}, Key.STEPS: DEFAULT_STEPS,
                    Key.RATIO: DEFAULT_RATIO,
                    **{Key.share(i): DEFAULT_SHARE for i in range(MAX_CHOSEN)},
                    **{Key.gene(i): 0.0 for i in range(self.gene_count)}}
        for key, value in defaults.items():
            state.setdefault(key, value)

    # ---- the cats ------------------------------------------------------------------------------

    @property
    def chosen(self) -> list[str]:
        """The keys of the cats chosen, in the order chosen."""
        return self.state[Key.CHOSEN]

    @chosen.setter
    def chosen(self, keys: Sequence[str]) -> None:
        self.state[Key.CHOSEN] = list(keys)

    @property
    def own(self) -> dict[str, Cat]:
        """This visitor's uploads, new and kept kittens, newest first."""
        return self.state[Key.OWN]

    def kept(self) -> list[Cat]:
        """The kittens this visitor kept, newest first."""
        return [cat for cat in self.own.values() if cat.origin == "kept"]

    @property
    def full(self) -> bool:
        """Whether no other cat can be chosen before one is removed."""
        return len(self.chosen) >= MAX_CHOSEN

    def cat(self, key: str) -> Cat | None:
        """The cat under `key`: the visitor's own or the gallery's; None if neither knows it."""
        return self.own.get(key) or self.resources.by_key.get(key)

    def all_cats(self) -> list[Cat]:
        """Every cat the visitor can choose: their own first, then the gallery's."""
        return [*self.own.values(), *self.resources.cats]

    def chosen_cats(self) -> list[Cat]:
        """The cats chosen, in the order chosen."""
        return [cat for cat in map(self.cat, self.chosen) if cat is not None]

    def can_choose(self, key: str) -> bool:
        return not self.full and key not in self.chosen and self.cat(key) is not None

    def choose(self, key: str) -> None:
        """Choose the cat under `key`, if the rules allow it; else nothing happens."""
        if self.can_choose(key):
            self.chosen.append(key)

    def remove(self, key: str) -> None:
        if key in self.chosen:
            self.chosen.remove(key)

    def pick_on_map(self) -> None:
        """Choose the cat whose face was clicked on the map (the map's selection event)."""
        points = (self.state.get(Key.MAP) or {}).get("selection", {}).get("pick", [])
        if points and "key" in points[0]:
            self.choose(points[0]["key"])

    def add_own(self, cats: Sequence[Cat]) -> None:
        """Put new cats of the visitor's own first in the gallery, and show its first page."""
        new = {cat.key: cat for cat in cats}
        self.state[Key.OWN] = new | {k: v for k, v in self.own.items() if k not in new}
        self.state[Key.PAGE] = 0

    def draw_kittens(self, n: int, seed: int | None = None) -> list[Cat]:
        """n new kittens from the model's sampler (`seed`: default, a random one), added to
        the visitor's own cats; the next page run says how many."""
        seed = secrets.randbelow(2**31) if seed is None else seed
        kittens = new_kittens(self.resources, n, seed)
        self.add_own(kittens)
        self.state[Key.LAST_KITTENS] = len(kittens)
        return kittens

    def keep(self, code: torch.Tensor, parents: Sequence[Cat], shares: Sequence[float],
             tuned: bool = False) -> Cat:
        """Keep the kitten of this code, mixed from `parents` in these shares (or tuned from its
        one parent): it joins the visitor's own cats, first, named "#k<n>". A kitten already
        kept (the same code) is not kept again: it only comes first again. The next page run
        says so."""
        code = code.detach().clone()  # not a view that holds a whole morph's codes
        digest = core.code_digest(code)
        kitten = next((cat for cat in self.kept() if cat.digest == digest), None)
        if kitten is None:
            self.state[Key.KEPT] += 1
            kitten = kept_kitten(self.resources, self.state[Key.KEPT], code,
                                 parents_of(parents, shares), tuned)
        self.add_own([kitten])
        self.state[Key.LAST_KEPT] = kitten.name
        return kitten

    def keep_step(self, step: int, steps: int, method: str = DEFAULT_METHOD) -> Cat:
        """Keep kitten number `step` (from 0) of the morph of the first two cats chosen."""
        a, b = self.chosen_cats()[:2]
        t = step / (steps - 1)
        return self.keep(core.step_code(a, b, step, steps, method), [a, b], [1 - t, t])

    def keep_blend(self, shares: Sequence[float], method: str = DEFAULT_METHOD) -> Cat:
        """Keep the kitten mixed from the first len(shares) cats chosen in these shares (the mix
        slider's kitten: the first two at (1 - t, t))."""
        cats = self.chosen_cats()[:len(shares)]
        return self.keep(core.blend_code(cats, shares, method), cats, shares)

    def keep_tuned(self, key: str, values: Mapping[int, float]) -> Cat:
        """Keep the cat under `key` moved `values[i]` spreads along gene i."""
        cat = self.cat(key)
        return self.keep(core.tuned_code(self.resources, cat, dict(values)), [cat], [1.0],
                         tuned=True)

    def keep_new_kitten(self, key: str) -> Cat | None:
        """Keep one of the visitor's new kittens: it keeps its place in the gallery and its
        key, and takes the next kept name."""
        cat = self.own.get(key)
        if cat is None or cat.origin != "kitten":
            return None
        self.state[Key.KEPT] += 1
        kept = self.own[key] = replace(cat, name=kept_name(self.state[Key.KEPT]), origin="kept")
        self.state[Key.LAST_KEPT] = kept.name
        return kept

    def take_uploads(self, files: Sequence[UploadedFile], find: bool = True
                     ) -> tuple[list[tuple[str, Upload]], int]:
        """Each file the uploader holds as (its id, what became of it), reading each file once
        for each way of cropping it (`find`: around the cat's face, or its centre), and how
        many new cats they brought (added to the visitor's own)."""
        seen = self.state[Key.UPLOADS]
        new, taken = [], []
        for file in files:
            key = f"{file.file_id}:{'face' if find else 'centre'}"
            if key not in seen:
                seen[key] = read_upload(self.resources, file.name, file.getvalue(), find)
                if seen[key].cat is not None:
                    new.append(seen[key].cat)
            taken.append((file.file_id, seen[key]))
        if new:
            self.add_own(new)
        return taken, len(new)

    def turn_page(self, step: int) -> None:
        self.state[Key.PAGE] += step

    def gallery_page(self, per_page: int) -> GalleryPage:
        """The gallery's page to show, kept within the pages there are."""
        cats = self.all_cats()
        count = max(1, math.ceil(len(cats) / per_page))
        number = self.state[Key.PAGE] = min(max(self.state[Key.PAGE], 0), count - 1)
        return GalleryPage(cats[number * per_page:(number + 1) * per_page], number, count)

    # ---- the page's settings -------------------------------------------------------------------

    language = Setting(Key.LANGUAGE, DEFAULT_LANGUAGE)
    steps = Setting(Key.STEPS, DEFAULT_STEPS)  # the morph's, both cats included
    method = Setting(Key.METHOD, DEFAULT_METHOD)  # the morph's interpolation
    ratio = Setting(Key.RATIO, DEFAULT_RATIO)  # the mix slider: percent of the second cat
    genes_open = Setting(Key.TUNE, False)  # whether the genes' panel is open

    def shares(self) -> list[int]:
        """The blend's shares of the cats chosen, in the order chosen."""
        return [self.state.get(Key.share(i), DEFAULT_SHARE) for i in range(len(self.chosen))]

    def set_shares(self, shares: Sequence[int]) -> None:
        for i, share in enumerate(shares):
            self.state[Key.share(i)] = share

    @property
    def gene_count(self) -> int:
        """How many genes the model has (0 without genes)."""
        return len(self.resources.genes) if self.resources.genes is not None else 0

    def gene_values(self) -> dict[int, float]:
        """The gene sliders' values that are not 0, by gene (from 0)."""
        # Rounded to the sliders' steps: a link's 0.3 and a slider's 0.30000000000000004 must
        # tune a cat to the same pixels.
        values = {i: round(float(self.state.get(Key.gene(i), 0.0)), 6)
                  for i in range(self.gene_count)}
        return {i: value for i, value in values.items() if value}

    def set_genes(self, values: Sequence[float]) -> None:
        """Set genes 0, 1, ... to these values, the others to 0."""
        for i in range(self.gene_count):
            self.state[Key.gene(i)] = values[i] if i < len(values) else 0.0

    def reset_genes(self) -> None:
        self.set_genes([])

    def fold_genes(self) -> None:
        """The genes' panel opened or closed: closed, the cat is no longer tuned."""
        if not self.genes_open:
            self.reset_genes()

    @property
    def tuned_key(self) -> str | None:
        """The key of the chosen cat the genes tune: the one picked, else the first chosen."""
        picked = self.state.get(Key.TUNE_CAT)
        return picked if picked in self.chosen else (self.chosen[0] if self.chosen else None)

    @tuned_key.setter
    def tuned_key(self, key: str) -> None:
        self.state[Key.TUNE_CAT] = key

    def tuned_cat(self) -> Cat | None:
        """The chosen cat the genes tune, its key set as the picker's value (one of those
        chosen); None if no cat is chosen."""
        key = self.state[Key.TUNE_CAT] = self.tuned_key
        return None if key is None else self.cat(key)

    # ---- actions and what they leave for the next page run -------------------------------------

    def act(self, action: Callable[..., Any], *args: Any) -> None:
        """Run one of the visitor's actions from a button (a callback): an error becomes a
        note for the next page run (a one-line message there) instead of a traceback."""
        try:
            action(*args)
        except Exception as e:
            log.exception("%s failed", getattr(action, "__name__", "an action"))
            self.state[Key.FAILURE] = type(e).__name__

    def note_bad_link(self) -> None:
        self.state[Key.LINK_BAD] = True

    def has_news(self) -> bool:
        """Whether an action kept a kitten or failed since the last page run took the notes."""
        return Key.LAST_KEPT in self.state or Key.FAILURE in self.state

    def take_notes(self) -> Notes:
        """What the actions left to say, taken: the next page run has none of it."""
        return Notes(failure=self.state.pop(Key.FAILURE, None),
                     kept=self.state.pop(Key.LAST_KEPT, None),
                     kittens=self.state.pop(Key.LAST_KITTENS, None) or 0,
                     link_bad=bool(self.state.pop(Key.LINK_BAD, None)))

    def first_run(self) -> bool:
        """True on the visitor's first page run only (it opens the page's link)."""
        if self.state.get(Key.LINK_OPENED):
            return False
        self.state[Key.LINK_OPENED] = True
        return True
