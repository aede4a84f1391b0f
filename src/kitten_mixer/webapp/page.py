"""What every part of the page shares: texts in the visitor's language, the cats' pictures and
their captions, downloads, a part whose error never reaches the page as a traceback, what the
visitor's actions left to say, the page's link, and the visitor's token in their browser's
cookie. What a visitor has and does is visitor.py's: these draw it."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import streamlit as st

from kitten_mixer.images import enlarge, png_bytes
from kitten_mixer.webapp import core, share, stored
from kitten_mixer.webapp.family import parents_line
from kitten_mixer.webapp.texts import text
from kitten_mixer.webapp.visitor import Notes, Visitor, language_of

if TYPE_CHECKING:  # the store loads with its first use (stored.py)
    from kitten_mixer.store import StoreError

# A year: the visitor's kittens are theirs again on every visit from that browser.
COOKIE_DAYS = 365

log = logging.getLogger("kitten_mixer.app")


def t(key: str, **values: object) -> str:
    """The text `key` in the visitor's language."""
    return text(key, language_of(st.session_state), **values)


def face_png(resources: core.Resources, cat: core.Cat) -> bytes:
    """A cat's face, enlarged, as a PNG: the gallery's encoded once per server."""
    return resources.pngs.get(cat.key) or _own_png(resources.key, cat.digest, cat.key, cat)


@st.cache_data(show_spinner=False, max_entries=2048)
def _own_png(resources_key: tuple[str, str], digest: str, key: str, _cat: core.Cat) -> bytes:
    """A visitor's cat's face as a PNG: filed under the model (which draws kept kittens), the
    code and the cat (a stored kitten is shown from its own picture)."""
    return png_bytes(enlarge(_cat.face, core.ZOOM))


def unnamed() -> dict[str, str]:
    """What a family calls a parent that is no cat to show, by its kind."""
    return {kind: t(f"parent_{kind}") for kind in ("upload", "withdrawn", "unknown")}


def lineage(cat: core.Cat) -> str:
    """What a cat's card says of where it comes from: a kept kitten's parents and shares, or
    its kind; "" for a gallery cat."""
    if cat.origin == "kept":
        return parents_line(cat, t("tuned"), unnamed()) \
            or t("kind_photo" if cat.photo else "kind_kitten")
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
    if notes.link:
        st.warning(t(notes.link))
    if notes.store:
        st.error(t(f"store_{notes.store}"))
    if notes.failure:
        st.error(t("failure", what=notes.failure))
    if notes.redrawn:
        st.info(t("redrawn"))
    if notes.kept:
        st.toast(t("kept", name=notes.kept))
    if notes.deleted:
        st.toast(t("deleted", name=notes.deleted))


def store_failure(error: StoreError) -> None:
    """Say in place, in one line, that the store said no to what this part of the page reads."""
    log.warning("the kitten store: %s", error)
    st.warning(t(f"store_{stored.failure_of(error)}"))


def rerun_the_page_after_an_action(visitor: Visitor) -> None:
    """In a fragment's own run: a kitten kept there joins the gallery, and an error is said at
    the top, so the whole page runs again. (A whole page run has announced them already.)"""
    if visitor.has_news():
        st.rerun()


def open_link(visitor: Visitor) -> None:
    """On a visitor's first page run, bring back the kittens they kept on earlier visits (a
    browser with their token) and show what the page's link holds; a bad link opens the plain
    page with a one-line note. A store that cannot answer leaves a note, and the link stays in
    the address bar (a reload tries again) until the visitor chooses a cat."""
    if not visitor.first_run():
        return
    try:
        visitor.read_mine()
    except stored.refusals() as e:
        visitor.note_store_failure(e)
    try:
        note = share.open_link(st.query_params.to_dict(), visitor)
    except stored.refusals() as e:
        visitor.note_store_failure(e)
        visitor.hold_link()
        return
    if note is not None:
        visitor.note_bad_link(note)


def update_link(visitor: Visitor) -> None:
    """Make the page's link hold what the page shows."""
    if visitor.link_held():
        return
    params = share.link(visitor)
    if params != st.query_params.to_dict():
        st.query_params.from_dict(params)


def cookie_token() -> str | None:
    """The token the visitor's browser brought in its cookie (read when the page connected)."""
    return st.context.cookies.get(stored.COOKIE)


def remember_the_visitor(visitor: Visitor, cookie: str | None) -> None:
    """Once the visitor has a token (their first keep made one) that their browser's cookie
    does not hold, give it to the browser: their kittens are theirs on their next visits. A
    cookie that holds a token already is left alone (another tab made it first). The token
    goes in this cookie only, never in a link."""
    token = visitor.token
    if token is None or token == cookie or not stored.is_token(token):
        return
    script = (
        "<script>(() => {"
        f"const name = '{stored.COOKIE}';"
        "const held = document.cookie.split('; ').find(c => c.startsWith(name + '='));"
        "if (held && /^[A-Za-z0-9_-]{32}$/.test(held.slice(name.length + 1))) return;"
        f"document.cookie = name + '={token}; path=/; max-age={COOKIE_DAYS * 86400}; "
        "SameSite=Lax' + (location.protocol === 'https:' ? '; Secure' : '');"
        "})()</script>")
    st.html(script, unsafe_allow_javascript=True)
