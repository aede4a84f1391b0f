"""The Kitten Mixer web app. Start it with `kitten-mixer app` (it runs this script in Streamlit).

Layout and widgets only. The model, the gallery and its map are loaded once per server
(st.cache_resource), and so is the kitten store, on first use; each visitor's choices,
settings, uploads and new kittens live in that visitor's session, their kept kittens in the
store under the token their browser keeps in a cookie, all read and changed through a
`Visitor` (visitor.py), and the page's link always holds what it shows (share.py). Settings
come from the environment, which `kitten-mixer app` fills in: KITTEN_MIXER_MODEL (a
saved-model folder, default: the shipped model), KITTEN_MIXER_GALLERY (a folder or zip of
photos, default: the gallery embedded with the model), KITTEN_MIXER_DB (the store's URL) and
KITTEN_MIXER_DATA (the folder of the default SQLite store). The breeding tools (blend, genes)
are drawn by breeding.py, the nursery and the visitor's kittens by kittens.py, the uploads
(and framing a face by hand) by upload_panel.py.
"""

from __future__ import annotations

import gc
import logging
import os
from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from kitten_mixer.images import png_bytes
from kitten_mixer.morph import DEFAULT_METHOD, METHODS, MIN_STEPS
from kitten_mixer.webapp import breeding, core, kittens, share, upload_panel
from kitten_mixer.webapp.page import (
    announce,
    cookie_token,
    face_png,
    later,
    lineage,
    never_a_traceback,
    open_link,
    remember_the_visitor,
    t,
    update_link,
)
from kitten_mixer.webapp.texts import LANGUAGES, text
from kitten_mixer.webapp.visitor import RATIO_STEP, Key, Notes, Visitor

if TYPE_CHECKING:
    from kitten_mixer.store import KittenStore

log = logging.getLogger("kitten_mixer.app")

PER_PAGE = 15
COLUMNS = 5
KITTENS_PER_DRAW = 5
# Map frames: gallery, upload, new kitten, kept kitten, chosen.
KINDS = ("gallery", "upload", "kitten", "kept", "chosen")
KIND_COLOURS = ["#9ecae9", "#2ca02c", "#ff7f0e", "#9467bd", "#d62728"]


@st.cache_resource(show_spinner="Cargando los gatos… / Loading the cats…")
def _resources(model: str | None, gallery: str | None) -> core.Resources:
    resources = core.load_resources(model, gallery)
    # Streamlit collects garbage after every page run: with torch and the model loaded, a
    # quarter of a million objects, 100 to 200 ms a run, more than the run itself. What is
    # loaded by now lives as long as the server, so the collector can leave it out.
    gc.freeze()
    return resources


@st.cache_resource(show_spinner=False)
def _store(url: str | None, folder: str | None) -> KittenStore:
    """The kitten store, opened on the first page run that needs it (a keep, a stored kitten's
    link, a returning visitor, the nursery), once per server; a failed opening is tried again
    on the next. Its package, and SQLAlchemy, load then too, not with the first page."""
    from kitten_mixer.store import KittenStore

    return KittenStore.open(url, folder)


def open_store() -> KittenStore:
    return _store(os.environ.get("KITTEN_MIXER_DB") or None,
                  os.environ.get("KITTEN_MIXER_DATA") or None)


@st.cache_data(show_spinner=False, max_entries=512)
def _morph_files(resources_key: tuple[str, str], digest_a: str, digest_b: str, steps: int,
                 method: str, _resources: core.Resources, _a: core.Cat, _b: core.Cat
                 ) -> tuple[list[bytes], bytes, bytes]:
    """PNGs of cat A's face, the steps and cat B's face; the GIF; the strip. Filed under the
    resources' key and the codes' digests, so the same two cats give every visitor the same
    files, computed once."""
    morph = core.morph(_resources, _a, _b, steps, method).enlarged(core.ZOOM)
    return morph.pngs(), morph.gif(), png_bytes(morph.strip())


# ---- the page -----------------------------------------------------------------------------------

def sidebar(visitor: Visitor, notes: Notes) -> tuple[int, str]:
    resources = visitor.resources
    with st.sidebar:
        st.radio("Idioma / Language", list(LANGUAGES), format_func=LANGUAGES.get,
                 key=Key.LANGUAGE, horizontal=True)
        st.header(t("settings"))
        # No default values here: the session holds them (Visitor), set by a link or by the
        # visitor.
        steps = st.slider(t("steps"), MIN_STEPS, core.MAX_STEPS, help=t("steps_help"),
                          key=Key.STEPS)
        language = visitor.language  # bound now: labels are formatted later too
        # The index too: without it, the browser loses the choice when the labels change
        # language.
        method = st.radio(t("method"), METHODS, index=METHODS.index(DEFAULT_METHOD),
                          format_func=lambda m: text(m, language), help=t("method_help"),
                          key=Key.METHOD, horizontal=True)
        st.header(t("upload"))
        files = st.file_uploader(t("upload_label"), type=["jpg", "jpeg", "png", "webp"],
                                 accept_multiple_files=True, help=t("upload_help"),
                                 key="uploader")
        find = st.checkbox(t("find_face"), value=True, help=t("find_face_help"), key="find_face")
        upload_panel.uploads(visitor, files or [], find)
        st.header(t("kittens"))
        st.button(t("kittens_button"), on_click=visitor.act,
                  args=(visitor.draw_kittens, KITTENS_PER_DRAW), help=t("kittens_help"),
                  key="kittens", disabled=not resources.can_sample)
        if not resources.can_sample:
            st.caption(t("no_sampler"))
        if notes.kittens:
            st.success(t("kittens_added", n=KITTENS_PER_DRAW))
        st.caption(t("about", model=resources.mixer.folder.name if resources.mixer.folder
                     else "?", gallery=t("embedded") if resources.source == "embedded"
                     else resources.source))
    return steps, method


