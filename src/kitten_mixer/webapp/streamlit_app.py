"""The Kitten Mixer web app. Start it with `kitten-mixer app` (it runs this script in Streamlit).

The model, the gallery and its map are loaded once per server (st.cache_resource); each
visitor's choices, uploads and new kittens live in that visitor's session. Settings come from
the environment, which `kitten-mixer app` fills in: KITTEN_MIXER_MODEL (a saved-model folder,
default: the shipped model) and KITTEN_MIXER_GALLERY (a folder or zip of photos, default: the
gallery embedded with the model).
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable

import pandas as pd
import streamlit as st

from kitten_mixer.images import enlarge, png_bytes
from kitten_mixer.morph import DEFAULT_METHOD, METHODS, MIN_STEPS
from kitten_mixer.webapp import core
from kitten_mixer.webapp.texts import DEFAULT_LANGUAGE, LANGUAGES, TEXTS, text
from kitten_mixer.webapp.visitor import MAX_CHOSEN, Visitor

log = logging.getLogger("kitten_mixer.app")

PER_PAGE = 15
COLUMNS = 5
KITTENS_PER_DRAW = 5
MAX_STEPS = 21
MIX_ZOOM = 3  # the single kitten is drawn larger than the morph's
# Map frames: gallery, upload, new kitten, chosen.
KIND_COLOURS = ["#9ecae9", "#2ca02c", "#ff7f0e", "#d62728"]


@st.cache_resource(show_spinner="Cargando los gatos… / Loading the cats…")
def _resources(model: str | None, gallery: str | None) -> core.Resources:
    return core.load_resources(model, gallery)


@st.cache_data(show_spinner=False, max_entries=512)
def _morph_files(resources_key: tuple[str, str], digest_a: str, digest_b: str, steps: int,
                 method: str, _resources: core.Resources, _a: core.Cat, _b: core.Cat
                 ) -> tuple[list[bytes], bytes, bytes]:
    """PNGs of cat A's face, the steps and cat B's face; the GIF; the strip. Filed under the
    resources' key and the codes' digests, so the same two cats give every visitor the same
    files, computed once."""
    morph = core.morph(_resources, _a, _b, steps, method).enlarged(core.ZOOM)
    return morph.pngs(), morph.gif(), png_bytes(morph.strip())


@st.cache_data(show_spinner=False, max_entries=2048)
def _mix_png(resources_key: tuple[str, str], digest_a: str, digest_b: str, percent: int,
             method: str, _resources: core.Resources, _a: core.Cat, _b: core.Cat) -> bytes:
    """The single kitten `percent`% of the way from a to b, enlarged, as a PNG."""
    kitten = core.mix_one(_resources, _a, _b, percent / 100, method)
    return png_bytes(enlarge(kitten, MIX_ZOOM))


def t(key: str, **values: object) -> str:
    return text(key, st.session_state.get("language", DEFAULT_LANGUAGE), **values)


def draw_kittens(visitor: Visitor) -> None:
    try:
        kittens = visitor.draw_kittens(KITTENS_PER_DRAW, secrets.randbelow(2**31))
    except Exception as e:  # a callback's error would reach the page as Streamlit's own box
        log.exception("drawing kittens failed")
        st.session_state.failure = type(e).__name__
        return
    st.session_state.last_kittens = len(kittens)


def face_png(cat: core.Cat) -> bytes:
    return RESOURCES.pngs.get(cat.key) or _own_png(cat.digest, cat)


@st.cache_data(show_spinner=False, max_entries=2048)
def _own_png(digest: str, _cat: core.Cat) -> bytes:
    return png_bytes(enlarge(_cat.face, core.ZOOM))


# ---- the page -----------------------------------------------------------------------------------

def sidebar(visitor: Visitor) -> tuple[int, str]:
    with st.sidebar:
        st.radio("Idioma / Language", list(LANGUAGES), format_func=LANGUAGES.get,
                 key="language", horizontal=True)
        st.header(t("settings"))
        steps = st.slider(t("steps"), MIN_STEPS, MAX_STEPS, 11, help=t("steps_help"),
                          key="steps")
        language = st.session_state.language  # bound now: labels are formatted later too
        method = st.radio(t("method"), METHODS, index=METHODS.index(DEFAULT_METHOD),
                          format_func=lambda m: text(m, language), help=t("method_help"),
                          key="method", horizontal=True)
        st.header(t("upload"))
        files = st.file_uploader(t("upload_label"), type=["jpg", "jpeg", "png", "webp"],
                                 accept_multiple_files=True, help=t("upload_help"),
                                 key="uploader")
        uploads(visitor, files or [])
        st.header(t("kittens"))
        st.button(t("kittens_button"), on_click=draw_kittens, args=(visitor,),
                  help=t("kittens_help"), key="kittens", disabled=not RESOURCES.can_sample)
        if not RESOURCES.can_sample:
            st.caption(t("no_sampler"))
        if st.session_state.pop("last_kittens", None):
            st.success(t("kittens_added", n=KITTENS_PER_DRAW))
        st.caption(t("about", model=RESOURCES.mixer.folder.name if RESOURCES.mixer.folder
                     else "?", gallery=t("embedded") if RESOURCES.source == "embedded"
                     else RESOURCES.source))
    return steps, method


def uploads(visitor: Visitor, files: list) -> None:
    """Every uploaded file: its photo with the face found, or why it cannot be used."""
    taken, added = visitor.take_uploads(files)
    for file_id, upload in taken:
        if upload.error:
            key = f"err_{upload.error}" if f"err_{upload.error}" in TEXTS else "err_other"
            st.error(t(key, name=upload.name, mb=core.MAX_UPLOAD_MB))
            continue
        st.image(upload.preview, width="stretch")
        if upload.box is None:
            st.warning(t("no_face", name=upload.name))
        else:
            st.caption(t("face_found", name=upload.name))
        st.button(t("select"), key=f"upload-{file_id}", on_click=visitor.choose,
                  args=(upload.cat.key,), disabled=not visitor.can_choose(upload.cat.key))
    if added:
        st.info(t("upload_added"))


def chosen_cats(visitor: Visitor) -> None:
    st.subheader(t("chosen"))
    chosen = visitor.chosen_cats()
    columns = st.columns(6)
    for column, cat in zip(columns, chosen):
        with column:
            st.image(face_png(cat), caption=cat.name, output_format="PNG")
            st.button(t("remove"), key=f"remove-{cat.key}", on_click=visitor.remove,
                      args=(cat.key,))
    if len(chosen) < MAX_CHOSEN:
        st.info(t("choose_hint") if not chosen else t("choose_one_more"))


def _later(data: bytes) -> Callable[[], bytes]:
    """Download data handed over only when the button is clicked: 16 buttons then add no
    files to a page run, and a page replaced under a slow browser has none to go missing."""
    return lambda: data


def the_morph(a: core.Cat, b: core.Cat, steps: int, method: str) -> None:
    pngs, gif, strip = _morph_files(RESOURCES.key, a.digest, b.digest, steps, method,
                                    RESOURCES, a, b)
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
        kitten = _mix_png(RESOURCES.key, a.digest, b.digest, ratio, method, RESOURCES, a, b)
        st.image(kitten, caption=t("mix_caption", a=100 - ratio, b=ratio), output_format="PNG")
        st.download_button(t("download_mix"), _later(kitten), f"mix-{ratio}.png",
                           "image/png", key="mix-png", on_click="ignore")


def gallery(visitor: Visitor) -> None:
    page = visitor.gallery_page(PER_PAGE)
    if visitor.full:
        st.caption(t("two_chosen"))
    for row in range(0, len(page.cats), COLUMNS):
        for column, cat in zip(st.columns(COLUMNS), page.cats[row:row + COLUMNS]):
            with column:
                st.image(face_png(cat), caption=cat.name, width="stretch",
                         output_format="PNG")
                st.button(t("select"), key=f"select-{cat.key}", on_click=visitor.choose,
                          args=(cat.key,), disabled=not visitor.can_choose(cat.key),
                          width="stretch")
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
    chosen = set(visitor.chosen)
    rows = []
    for cat, (x, y) in zip(RESOURCES.cats, RESOURCES.places):
        rows.append(_map_row(cat, x, y, RESOURCES.urls[cat.key], chosen))
    for cat in visitor.own.values():
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
    st.vega_lite_chart(pd.DataFrame(rows), spec, key="map",
                       on_select=lambda: visitor.pick_on_map(st.session_state.get("map")),
                       selection_mode="pick", width="stretch")


def _map_row(cat: core.Cat, x: float, y: float, url: str, chosen: set[str]) -> dict:
    picked = cat.key in chosen
    return {"x": float(x), "y": float(y), "key": cat.key, "name": cat.name, "image": url,
            "kind": t("kind_chosen") if picked else t(f"kind_{cat.origin}"),
            "stroke": 4 if picked else 1}


@st.cache_data(show_spinner=False, max_entries=2048)
def _own_url(digest: str, _cat: core.Cat) -> str:
    return core.data_url(_cat.face)


def main() -> None:
    st.set_page_config(page_title="Kitten Mixer", page_icon="🐱", layout="wide")
    visitor = Visitor(st.session_state, RESOURCES)
    st.title(t("title"))
    st.write(t("intro"))
    if failure := st.session_state.pop("failure", None):
        st.error(t("failure", what=failure))
    steps, method = sidebar(visitor)
    chosen_cats(visitor)
    if len(chosen := visitor.chosen_cats()) == MAX_CHOSEN:
        the_morph(*chosen, steps, method)
    # Only the open tab runs: the map (120 pictures) costs the browser most, and most page
    # runs happen in the gallery.
    gallery_tab, map_tab = st.tabs([t("gallery"), t("map")], key="view", on_change="rerun")
    if gallery_tab.open:
        with gallery_tab:
            gallery(visitor)
    if map_tab.open:
        with map_tab:
            latent_map(visitor)


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
