"""Kittens in the kitten store as the app's cats, and the app's cats as the store's parents:
their keys, names, pictures and links, the visitor's token, and what each refusal of the
store is called on the page. Plain Python, like the visitor's rules.

A stored kitten is the cat "s:<id>", named "#" and the first letters of its id. It is shown
from the picture stored with it (the face the page showed when it was kept), so every browser
shows the same pixels, and it mixes with its stored code, unless another model drew it: then
its code is encoded again from its picture by this model (the page says so once).

The store's package (and SQLAlchemy under it) is imported on the store's first use, not with
the page: a first page that needs no stored kitten does not load it (`refusals`).
"""

from __future__ import annotations

import io
import re
import secrets
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PIL import Image

from kitten_mixer.images import png_bytes
from kitten_mixer.webapp.core import Cat, Parent, Resources

if TYPE_CHECKING:
    from kitten_mixer.store import Kitten, StoreError
    from kitten_mixer.store import Parent as StoredParent

KEY_PREFIX = "s:"  # a stored kitten's key among the app's cats
LINK_PREFIX = "k."  # a stored kitten among a link's cats: a=k.<id>; a gallery cat: a=<its id>
NAME_LETTERS = 6  # of the id, in a stored kitten's name
# What a link may name as a kitten's id before the store is asked (the store checks the rest).
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# The visitor's token, kept in their browser's cookie (never in a link).
COOKIE = "kitten_mixer_visitor"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")


def key_of(kitten_id: str) -> str:
    return KEY_PREFIX + kitten_id


def id_of(key: str) -> str | None:
    """The store's id of the cat under `key`; None if it is not a stored kitten."""
    return key[len(KEY_PREFIX):] if key.startswith(KEY_PREFIX) else None


def kitten_name(kitten_id: str) -> str:
    """A stored kitten's short name: "#" and the first letters of its id."""
    return "#" + kitten_id[:NAME_LETTERS]


def link_id(kitten_id: str) -> str:
    """What a link calls a stored kitten among its cats."""
    return LINK_PREFIX + kitten_id


def id_in_link(value: str) -> str | None:
    """The id a link's value names as a stored kitten; None if it names no kitten."""
    if value.startswith(LINK_PREFIX):
        value = value[len(LINK_PREFIX):]
        return value if _ID.fullmatch(value) else ""
    return None


def looks_like_id(value: str) -> bool:
    return _ID.fullmatch(value) is not None


def new_token() -> str:
    """A new visitor's token: 24 random bytes from the system's secure source, URL-safe."""
    return secrets.token_urlsafe(24)


def is_token(value: object) -> bool:
    return isinstance(value, str) and _TOKEN.fullmatch(value) is not None


def picture(face: Image.Image) -> bytes:
    """The picture stored with a kitten: its face as the page shows it, as a PNG."""
    return png_bytes(face)


def cat_of(kitten: Kitten, resources: Resources) -> tuple[Cat, bool]:
    """A stored kitten as a cat the page can show and mix, and whether its code had to be
    encoded again from its picture (another model drew it)."""
    with Image.open(io.BytesIO(kitten.picture)) as image:
        face = image.convert("RGB")
    code = kitten.code
    redrawn = kitten.model != resources.model_digest \
        or code.shape != resources.codes[0].shape
    if redrawn:
        code = resources.mixer.encode(face, find=False)[0]
    parents = tuple(parent_of(parent, resources) for parent in kitten.parents)
    return Cat(key_of(kitten.id), kitten_name(kitten.id), code, face, "kept", parents,
               tuned=bool(kitten.genes), photo=kitten.kind == "upload"), redrawn


def parent_of(parent: StoredParent, resources: Resources) -> Parent:
    """A stored kitten's parent as the page names it."""
    if parent.kind == "gallery":
        key = resources.by_link_id.get(parent.ref)
        cat = resources.by_key.get(key) if key else None
        return Parent(cat.key if cat else "", cat.name if cat else parent.ref, parent.share,
                      "cat" if cat else "unknown")
    if parent.kind == "kitten":
        return Parent(key_of(parent.ref), kitten_name(parent.ref), parent.share)
    return Parent("", "", parent.share, parent.kind)  # "upload" or "withdrawn"


def store_parents(cats: Sequence[Cat], shares: Sequence[float],
                  resources: Resources) -> tuple[StoredParent, ...]:
    """The parents of a kitten mixed from cats in these shares (in proportion), as the store
    takes them: those with a share, in the order given. Gallery cats by their link's id,
    stored kittens by theirs, uploads as unnamed uploads (an upload is never stored unless it
    is kept itself). New kittens must be stored first."""
    from kitten_mixer.store import Parent as StoredParent  # with the store: on first use

    total = float(sum(shares))
    parents = []
    for cat, share in zip(cats, shares):
        if share <= 0:
            continue
        if cat.key in resources.link_ids:
            parents.append(StoredParent("gallery", resources.link_ids[cat.key], share / total))
        elif (kitten_id := id_of(cat.key)) is not None:
            parents.append(StoredParent("kitten", kitten_id, share / total))
        elif cat.origin == "upload":
            parents.append(StoredParent("upload", "", share / total))
        else:
            raise ValueError(f"{cat.name} must be stored before its kittens")
    return tuple(parents)


def refusals() -> type[StoreError] | tuple[()]:
    """What the kitten store raises when it says no (StoreError), for an `except` clause, which
    asks only once an error is raised: an error the store raised means its package is loaded;
    before the store's first use, nothing matches."""
    errors = sys.modules.get("kitten_mixer.store.errors")
    return errors.StoreError if errors is not None else ()


def failure_of(error: StoreError) -> str:
    """What the page calls a refusal of the store (the key of its note, "store_<what>")."""
    from kitten_mixer.store import RateLimited, StoreDown, StoreFull  # loaded: it raised

    for kind, what in ((RateLimited, "rate"), (StoreFull, "full"), (StoreDown, "down")):
        if isinstance(error, kind):
            return what
    return "refused"
