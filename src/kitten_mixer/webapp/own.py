"""A visitor's own cats and the rules for keeping them, which `Visitor` (visitor.py) inherits:
their uploads and new kittens (in their session), the kittens they kept (in the kitten store,
under their token), the stored kittens of others they chose or opened from a link, and the
public nursery. Plain Python over the visitor's state, like the rest of `Visitor`.

Every keep writes the kitten to the store before it returns, so a kitten the page says was
kept is in the database; a refusal of the store (down, full, too many keeps) keeps nothing new
and loses nothing kept before. The store is opened on first use: a page that needs no stored
kitten never touches it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

import torch

from kitten_mixer.webapp import core, framing, stored
from kitten_mixer.webapp.core import Cat, Parent, Resources, Upload, new_kittens, read_upload
from kitten_mixer.webapp.framing import Frame
from kitten_mixer.webapp.keys import Key

if TYPE_CHECKING:  # the store loads with its first use (stored.py)
    from kitten_mixer.store import Kitten, KittenStore

log = logging.getLogger("kitten_mixer.app")


class UploadedFile(Protocol):
    """What the visitor's uploader hands over for each file (Streamlit's UploadedFile)."""

    file_id: str
    name: str

    def getvalue(self) -> bytes: ...


class OwnCats:
    """The visitor's own cats: uploads and new kittens first in their gallery, then the kittens
    they kept, newest first; a kitten kept once; and the stored kittens of others."""

    state: MutableMapping[str, Any]
    resources: Resources
    store: Callable[[], KittenStore] | None  # the kitten store, opened on the first call
    chosen: list[str]

    def choose(self, key: str) -> None: ...  # Visitor's

    # ---- the visitor's own -------------------------------------------------------------------

    @property
    def own(self) -> dict[str, Cat]:
        """This visitor's uploads, new and kept kittens, newest first."""
        return self.state[Key.OWN]

    def kept(self) -> list[Cat]:
        """The kittens this visitor kept, newest first (those read from the store on this
        visit, and those kept since)."""
        return [cat for cat in self.own.values() if cat.origin == "kept"]

    def cat(self, key: str) -> Cat | None:
        """The cat under `key`: the visitor's own, the gallery's, or another's stored kitten
        they chose; None if none of these knows it."""
        key = self.state[Key.STORED_AS].get(key, key)
        return self.own.get(key) or self.resources.by_key.get(key) \
            or self.state[Key.OTHERS].get(key)

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

    def take_uploads(self, files: Sequence[UploadedFile], find: bool = True
                     ) -> tuple[list[tuple[str, Upload]], int]:
        """Each file the uploader holds as (its id, what became of it), reading each file once
        for each way of cropping it (`find`: around the cat's face, or its centre), and how
        many new cats they brought (added to the visitor's own). Nothing is stored."""
        seen = self.state[Key.UPLOADS]
        new, taken = [], []
        for file in files:
            key = Key.upload(file.file_id, find)
            if key not in seen:
                seen[key] = read_upload(self.resources, file.name, file.getvalue(), find)
                if seen[key].cat is not None:
                    new.append(seen[key].cat)
            taken.append((file.file_id, seen[key]))
        if new:
            self.add_own(new)
        return taken, len(new)

    def pick_face(self, file: UploadedFile, index: int) -> None:
        """The upload of this file (its faces found) stands for its face number `index` (from
        0, best first) from now on: only that face is cropped and encoded, from the faces found
        when the file was read. The new cat takes the old one's place (`_stands_for`)."""
        upload = self.upload(file.file_id)
        if upload is None or upload.cat is None or index == upload.picked \
                or not 0 <= index < len(upload.boxes):
            return
        self._stands_for(Key.upload(file.file_id),
                         core.pick_face(self.resources, upload, file.getvalue(), index))

    def frame_face(self, file: UploadedFile, frame: Frame, find: bool = True) -> None:
        """The upload of this file (read with `find`, as the uploader shows it) stands for the
        square the visitor framed by hand from now on: only it is cropped and encoded. The new
        cat takes the old one's place (`_stands_for`)."""
        upload = self.upload(file.file_id, find)
        if upload is None or upload.cat is None or upload.frame == frame:
            return
        self._stands_for(Key.upload(file.file_id, find),
                         framing.frame_face(self.resources, upload, file.getvalue(), frame))

    # ---- framing a face by hand: the panel's sliders ------------------------------------------

    def upload(self, file_id: str, find: bool = True) -> Upload | None:
        """What became of the file of this id, read with `find` (None: not read that way)."""
        return self.state[Key.UPLOADS].get(Key.upload(file_id, find))

    def open_frame(self, file: UploadedFile, find: bool = True) -> None:
        """The framing panel of this file opened: its sliders start at the square the upload's
        crop is cut from now (the face it stands for; with none found, where the finder guesses
        one is, else the photo's centre), unless they hold the visitor's square already."""
        upload = self.upload(file.file_id, find)
        if upload is None or upload.cat is None or Key.frame(file.file_id, "x") in self.state:
            return
        frame = upload.frame or framing.frame_of(upload, *core.photo_size(file.getvalue()))
        for part, value in Frame(*frame).sliders().items():
            self.state[Key.frame(file.file_id, part)] = value

    def fold_frame(self, file_id: str) -> None:
        """The framing panel opened or closed: closed, its sliders are let go (opened again,
        they start from the face the upload stands for then)."""
        if not self.state.get(Key.framing(file_id)):
            for part in framing.SLIDERS:
                self.state.pop(Key.frame(file_id, part), None)

    def frame_shown(self, file_id: str) -> Frame:
        """The square the framing panel's sliders show (the photo's centre before they are
        set)."""
        start = Frame().sliders()
        return Frame.from_sliders({part: float(self.state.get(Key.frame(file_id, part),
                                                              start[part]))
                                   for part in framing.SLIDERS})

    def _stands_for(self, key: str, picked: Upload) -> None:
        """The upload under `key` stands for another face of its photo (`picked`): the new cat
        takes the old one's place in the gallery and among the chosen; an old one kept stays
        kept, and the new joins the visitor's own cats first (a face kept already is its kept
        kitten)."""
        seen = self.state[Key.UPLOADS]
        upload = seen[key]
        if picked is upload:
            return
        seen[key] = picked
        old, new = upload.cat.key, picked.cat.key
        stored_as = self.state[Key.STORED_AS]
        now = stored_as.get(new, new)  # the key the new face is known by
        fresh = new not in stored_as and new not in self.own
        if old not in self.own or any(u.cat is not None and u.cat.key == old
                                      for u in seen.values()):  # kept, or another file's too
            if fresh:
                self.add_own([picked.cat])
            return
        own = {}
        for k, v in self.own.items():
            if k != old:
                own[k] = v
            elif fresh:
                own[new] = picked.cat
        self.state[Key.OWN] = own
        chosen = [now if k == old else k for k in self.chosen]
        self.state[Key.CHOSEN] = [k for i, k in enumerate(chosen) if k not in chosen[:i]]
        if self.state.get(Key.TUNE_CAT) == old:
            self.state[Key.TUNE_CAT] = now

    # ---- keeping: into the store ---------------------------------------------------------------

    @property
    def token(self) -> str | None:
        """The visitor's token in the store: their browser's, or the one made at their first
        keep (the page then gives it to the browser); None before either."""
        return self.state.get(Key.TOKEN)

    def _store(self) -> KittenStore:
        if self.store is None:
            raise RuntimeError("this page has no kitten store")
        return self.store()

    def _owner(self) -> str:
        if self.token is None:
            self.state[Key.TOKEN] = stored.new_token()
        return self.state[Key.TOKEN]

    def keep(self, code: torch.Tensor, parents: Sequence[Cat], shares: Sequence[float],
             genes: Mapping[int, float] | None = None) -> Cat:
        """Keep the kitten of this code, mixed from `parents` in these shares (or tuned from its
        one parent by these gene values): it is stored, then joins the visitor's own cats,
        first. A kitten already kept (the same code) is not kept again: it only comes first
        again. New kittens among its parents are kept first. The next page run says so."""
        code = code.detach().clone()  # not a view that holds a whole morph's codes
        digest = core.code_digest(code)
        kitten = next((cat for cat in self.kept() if cat.digest == digest), None)
        if kitten is None:
            parents = [self.keep_own(cat.key) or cat if cat.origin == "kitten" else cat
                       for cat in parents]
            face = self.resources.mixer.decode(code)[0]
            kitten = self._stored(self._store().keep(
                self._owner(), code, stored.store_parents(parents, shares, self.resources),
                {int(i): float(v) for i, v in (genes or {}).items()},
                self.resources.model_digest, stored.picture(face)), code, face)
        self.add_own([kitten])
        self.state[Key.LAST_KEPT] = kitten.name
        return kitten

    def keep_own(self, key: str) -> Cat | None:
        """Keep one of the visitor's new kittens or uploaded cats: it keeps its place in the
        gallery and takes its key in the store. An upload is stored as its code and its face
        as the model draws it (never the photo). None for any other cat."""
        cat = self.own.get(key)
        if cat is None or cat.origin not in ("kitten", "upload"):
            return None
        face = cat.face if cat.origin == "kitten" else self.resources.mixer.decode(cat.code)[0]
        kitten = self._stored(self._store().keep(
            self._owner(), cat.code, (), {}, self.resources.model_digest, stored.picture(face),
            kind="kitten" if cat.origin == "kitten" else "upload"), cat.code, face)
        self.state[Key.OWN] = {(kitten.key if k == key else k): (kitten if k == key else v)
                               for k, v in self.own.items()}
        self.state[Key.CHOSEN] = [kitten.key if k == key else k for k in self.chosen]
        self.state[Key.STORED_AS][key] = kitten.key
        self.state[Key.LAST_KEPT] = kitten.name
        return kitten

    def _stored(self, kitten: Kitten, code: torch.Tensor, face: Any) -> Cat:
        """The kitten just stored, as a cat: its own code and face (no PNG read back)."""
        return Cat(stored.key_of(kitten.id), stored.kitten_name(kitten.id), code, face, "kept",
                   tuple(stored.parent_of(p, self.resources) for p in kitten.parents),
                   tuned=bool(kitten.genes), photo=kitten.kind == "upload")

    def read_mine(self) -> None:
        """Once a visit, for a visitor whose browser brought a token: the kittens they kept on
        earlier visits join their own cats."""
        if self.token is None or self.state.get(Key.MINE_READ):
            return
        self.state[Key.MINE_READ] = True
        cats = [self._converted(kitten) for kitten in self._store().mine(self.token)]
        if cats:
            self.add_own([cat for cat in cats if cat.key not in self.own])

    def mine(self) -> list[tuple[Cat, bool]]:
        """The visitor's stored kittens, newest first, each with whether it is in the nursery:
        read from the store each time (another tab may have kept or deleted one)."""
        if self.token is None:
            return []
        return [(self._converted(kitten, note=False), kitten.public)
                for kitten in self._store().mine(self.token)]

    def _converted(self, kitten: Kitten, note: bool = True) -> Cat:
        known = self.own.get(stored.key_of(kitten.id))
        if known is not None:  # drawn already: only its parents may have changed
            return replace(known, parents=tuple(stored.parent_of(p, self.resources)
                                                for p in kitten.parents))
        cat, redrawn = stored.cat_of(kitten, self.resources)
        if redrawn and note:
            self.state[Key.REDRAWN] = True
        return cat

    def find_stored(self, kitten_id: str) -> Cat | None:
        """The stored kitten of this id, whoever kept it: known on this visit, or read from the
        store (not remembered: see `remember`); None if no kitten has that id."""
        key = stored.key_of(kitten_id)
        known = self.own.get(key) or self.state[Key.OTHERS].get(key)
        if known is not None:
            return known
        kitten = self._store().get(kitten_id) if stored.looks_like_id(kitten_id) else None
        return None if kitten is None else self._converted(kitten)

    def remember(self, cats: Sequence[Cat]) -> None:
        """Stored kittens of others, chosen or opened from a link: the visitor can mix them."""
        others = self.state[Key.OTHERS]
        for cat in cats:
            if cat.key not in self.own:
                others[cat.key] = cat

    def choose_stored(self, kitten_id: str) -> None:
        """Choose a stored kitten (from the nursery); a deleted one leaves a note instead."""
        cat = self.find_stored(kitten_id)
        if cat is None:
            self.state[Key.LINK_BAD] = "kitten_gone"
            return
        self.remember([cat])
        self.choose(cat.key)

    def relative(self, key: str) -> Cat | None:
        """A cat of a family tree: any known on this visit, else read from the store."""
        cat = self.cat(key)
        if cat is None and (kitten_id := stored.id_of(key)) is not None:
            cat = self.find_stored(kitten_id)
        return cat

    def delete(self, key: str) -> bool:
        """Delete one of the visitor's stored kittens: it leaves their cats and the chosen
        ones, and its children name it as withdrawn. False if it is not theirs."""
        kitten_id = stored.id_of(key)
        if kitten_id is None or self.token is None \
                or not self._store().delete(self.token, kitten_id):
            return False
        name = stored.kitten_name(kitten_id)
        gone = Parent("", "", 0.0, "withdrawn")
        for cats in (self.state[Key.OWN], self.state[Key.OTHERS]):
            cats.pop(key, None)
            for k, cat in cats.items():
                if any(parent.key == key for parent in cat.parents):
                    cats[k] = replace(cat, parents=tuple(
                        replace(gone, share=p.share) if p.key == key else p
                        for p in cat.parents))
        self.state[Key.CHOSEN] = [k for k in self.chosen if k != key]
        self.state[Key.DELETED] = name
        return True

    def set_public(self, kitten_id: str) -> bool:
        """Show one of the visitor's kittens in the nursery, or hide it, as its toggle says."""
        public = bool(self.state.get(Key.public(kitten_id)))
        return self.token is not None and self._store().set_public(self.token, kitten_id,
                                                                   public)

    # ---- the public nursery --------------------------------------------------------------------

    def nursery(self, per_page: int) -> tuple[list[Cat], int, int]:
        """The nursery's page shown (kept within the pages there are), in the order picked:
        its kittens, the page's number (from 0) and the number of pages."""
        store = self._store()
        count = max(1, -(-store.nursery_size() // per_page))
        number = self.state[Key.NURSERY_PAGE] = min(max(self.state[Key.NURSERY_PAGE], 0),
                                                    count - 1)
        order = self.state.get(Key.NURSERY_ORDER) or "newest"
        kittens = store.nursery(order, number, per_page)
        return [self._converted(kitten, note=False) for kitten in kittens], number, count

    def children(self, key: str) -> int:
        """How many stored kittens name the stored kitten under `key` as a parent."""
        return self._store().children_count(stored.id_of(key) or "")

    def turn_nursery(self, step: int | None) -> None:
        """Turn the nursery's page by `step`; None: back to its first page (another order)."""
        self.state[Key.NURSERY_PAGE] = 0 if step is None else self.state[Key.NURSERY_PAGE] + step

    def mine_page(self, count: int) -> int:
        """The page of "Your kittens" shown (from 0), kept within the `count` there are."""
        number = self.state[Key.MINE_PAGE] = min(max(self.state[Key.MINE_PAGE], 0), count - 1)
        return number

    def turn_mine(self, step: int) -> None:
        self.state[Key.MINE_PAGE] += step