def chosen_cats(visitor: Visitor) -> None:
    st.subheader(t("chosen"))
    chosen = visitor.chosen_cats()
    columns = st.columns(6)
    for column, cat in zip(columns, chosen):
        with column:
            st.image(face_png(visitor.resources, cat), caption=cat.name, output_format="PNG")
            if line := lineage(cat):
                st.caption(line)
            st.button(t("remove"), key=f"remove-{cat.key}", on_click=visitor.remove,
                      args=(cat.key,))
    if len(chosen) < 2:
        st.info(t("choose_hint") if not chosen else t("choose_one_more"))
    if not share.can_travel(visitor.chosen, visitor.resources):
        st.caption(t("link_local"))


def the_morph(visitor: Visitor, a: core.Cat, b: core.Cat, steps: int, method: str) -> None:
    resources = visitor.resources
    pngs, gif, strip = _morph_files(resources.key, a.digest, b.digest, steps, method,
                                    resources, a, b)
    st.subheader(t("morph"))
    captions = [a.name, *(f"{round(100 * i / (steps - 1))}%" for i in range(steps)), b.name]
    for row in range(0, len(pngs), 13):
        columns = st.columns(13)
        for i, column in enumerate(columns[:len(pngs) - row]):
            with column:
                index = row + i
                st.image(pngs[index], caption=captions[index], width="stretch",
                         output_format="PNG")
                st.download_button(t("download"), later(pngs[index]), f"kitten-{index:02d}.png",
                                   "image/png", key=f"png-{index}", help=t("download_help"),
                                   on_click="ignore")
                if 0 < index <= steps:  # the steps, not the two cats' own faces
                    st.button(t("keep_step"), key=f"keep-step-{index - 1}", help=t("keep"),
                              on_click=visitor.act,
                              args=(visitor.keep_step, index - 1, steps, method))
    st.caption(t("keep_step_hint"))
    left, middle, right = st.columns([1, 1, 2])
    with left:
        st.markdown(f"**{t('animation')}**")
        st.image(gif, width=192)
    with middle:
        st.download_button(t("download_gif"), later(gif), "morph.gif", "image/gif", key="gif",
                           on_click="ignore")
        st.download_button(t("download_strip"), later(strip), "morph.png", "image/png",
                           key="strip", on_click="ignore")
    with right:
        st.markdown(f"**{t('mix')}**")
        ratio = st.slider(t("mix_ratio"), 0, 100, step=RATIO_STEP, format="%d%%",
                          key=Key.RATIO)
        shares = (100 - ratio, ratio)  # the mix slider's kitten is the two cats' blend
        kitten = breeding.blend_png(resources.key, (a.digest, b.digest), shares, method,
                                    resources, (a, b))
        st.image(kitten, caption=t("mix_caption", a=100 - ratio, b=ratio), output_format="PNG")
        keep, download = st.columns(2)
        keep.button(t("keep"), key="keep-mix", on_click=visitor.act,
                    args=(visitor.keep_blend, shares, method))
        download.download_button(t("download_mix"), later(kitten), f"mix-{ratio}.png",
                                 "image/png", key="mix-png", on_click="ignore")


def gallery(visitor: Visitor) -> None:
    page = visitor.gallery_page(PER_PAGE)
    if visitor.full:
        st.caption(t("all_chosen"))
    for row in range(0, len(page.cats), COLUMNS):
        for column, cat in zip(st.columns(COLUMNS), page.cats[row:row + COLUMNS]):
            with column:
                st.image(face_png(visitor.resources, cat), caption=cat.name, width="stretch",
                         output_format="PNG")
                if line := lineage(cat):
                    st.caption(line)
                st.button(t("select"), key=f"select-{cat.key}", on_click=visitor.choose,
                          args=(cat.key,), disabled=not visitor.can_choose(cat.key),
                          width="stretch")
                if cat.origin in ("kitten", "upload"):
                    st.button(t("keep" if cat.origin == "kitten" else "keep_own"),
                              key=f"keep-{cat.key}", width="stretch", on_click=visitor.act,
                              args=(visitor.keep_own, cat.key))
    previous, where, following = st.columns([1, 2, 1])
    previous.button(t("previous"), key="previous", on_click=visitor.turn_page, args=(-1,),
                    disabled=page.number == 0, width="stretch")
    where.markdown("<div style='text-align:center'>"
                   f"{t('page', page=page.number + 1, pages=page.count)}</div>",
                   unsafe_allow_html=True)
    following.button(t("next"), key="next", on_click=visitor.turn_page, args=(1,),
                     disabled=page.number >= page.count - 1, width="stretch")


