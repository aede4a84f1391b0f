"""The Kitten Mixer web app. Start it with `kitten-mixer app` (it runs this script in Streamlit).

The model, the gallery and its map are loaded once per server (st.cache_resource); each
visitor's choices, uploads and new kittens live in that visitor's session. Settings come from
the environment, which `kitten-mixer app` fills in: KITTEN_MIXER_MODEL (a saved-model folder,
default: the shipped model) and KITTEN_MIXER_GALLERY (a folder or zip of photos, default: the
gallery embedded with the model).
"""

from __future__ import annotations

import logging
import math
import os
import secrets
from collections.abc import Callable

import pandas as pd
import streamlit as st

from kitten_mixer.images import enlarge, gif_bytes, image_grid
from kitten_mixer.mixer import DEFAULT_METHOD, METHODS
from kitten_mixer.webapp import core
from kitten_mixer.webapp.texts import DEFAULT_LANGUAGE, LANGUAGES, TEXTS, text

log = logging.getLogger("kitten_mixer.app")

PER_PAGE = 15
COLUMNS = 5
KITTENS_PER_DRAW = 5
MAX_STEPS = 21
# Map frames: gallery, upload, new kitten, chosen.
KIND_COLOURS = ["#9ecae9", "#2ca02c", "#ff7f0e", "#d62728"]


@st.cache_resource(show_spinner="Cargando los gatos… / Loading the cats…")
def _resources(model: str | None, gallery: str | None) -> core.Resources:
    return core.load_resources(model, gallery)


@st.cache_data(show_spinner=False, max_entries=512)
def _morph_files(code_a: str, code_b: str, steps: int, method: str,
                 _a: core.Cat, _b: core.Cat) -> tuple[list[bytes], bytes, bytes]:
    """PNGs of photo A, the steps and photo B; the GIF; the strip. Filed under the codes'
    digests, so the same two cats give every visitor the same files, computed once."""
    frames = core.morph(RESOURCES, _a, _b, steps, method)
    images = [enlarge(image, core.ZOOM) for image in [_a.face, *frames, _b.face]]
    return ([core.png_bytes(image) for image in images], gif_bytes(images[1:-1]),
            core.png_bytes(image_grid(images, columns=len(images))))


@st.cache_data(show_spinner=False, max_entries=2048)
def _mix_png(code_a: str, code_b: str, percent: int, method: str,
             _a: core.Cat, _b: core.Cat) -> bytes:
    """The single kitten `percent`% of the way from a to b, enlarged, as a PNG."""
    return core.png_bytes(enlarge(core.mix_one(RESOURCES, _a, _b, percent / 100, method), 3))


def t(key: str, **values: object) -> str:
    return text(key, st.session_state.get("language", DEFAULT_LANGUAGE), **values)


# ---- the visitor's state, and what buttons do to it -------------------------------------------

def _start_session() -> None:
    state = st.session_state
    state.setdefault("language", DEFAULT_LANGUAGE)
    state.setdefault("chosen", [])  # keys of up to two cats
    state.setdefault("page", 0)
    state.setdefault("own", {})  # key -> Cat: this visitor's uploads and new kittens
    state.setdefault("uploads", {})  # the uploader's file id -> core.Upload


def _cat(key: str) -> core.Cat | None:
    return st.session_state.own.get(key) or RESOURCES.by_key.get(key)


def choose(key: str) -> None:
    chosen = st.session_state.chosen
    if key not in chosen and len(chosen) < 2 and _cat(key) is not None:
        chosen.append(key)


def remove(key: str) -> None:
    if key in st.session_state.chosen:
        st.session_state.chosen.remove(key)


def turn_page(step: int) -> None:
    st.session_state.page += step


def on_map_click() -> None:
    event = st.session_state.get("map")
    points = (event or {}).get("selection", {}).get("pick", [])
    if points and "key" in points[0]:
        choose(points[0]["key"])


def draw_kittens() -> None:
    seed = secrets.randbelow(2**31)
    try:
        kittens = core.new_kittens(RESOURCES, KITTENS_PER_DRAW, seed)
    except Exception as e:  # a callback's error would reach the page as Streamlit's own box
        log.exception("drawing kittens failed")
        st.session_state.failure = type(e).__name__
        return
    _add_own(kittens)
    st.session_state.last_kittens = len(kittens)


def _add_own(cats: list[core.Cat]) -> None:
    """New cats go first in this visitor's gallery."""
    own = st.session_state.own
    st.session_state.own = {cat.key: cat for cat in cats} | \
        {k: v for k, v in own.items() if k not in {c.key for c in cats}}
    st.session_state.page = 0


def all_cats() -> list[core.Cat]:
    return [*st.session_state.own.values(), *RESOURCES.cats]


