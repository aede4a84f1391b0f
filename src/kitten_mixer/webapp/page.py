"""What every part of the page shares: texts in the visitor's language, the cats' pictures and
their captions, downloads, a part whose error never reaches the page as a traceback, what the
visitor's actions left to say, and the page's link. What a visitor has and does is visitor.py's:
these draw it."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import streamlit as st

from kitten_mixer.images import enlarge, png_bytes
from kitten_mixer.webapp import core, share
from kitten_mixer.webapp.family import parents_line
from kitten_mixer.webapp.texts import text
from kitten_mixer.webapp.visitor import Notes, Visitor, language_of

log = logging.getLogger("kitten_mixer.app")


def t(key: str, **values: object) -> str:
    """The text `key` in the visitor's language."""
    return text(key, language_of(st.session_state), **values)


def face_png(resources: core.Resources, cat: core.Cat) -> bytes:
    """A cat's face, enlarged, as a PNG: the gallery's encoded once per server."""
    return resources.pngs.get(cat.key) or _own_png(resources.key, cat.digest, cat)


@st.cache_data(show_spinner=False, max_entries=2048)
def _own_png(resources_key: tuple[str, str], digest: str, _cat: core.Cat) -> bytes:
    """A visitor's cat's face as a PNG: filed under the model (which draws kept kittens) and
    the code."""
    return png_bytes(enlarge(_cat.face, core.ZOOM))


def lineage(cat: core.Cat) -> str:
    """What a cat's card says of where it comes from: a kept kitten's parents and shares, or
    its kind; "" for a gallery cat."""
    if cat.origin == "kept":
        return parents_line(cat, t("tuned")) or t("kind_kitten")
    return "" if cat.origin == "gallery" else t(f"kind_{cat.origin}")


def later(data: bytes) -> Callable[[], bytes]:
    """Download data handed over only when the button is clicked: many buttons then add no
    files to a page run, and a page replaced under a slow browser has none to go missing."""
    return lambda: data


def never_a_traceback(draw: Callable[..., None]) -> Callable[..., None]:
    """A part of the page whose error becomes a one-line message instead of a traceback
    (Streamlit's own control flow, st.rerun and st.stop, passes through)."""

    @functools.wraps(draw)
    def drawn(*args: Any, **kwargs: Any) -> None:
        try:
            draw(*args, **kwargs)
        except Exception as e:
            if type(e).__module__.startswith("streamlit"):
                raise
            log.exception("%s failed", draw.__name__)
            st.error(t("failure", what=type(e).__name__))

    return drawn


def announce(notes: Notes) -> None:
    """What the visitor's actions left for this page run, and a link that could not be shown."""
    if notes.link_bad:
        st.warning(t("link_bad"))
    if notes.failure:
        st.error(t("failure", what=notes.failure))
    if notes.kept:
        st.toast(t("kept", name=notes.kept))


def rerun_the_page_after_an_action(visitor: Visitor) -> None:
    """In a fragment's own run: a kitten kept there joins the gallery, and an error is said at
    the top, so the whole page runs again. (A whole page run has announced them already.)"""
    if visitor.has_news():
        st.rerun()


def open_link(visitor: Visitor) -> None:
    """On a visitor's first page run, show what the page's link holds; a bad link opens the
    plain page with a one-line note (`link_bad`)."""
    if visitor.first_run() and not share.open_link(st.query_params.to_dict(), visitor):
        visitor.note_bad_link()


def update_link(visitor: Visitor) -> None:
    """Make the page's link hold what the page shows."""
    params = share.link(visitor)
    if params != st.query_params.to_dict():
        st.query_params.from_dict(params)
