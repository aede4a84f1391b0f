"""One visitor of the app, and the only owner of what the app keeps for them: the cats chosen,
the gallery's page, the visitor's own cats (own.py: uploads, new kittens, and the kittens they
kept in the kitten store), the page's settings (the values of its widgets), and the notes an
action leaves for the next page run; with the rules for changing them. Plain Python over a
dict-like state (Streamlit's session, which outlives the page run), so the rules are tested
without Streamlit.

Every key of that state is named in `Key` (keys.py) and read or written here only: the page
asks a `Visitor` and gives its widgets `Key`'s names, share.py reads and sets the settings a
link holds through a `Visitor`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kitten_mixer.morph import DEFAULT_METHOD
from kitten_mixer.webapp import core, stored
from kitten_mixer.webapp.core import DEFAULT_STEPS, Cat, Resources
from kitten_mixer.webapp.keys import Key, language_of
from kitten_mixer.webapp.own import OwnCats, UploadedFile
from kitten_mixer.webapp.texts import DEFAULT_LANGUAGE

if TYPE_CHECKING:  # the store loads with its first use (stored.py)
    from kitten_mixer.store import KittenStore, StoreError

__all__ = ["Key", "Notes", "UploadedFile", "Visitor", "language_of"]

log = logging.getLogger("kitten_mixer.app")

# The morph and the mix slider go from the first cat chosen to the second; a blend takes up to
# four.
MAX_CHOSEN = 4
DEFAULT_RATIO = 50  # the mix slider: percent of the second cat
RATIO_STEP = 5
DEFAULT_SHARE = 50  # each blend slider: shares count in proportion, so equal shares to start
SHARE_STEP = 5


class Setting:
    """A visitor's setting: the value under `key` in their state (a widget's value), else
    `default`."""

    def __init__(self, key: str, default: Any):
        self.key, self.default = key, default

    def __get__(self, visitor: Visitor | None, owner: type | None = None) -> Any:
        return self if visitor is None else visitor.state.get(self.key, self.default)

    def __set__(self, visitor: Visitor, value: Any) -> None:
        visitor.state[self.key] = value


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
    store: str | None = None  # the kitten store said no: "down", "full", "rate", "refused"
    kept: str | None = None  # a kitten was kept under this name
    deleted: str | None = None  # a kitten was deleted (this was its name)
    kittens: int = 0  # so many new kittens were drawn
    link: str | None = None  # a cat could not be shown: "link_bad", "link_gone", "kitten_gone"
    redrawn: bool = False  # a stored kitten drawn by another model was encoded again


class Visitor(OwnCats):
    """A visitor's choices, settings and own cats, kept in `state`, which outlives this object
    (the session), and the rules for changing them: at most four known cats chosen, each once;
    own cats first in the gallery; a kitten kept once, into the store.

    `store` opens the kitten store (once per server: the page caches it) when a rule first
    needs it; `cookie` is the token the visitor's browser brought, if any: the visitor's
    kittens kept on earlier visits are theirs again."""

    def __init__(self, state: MutableMapping[str, Any], resources: Resources,
                 store: Callable[[], KittenStore] | None = None, cookie: str | None = None):
        self.state = state
        self.resources = resources
        self.store = store
        if Key.TOKEN not in state and stored.is_token(cookie):
            state[Key.TOKEN] = cookie
        # Every page run sets what is missing: Streamlit forgets a widget's value while the
        # widget is not on the page (a slider of a part not shown).
        defaults = {Key.LANGUAGE: DEFAULT_LANGUAGE, Key.CHOSEN: [], Key.PAGE: 0, Key.OWN: {},
                    Key.UPLOADS: {}, Key.OTHERS: {}, Key.STORED_AS: {},
                    Key.NURSERY_PAGE: 0, Key.MINE_PAGE: 0, Key.STEPS: DEFAULT_STEPS,
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
    def full(self) -> bool:
        """Whether no other cat can be chosen before one is removed."""
        return len(self.chosen) >= MAX_CHOSEN

    def all_cats(self) -> list[Cat]:
        """Every cat the visitor can choose: their own first, then the gallery's."""
        return [*self.own.values(), *self.resources.cats]

    def chosen_cats(self) -> list[Cat]:
        """The cats chosen, in the order chosen."""
        return [cat for cat in map(self.cat, self.chosen) if cat is not None]

    def can_choose(self, key: str) -> bool:
        cat = self.cat(key)  # a kept upload or new kitten: under its key in the store
        return not self.full and cat is not None and cat.key not in self.chosen

    def choose(self, key: str) -> None:
        """Choose the cat under `key`, if the rules allow it; else nothing happens."""
        if self.can_choose(key):
            self.chosen.append(self.cat(key).key)

    def remove(self, key: str) -> None:
        if key in self.chosen:
            self.chosen.remove(key)

    def pick_on_map(self) -> None:
        """Choose the cat whose face was clicked on the map (the map's selection event)."""
        points = (self.state.get(Key.MAP) or {}).get("selection", {}).get("pick", [])
        if points and "key" in points[0]:
            self.choose(points[0]["key"])

    def keep_step(self, step: int, steps: int, method: str = DEFAULT_METHOD) -> Cat:
        """Keep kitten number `step` (from 0) of the morph of the first two cats chosen."""
        a, b = self.chosen_cats()[:2]
        t = step / (steps - 1)
        code = core.step_code(self.resources, a, b, step, steps, method)
        return self.keep(code, [a, b], [1 - t, t])

    def keep_blend(self, shares: Sequence[float], method: str = DEFAULT_METHOD) -> Cat:
        """Keep the kitten mixed from the first len(shares) cats chosen in these shares (the mix
        slider's kitten: the first two at (1 - t, t))."""
        cats = self.chosen_cats()[:len(shares)]
        return self.keep(core.blend_code(self.resources, cats, shares, method), cats, shares)

    def keep_tuned(self, key: str, values: Mapping[int, float]) -> Cat:
        """Keep the cat under `key` moved `values[i]` spreads along gene i."""
        cat = self.cat(key)
        return self.keep(core.tuned_code(self.resources, cat, dict(values)), [cat], [1.0],
                         genes=values)

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
        except stored.refusals() as e:  # the store said no (down, full...): said, no traceback
            self.note_store_failure(e)
        except Exception as e:
            log.exception("%s failed", getattr(action, "__name__", "an action"))
            self.state[Key.FAILURE] = type(e).__name__

    def note_store_failure(self, error: StoreError) -> None:
        log.warning("the kitten store: %s", error)
        self.state[Key.STORE_FAILURE] = stored.failure_of(error)

    def note_bad_link(self, note: str = "link_bad") -> None:
        self.state[Key.LINK_BAD] = note

    def has_news(self) -> bool:
        """Whether an action kept or deleted a kitten or failed since the last page run took
        the notes."""
        return any(key in self.state for key in (Key.LAST_KEPT, Key.FAILURE,
                                                  Key.STORE_FAILURE, Key.DELETED,
                                                  Key.LINK_BAD))

    def take_notes(self) -> Notes:
        """What the actions left to say, taken: the next page run has none of it."""
        return Notes(failure=self.state.pop(Key.FAILURE, None),
                     store=self.state.pop(Key.STORE_FAILURE, None),
                     kept=self.state.pop(Key.LAST_KEPT, None),
                     deleted=self.state.pop(Key.DELETED, None),
                     kittens=self.state.pop(Key.LAST_KITTENS, None) or 0,
                     link=self.state.pop(Key.LINK_BAD, None),
                     redrawn=bool(self.state.pop(Key.REDRAWN, None)))

    def hold_link(self) -> None:
        """The page's link could not be opened now (the store did not answer): the page keeps
        it as it is, so a reload tries again, until the visitor chooses a cat."""
        self.state[Key.LINK_HELD] = True

    def link_held(self) -> bool:
        if self.state.get(Key.LINK_HELD) and self.chosen:
            del self.state[Key.LINK_HELD]
        return bool(self.state.get(Key.LINK_HELD))

    def first_run(self) -> bool:
        """True on the visitor's first page run only (it opens the page's link)."""
        if self.state.get(Key.LINK_OPENED):
            return False
        self.state[Key.LINK_OPENED] = True
        return True