def face_png(cat: core.Cat) -> bytes:
    return RESOURCES.pngs.get(cat.key) or _own_png(cat.digest, cat)


@st.cache_data(show_spinner=False, max_entries=2048)
def _own_png(code: str, _cat: core.Cat) -> bytes:
    return core.png_bytes(enlarge(_cat.face, core.ZOOM))


# ---- the page -----------------------------------------------------------------------------------

def sidebar() -> tuple[int, str]:
    with st.sidebar:
        st.radio("Idioma / Language", list(LANGUAGES), format_func=LANGUAGES.get,
                 key="language", horizontal=True)
        st.header(t("settings"))
        steps = st.slider(t("steps"), 3, MAX_STEPS, 11, help=t("steps_help"), key="steps")
        language = st.session_state.language  # bound now: labels are formatted later too
        method = st.radio(t("method"), METHODS, index=METHODS.index(DEFAULT_METHOD),
                          format_func=lambda m: text(m, language), help=t("method_help"),
                          key="method", horizontal=True)
        st.header(t("upload"))
        files = st.file_uploader(t("upload_label"), type=["jpg", "jpeg", "png", "webp"],
                                 accept_multiple_files=True, help=t("upload_help"),
                                 key="uploader")
        read_uploads(files or [])
        st.header(t("kittens"))
        st.button(t("kittens_button"), on_click=draw_kittens, help=t("kittens_help"),
                  key="kittens", disabled=not RESOURCES.can_sample)
        if not RESOURCES.can_sample:
            st.caption(t("no_sampler"))
        if st.session_state.pop("last_kittens", None):
            st.success(t("kittens_added", n=KITTENS_PER_DRAW))
        st.caption(t("about", model=RESOURCES.mixer.folder.name if RESOURCES.mixer.folder
                     else "?", gallery=t("embedded") if RESOURCES.source == "embedded"
                     else RESOURCES.source))
    return steps, method


def read_uploads(files: list) -> None:
    """Turn each new uploaded file into a cat (once per file), and report on every file."""
    seen = st.session_state.uploads
    new = []
    for file in files:
        if file.file_id not in seen:
            seen[file.file_id] = core.read_upload(RESOURCES, file.name, file.getvalue())
            if seen[file.file_id].cat is not None:
                new.append(seen[file.file_id].cat)
    if new:
        _add_own(new)
    for file in files:
        upload = seen[file.file_id]
        if upload.error:
            key = f"err_{upload.error}" if f"err_{upload.error}" in TEXTS else "err_other"
            st.error(t(key, name=upload.name, mb=core.MAX_UPLOAD_MB))
            continue
        st.image(upload.preview, width="stretch")
        if upload.box is None:
            st.warning(t("no_face", name=upload.name))
        else:
            st.caption(t("face_found", name=upload.name))
        chosen = st.session_state.chosen
        st.button(t("select"), key=f"upload-{file.file_id}", on_click=choose,
                  args=(upload.cat.key,),
                  disabled=len(chosen) >= 2 or upload.cat.key in chosen)
    if new:
        st.info(t("upload_added"))


def chosen_cats() -> None:
    st.subheader(t("chosen"))
    chosen = [cat for cat in map(_cat, st.session_state.chosen) if cat is not None]
    columns = st.columns(6)
    for column, cat in zip(columns, chosen):
        with column:
            st.image(face_png(cat), caption=cat.name, output_format="PNG")
            st.button(t("remove"), key=f"remove-{cat.key}", on_click=remove, args=(cat.key,))
    if len(chosen) < 2:
        st.info(t("choose_hint") if not chosen else t("choose_one_more"))


def _later(data: bytes) -> Callable[[], bytes]:
    """Download data handed over only when the button is clicked: 16 buttons then add no
    files to a page run, and a page replaced under a slow browser has none to go missing."""
    return lambda: data


def the_morph(steps: int, method: str) -> None:
    a, b = (_cat(key) for key in st.session_state.chosen)
    pngs, gif, strip = _morph_files(a.digest, b.digest, steps, method, a, b)
    st.subheader(t("morph"))
    captions = [a.name, *(f"{round(100 * i / (steps - 1))}%" for i in range(steps)), b.name]
    for row in range(0, len(pngs), 13):
        columns = st.columns(13)
        for i, column in enumerate(columns[:len(pngs) - row]):
            with column:
                index = row + i
                st.image(pngs[index], caption=captions[index], width="stretch",
                         output_format="PNG")
                st.download_button(t("download"), _later(pngs[index]), f"kitten-{index:02d}.png",
                                   "image/png", key=f"png-{index}", help=t("download_help"),
                                   on_click="ignore")
    left, middle, right = st.columns([1, 1, 2])
    with left:
        st.markdown(f"**{t('animation')}**")
        st.image(gif, width=192)
    with middle:
        st.download_button(t("download_gif"), _later(gif), "morph.gif", "image/gif", key="gif",
                           on_click="ignore")
        st.download_button(t("download_strip"), _later(strip), "morph.png", "image/png",
                           key="strip", on_click="ignore")
    with right:
        st.markdown(f"**{t('mix')}**")
        ratio = st.slider(t("mix_ratio"), 0, 100, 50, step=5, format="%d%%", key="ratio")
        kitten = _mix_png(a.digest, b.digest, ratio, method, a, b)
        st.image(kitten, caption=t("mix_caption", a=100 - ratio, b=ratio), output_format="PNG")
        st.download_button(t("download_mix"), _later(kitten), f"mix-{ratio}.png",
                           "image/png", key="mix-png", on_click="ignore")


