"""One visitor of the app: the cats chosen, the gallery's page and the visitor's own cats (kept
kittens among them), with the rules for changing them. Plain Python over a dict-like state
(Streamlit's session)."""

from __future__ import annotations

import math
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import torch

from kitten_mixer.morph import DEFAULT_METHOD
from kitten_mixer.webapp import core
from kitten_mixer.webapp.core import Cat, Resources, Upload, new_kittens, read_upload
from kitten_mixer.webapp.family import kept_kitten, kept_name, parents_of
from kitten_mixer.webapp.texts import DEFAULT_LANGUAGE

# The morph and the mix slider go from the first cat chosen to the second; a blend takes up to
# four.
MAX_CHOSEN = 4


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


class Visitor:
    """A visitor's choices and own cats, kept in `state`, which outlives this object (the
    session), and the rules for changing them: at most four known cats chosen, each once; own
    cats first in the gallery; a kitten kept once, numbered in the order kept."""

    def __init__(self, state: MutableMapping[str, Any], resources: Resources):
        self.state = state
        self.resources = resources
        state.setdefault("language", DEFAULT_LANGUAGE)
        state.setdefault("chosen", [])  # keys of up to MAX_CHOSEN cats, in the order chosen
        state.setdefault("page", 0)
        state.setdefault("own", {})  # key -> Cat: this visitor's uploads, new and kept kittens
        state.setdefault("kept", 0)  # how many kittens this visitor has kept
        state.setdefault("uploads", {})  # the uploader's file id -> Upload

    @property
    def chosen(self) -> list[str]:
        """The keys of the cats chosen, in the order chosen."""
        return self.state["chosen"]

    @property
    def own(self) -> dict[str, Cat]:
        """This visitor's uploads, new and kept kittens, newest first."""
        return self.state["own"]

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

    def pick_on_map(self, event: Mapping[str, Any] | None) -> None:
        """Choose the cat whose face was clicked on the map (a chart's selection event)."""
        points = (event or {}).get("selection", {}).get("pick", [])
        if points and "key" in points[0]:
            self.choose(points[0]["key"])

    def add_own(self, cats: Sequence[Cat]) -> None:
        """Put new cats of the visitor's own first in the gallery, and show its first page."""
        new = {cat.key: cat for cat in cats}
        self.state["own"] = new | {k: v for k, v in self.own.items() if k not in new}
        self.state["page"] = 0

    def draw_kittens(self, n: int, seed: int) -> list[Cat]:
        """n new kittens from the model's sampler, added to the visitor's own cats."""
        kittens = new_kittens(self.resources, n, seed)
        self.add_own(kittens)
        return kittens

    def keep(self, code: torch.Tensor, parents: Sequence[Cat], shares: Sequence[float],
             tuned: bool = False) -> Cat:
        """Keep the kitten of this code, mixed from `parents` in these shares (or tuned from its
        one parent): it joins the visitor's own cats, first, named "#k<n>". A kitten already
        kept (the same code) is not kept again: it only comes first again."""
        code = code.detach().clone()  # not a view that holds a whole morph's codes
        digest = core.code_digest(code)
        for cat in self.kept():
            if cat.digest == digest:
                self.add_own([cat])
                return cat
        self.state["kept"] += 1
        kitten = kept_kitten(self.resources, self.state["kept"], code,
                             parents_of(parents, shares), tuned)
        self.add_own([kitten])
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
        self.state["kept"] += 1
        kept = self.own[key] = replace(cat, name=kept_name(self.state["kept"]), origin="kept")
        return kept

    def take_uploads(self, files: Sequence[UploadedFile], find: bool = True
                     ) -> tuple[list[tuple[str, Upload]], int]:
        """Each file the uploader holds as (its id, what became of it), reading each file once
        for each way of cropping it (`find`: around the cat's face, or its centre), and how
        many new cats they brought (added to the visitor's own)."""
        seen = self.state["uploads"]
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
        self.state["page"] += step

    def gallery_page(self, per_page: int) -> GalleryPage:
        """The gallery's page to show, kept within the pages there are."""
        cats = self.all_cats()
        count = max(1, math.ceil(len(cats) / per_page))
        number = self.state["page"] = min(max(self.state["page"], 0), count - 1)
        return GalleryPage(cats[number * per_page:(number + 1) * per_page], number, count)
