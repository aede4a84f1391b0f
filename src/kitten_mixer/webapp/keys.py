"""The keys of a visitor's state (Streamlit's session): every one is named here, and read or
written only by a `Visitor` (visitor.py) and the own cats it inherits (own.py). The page asks
a `Visitor` and gives its widgets these names; a widget whose value the page takes from the
widget itself (a button, the uploader, the tabs) keeps a key of the page's own."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kitten_mixer.webapp.texts import DEFAULT_LANGUAGE


class Key:
    """The keys of a visitor's state. Those marked "widget" are also the keys of the widgets
    that show and set the value."""

    LANGUAGE = "language"  # widget: "es" or "en"
    CHOSEN = "chosen"  # keys of up to MAX_CHOSEN cats, in the order chosen
    PAGE = "page"  # the gallery's page, from 0
    OWN = "own"  # key -> Cat: this visitor's uploads, new and kept kittens, newest first
    UPLOADS = "uploads"  # "<the uploader's file id>:face|centre" -> Upload
    STEPS = "steps"  # widget: the morph's steps
    METHOD = "method"  # widget: the morph's interpolation (the radio keeps its own default)
    RATIO = "ratio"  # widget: the mix slider, percent of the second cat
    TUNE = "tune"  # widget: whether the genes' panel is open
    TUNE_CAT = "tune-cat"  # widget: the key of the chosen cat the genes tune
    MAP = "map"  # widget: the latent map's selection event
    LINK_OPENED = "link_opened"  # whether the page's link was read (on the first page run)
    LINK_HELD = "link_held"  # the link's kittens could not be read: the page keeps its link
    # The kitten store.
    TOKEN = "token"  # the visitor's token: their browser's cookie, or made at their first keep
    MINE_READ = "mine_read"  # whether the visitor's stored kittens were read on this visit
    OTHERS = "others"  # key -> Cat: stored kittens of others chosen or opened in a link
    STORED_AS = "stored_as"  # the key of a kept upload or new kitten -> its key in the store
    NURSERY_ORDER = "nursery_order"  # widget: "newest" or "most_bred"
    NURSERY_PAGE = "nursery_page"  # the nursery's page, from 0
    MINE_PAGE = "mine_page"  # the page of "Your kittens", from 0
    # Notes for the next page run, taken once (Visitor.take_notes).
    FAILURE = "failure"  # the name of the error an action raised
    STORE_FAILURE = "store_failure"  # what the store said no with: "down", "full", "rate"...
    LAST_KEPT = "last_kept"  # the name of the kitten an action kept
    LAST_KITTENS = "last_kittens"  # how many new kittens were drawn
    LINK_BAD = "link_bad"  # a cat could not be shown: "link_bad", "link_gone", "kitten_gone"
    REDRAWN = "redrawn"  # a stored kitten drawn by another model was encoded again
    DELETED = "deleted"  # the name of the kitten an action deleted

    @staticmethod
    def share(i: int) -> str:
        """Widget: the blend's share slider of the chosen cat number i (from 0)."""
        return f"share-{i}"

    @staticmethod
    def gene(i: int) -> str:
        """Widget: the slider of gene number i (from 0)."""
        return f"gene-{i}"

    @staticmethod
    def upload(file_id: str, find: bool = True) -> str:
        """An upload's key among UPLOADS: its file read around the face found, or its centre."""
        return f"{file_id}:{'face' if find else 'centre'}"

    @staticmethod
    def framing(file_id: str) -> str:
        """Widget: whether the panel that frames an upload's face by hand is open."""
        return f"framing-{file_id}"

    @staticmethod
    def frame(file_id: str, part: str) -> str:
        """Widget: the slider of one part ("x", "y", "side", "angle") of the square framed by
        hand over an upload's photo (x, y and side in percent, the angle in degrees)."""
        return f"frame-{part}-{file_id}"

    @staticmethod
    def public(kitten_id: str) -> str:
        """Widget: the toggle that shows one of the visitor's kittens in the nursery."""
        return f"public-{kitten_id}"


def language_of(state: Mapping[str, Any]) -> str:
    """The language of a visitor's page, read from their state."""
    return state.get(Key.LANGUAGE, DEFAULT_LANGUAGE)
