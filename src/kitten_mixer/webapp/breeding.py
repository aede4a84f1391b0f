"""The page's breeding tools: a blend of up to four cats and a cat's genes. Widgets and layout
only: what they compute is in core.py, the rules for keeping in own.py (the kept kittens and
their families are drawn by kittens.py).

The blend and the genes are fragments: moving one of their sliders runs only them (their
preview and the page's link), not the whole page with its morph and gallery.
"""

from __future__ import annotations

import streamlit as st

from kitten_mixer.images import enlarge, png_bytes
from kitten_mixer.webapp import core
from kitten_mixer.webapp.family import percents
from kitten_mixer.webapp.page import (
    face_png,
    never_a_traceback,
    rerun_the_page_after_an_action,
    t,
    update_link,
)
from kitten_mixer.webapp.texts import TEXTS
from kitten_mixer.webapp.visitor import SHARE_STEP, Key, Visitor

KITTEN_ZOOM = 3  # a single kitten is drawn larger than the morph's
GENES_PER_ROW = 5


@st.cache_data(show_spinner=False, max_entries=2048)
def blend_png(resources_key: tuple[str, str], digests: tuple[str, ...], shares: tuple[int, ...],
              method: str, _resources: core.Resources, _cats: tuple[core.Cat, ...]) -> bytes:
    """The kitten mixed from the cats in these shares, enlarged, as a PNG; filed under the
    resources' key and the codes' digests."""
    kitten = core.blend(_resources, list(_cats), list(shares), method)
    return png_bytes(enlarge(kitten, KITTEN_ZOOM))


@st.cache_data(show_spinner=False, max_entries=2048)
def tuned_png(resources_key: tuple[str, str], digest: str,
              values: tuple[tuple[int, float], ...], _resources: core.Resources,
              _cat: core.Cat) -> bytes:
    """The cat moved along its genes, enlarged, as a PNG; filed under the resources' key (the
    model and so its genes), the code's digest and the genes' values."""
    return png_bytes(enlarge(core.tune(_resources, _cat, dict(values)), KITTEN_ZOOM))


@st.fragment
@never_a_traceback
def blend(visitor: Visitor) -> None:
    """A share slider for each cat chosen, and the blended kitten."""
    rerun_the_page_after_an_action(visitor)
    resources, method = visitor.resources, visitor.method
    cats = visitor.chosen_cats()
    if len(cats) < 3:  # a late run of this part, after cats were removed
        return
    st.subheader(t("blend"), help=t("blend_help"))
    sliders, preview = st.columns([3, 2])
    with sliders:
        shares = []
        for i, (column, cat) in enumerate(zip(st.columns(len(cats)), cats)):
            with column:
                st.image(face_png(resources, cat), caption=cat.name, output_format="PNG")
                shares.append(st.slider(t("share", name=cat.name), 0, 100, step=SHARE_STEP,
                                        key=Key.share(i)))
    with preview:
        if not any(shares):
            st.info(t("blend_empty"))
        else:
            png = blend_png(resources.key, tuple(cat.digest for cat in cats), tuple(shares),
                            method, resources, tuple(cats))
            caption = " + ".join(f"{share}% {cat.name}"
                                 for share, cat in zip(percents(shares), cats) if share)
            st.image(png, caption=caption, output_format="PNG")
            st.button(t("keep"), key="keep-blend", on_click=visitor.act,
                      args=(visitor.keep_blend, shares, method))
    update_link(visitor)


def gene_label(names: list[str], i: int) -> str:
    """Gene i's slider label: its name where a measure showed what it does, else its number."""
    key = f"gene_{names[i]}"
    return t(key) if names[i] and key in TEXTS else t("gene", n=i + 1)


@st.fragment
@never_a_traceback
def genes(visitor: Visitor) -> None:
    """A slider for each gene of the cat picked among those chosen, a reset, and the tuned cat,
    in a panel that runs only while open (closing it lets the genes go back to 0): folded by
    default, open when a link brings gene values (share.py opens it)."""
    rerun_the_page_after_an_action(visitor)
    chosen = visitor.chosen_cats()
    if not chosen:  # a late run of this part, after the cats were removed
        return
    if visitor.resources.genes is None:
        st.caption(t("no_genes"))
        return
    # Its default stays the same: a panel whose arguments change is a new panel, folded again.
    panel = st.expander(t("genes"), key=Key.TUNE, on_change=visitor.fold_genes)
    if panel.open:
        with panel:
            _gene_sliders(visitor, chosen)
    update_link(visitor)


def _gene_sliders(visitor: Visitor, chosen: list[core.Cat]) -> None:
    st.caption(t("genes_help"))
    resources, values = visitor.resources, visitor.gene_values()
    count = len(resources.genes)
    names = {cat.key: cat.name for cat in chosen}
    cat = visitor.tuned_cat()  # one of those chosen, the picker's value
    sliders, preview = st.columns([3, 2])
    with sliders:
        st.selectbox(t("tune_cat"), list(names), format_func=names.get, key=Key.TUNE_CAT)
        columns = st.columns(min(count, GENES_PER_ROW))
        for i in range(count):
            with columns[i % GENES_PER_ROW]:
                st.slider(gene_label(resources.genes.names, i), -core.GENE_REACH,
                          core.GENE_REACH, step=core.GENE_STEP, format="%+.1f",
                          key=Key.gene(i))
        st.button(t("reset"), key="tune-reset", on_click=visitor.reset_genes)
    with preview:
        png = tuned_png(resources.key, cat.digest, tuple(sorted(values.items())), resources,
                        cat)
        st.image(png, caption=f"{cat.name}, {t('tuned')}" if values else cat.name,
                 output_format="PNG")
        st.button(t("keep"), key="keep-tuned", on_click=visitor.act,
                  args=(visitor.keep_tuned, cat.key, values), disabled=not values)