def gallery() -> None:
    cats = all_cats()
    pages = max(1, math.ceil(len(cats) / PER_PAGE))
    page = st.session_state.page = min(max(st.session_state.page, 0), pages - 1)
    full = len(st.session_state.chosen) >= 2
    if full:
        st.caption(t("two_chosen"))
    shown = cats[page * PER_PAGE:(page + 1) * PER_PAGE]
    for row in range(0, len(shown), COLUMNS):
        for column, cat in zip(st.columns(COLUMNS), shown[row:row + COLUMNS]):
            with column:
                st.image(face_png(cat), caption=cat.name, width="stretch",
                         output_format="PNG")
                st.button(t("select"), key=f"select-{cat.key}", on_click=choose,
                          args=(cat.key,), disabled=full or cat.key in st.session_state.chosen,
                          width="stretch")
    previous, where, following = st.columns([1, 2, 1])
    previous.button(t("previous"), key="previous", on_click=turn_page, args=(-1,),
                    disabled=page == 0, width="stretch")
    where.markdown(f"<div style='text-align:center'>{t('page', page=page + 1, pages=pages)}"
                   "</div>", unsafe_allow_html=True)
    following.button(t("next"), key="next", on_click=turn_page, args=(1,),
                     disabled=page >= pages - 1, width="stretch")


def latent_map() -> None:
    st.caption(t("map_help"))
    chosen = set(st.session_state.chosen)
    rows = []
    for cat, (x, y) in zip(RESOURCES.cats, RESOURCES.places):
        rows.append(_map_row(cat, x, y, RESOURCES.urls[cat.key], chosen))
    for cat in st.session_state.own.values():
        x, y = core.place_on_map(RESOURCES, cat.code)
        rows.append(_map_row(cat, x, y, _own_url(cat.digest, cat), chosen))
    kind = t("map_kind")
    kinds = [t(f"kind_{k}") for k in ("gallery", "upload", "kitten", "chosen")]
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
    st.vega_lite_chart(pd.DataFrame(rows), spec, key="map", on_select=on_map_click,
                       selection_mode="pick", width="stretch")


def _map_row(cat: core.Cat, x: float, y: float, url: str, chosen: set[str]) -> dict:
    picked = cat.key in chosen
    return {"x": float(x), "y": float(y), "key": cat.key, "name": cat.name, "image": url,
            "kind": t("kind_chosen") if picked else t(f"kind_{cat.origin}"),
            "stroke": 4 if picked else 1}


@st.cache_data(show_spinner=False, max_entries=2048)
def _own_url(code: str, _cat: core.Cat) -> str:
    return core.data_url(_cat.face)


def main() -> None:
    st.set_page_config(page_title="Kitten Mixer", page_icon="🐱", layout="wide")
    _start_session()
    st.title(t("title"))
    st.write(t("intro"))
    if failure := st.session_state.pop("failure", None):
        st.error(t("failure", what=failure))
    steps, method = sidebar()
    chosen_cats()
    if len(st.session_state.chosen) == 2:
        the_morph(steps, method)
    # Only the open tab runs: the map (120 pictures) costs the browser most, and most page
    # runs happen in the gallery.
    gallery_tab, map_tab = st.tabs([t("gallery"), t("map")], key="view", on_change="rerun")
    if gallery_tab.open:
        with gallery_tab:
            gallery()
    if map_tab.open:
        with map_tab:
            latent_map()


try:
    RESOURCES = _resources(os.environ.get("KITTEN_MIXER_MODEL") or None,
                           os.environ.get("KITTEN_MIXER_GALLERY") or None)
except Exception as e:  # a broken model or gallery: say so on the page, not as a traceback
    log.exception("cannot start")
    st.error(text("start_failure", st.session_state.get("language", DEFAULT_LANGUAGE),
                  what=e))
    st.stop()

try:
    main()
except Exception as e:  # never a traceback in the visitor's page
    if type(e).__module__.startswith("streamlit"):  # st.stop / st.rerun control flow
        raise
    log.exception("the page failed")
    st.error(t("failure", what=type(e).__name__))