def latent_map(visitor: Visitor) -> None:
    st.caption(t("map_help"))
    resources = visitor.resources
    chosen = set(visitor.chosen)
    rows = []
    for cat, (x, y) in zip(resources.cats, resources.places):
        rows.append(_map_row(cat, x, y, resources.urls[cat.key], chosen))
    for cat in visitor.own.values():
        x, y = core.place_on_map(resources, cat.code)
        rows.append(_map_row(cat, x, y, _own_url(resources.key, cat.digest, cat.key, cat),
                             chosen))
    kind = t("map_kind")
    kinds = [t(f"kind_{k}") for k in KINDS]
    axis = {"type": "quantitative", "axis": None, "scale": {"domain": [-0.03, 1.03]}}
    spec = {
        "height": 560,
        "layer": [
            {   # under each face, a frame coloured by kind; thick for the chosen ones
                "mark": {"type": "square", "filled": False, "size": 1100},
                "encoding": {"x": {"field": "x", **axis}, "y": {"field": "y", **axis},
                             "color": {"field": "kind", "type": "nominal", "title": kind,
                                       "scale": {"domain": kinds, "range": KIND_COLOURS}},
                             "strokeWidth": {"field": "stroke", "type": "quantitative",
                                             "legend": None, "scale": None}},
            },
            {   # every cat as its own little face: similar cats make visible neighbourhoods
                "params": [{"name": "pick", "select": {"type": "point", "fields": ["key"],
                                                        "on": "click", "clear": False}}],
                "mark": {"type": "image", "width": 30, "height": 30, "cursor": "pointer"},
                "encoding": {"x": {"field": "x", **axis}, "y": {"field": "y", **axis},
                             "url": {"field": "image", "type": "nominal"},
                             "tooltip": [{"field": "image"}, {"field": "name", "title": t("cat")}]},
            },
        ],
    }
    st.vega_lite_chart(pd.DataFrame(rows), spec, key=Key.MAP, on_select=visitor.pick_on_map,
                       selection_mode="pick", width="stretch")


def _map_row(cat: core.Cat, x: float, y: float, url: str, chosen: set[str]) -> dict:
    picked = cat.key in chosen
    return {"x": float(x), "y": float(y), "key": cat.key, "name": cat.name, "image": url,
            "kind": t("kind_chosen") if picked else t(f"kind_{cat.origin}"),
            "stroke": 4 if picked else 1}


@st.cache_data(show_spinner=False, max_entries=2048)
def _own_url(resources_key: tuple[str, str], digest: str, key: str, _cat: core.Cat) -> str:
    return core.data_url(_cat.face)


def main(resources: core.Resources) -> None:
    st.set_page_config(page_title="Kitten Mixer", page_icon="🐱", layout="wide")
    cookie = cookie_token()
    visitor = Visitor(st.session_state, resources, open_store, cookie)
    open_link(visitor)
    notes = visitor.take_notes()
    st.title(t("title"))
    st.write(t("intro"))
    announce(notes)
    steps, method = sidebar(visitor, notes)
    chosen_cats(visitor)
    chosen = visitor.chosen_cats()
    if len(chosen) >= 2:
        the_morph(visitor, *chosen[:2], steps, method)
    if len(chosen) >= 3:
        breeding.blend(visitor)
    if chosen:
        breeding.genes(visitor)
    # Only the open tab runs: the map (120 pictures) costs the browser most, and most page
    # runs happen in the gallery.
    gallery_tab, map_tab, nursery_tab, family_tab = st.tabs(
        [t("gallery"), t("map"), t("nursery"), t("family")], key="view", on_change="rerun")
    if gallery_tab.open:
        with gallery_tab:
            gallery(visitor)
    if map_tab.open:
        with map_tab:
            latent_map(visitor)
    if nursery_tab.open:
        with nursery_tab:
            kittens.nursery(visitor)
    if family_tab.open:
        with family_tab:
            kittens.yours(visitor)
    update_link(visitor)
    with st.sidebar:
        remember_the_visitor(visitor, cookie)


def run() -> None:
    """Load what the server shares (once) and draw the page for this visitor."""
    try:
        resources = _resources(os.environ.get("KITTEN_MIXER_MODEL") or None,
                               os.environ.get("KITTEN_MIXER_GALLERY") or None)
    except Exception as e:  # a broken model or gallery: say so on the page, not a traceback
        log.exception("cannot start")
        st.error(t("start_failure", what=e))
        st.stop()
    never_a_traceback(main)(resources)


run()
