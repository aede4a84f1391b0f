"""The page's stored kittens: the public nursery (the kittens visitors chose to share, newest or
most bred first, each choosable like a gallery cat), and "Your kittens" (each kitten the
visitor kept, with its parents and grandparents, whoever kept them, a toggle that shares it in
the nursery, its link and a delete button), with the families of the stored kittens of others
they chose. Widgets and layout only: the rules are own.py's, the trees family.py's.

Both read the store only while their tab is open; a store that cannot answer gives a one-line
note in the tab.
"""

from __future__ import annotations

import streamlit as st

from kitten_mixer.webapp import core, stored
from kitten_mixer.webapp.family import Relative, family_tree, parent_name
from kitten_mixer.webapp.page import face_png, lineage, store_failure, t, unnamed
from kitten_mixer.webapp.texts import text
from kitten_mixer.webapp.visitor import Key, Visitor

NURSERY_PER_PAGE = 15
NURSERY_COLUMNS = 5
NURSERY_ORDERS = ("newest", "most_bred")
MINE_PER_PAGE = 5
FAMILY_COLUMNS = 8  # a family card's faces: the kitten, then its parents and grandparents


def pages(prefix: str, number: int, count: int, turn) -> None:
    """"Previous", "page n of m" and "next" buttons under a grid (keys prefix-previous, ...)."""
    previous, where, following = st.columns([1, 2, 1])
    previous.button(t("previous"), key=f"{prefix}-previous", on_click=turn, args=(-1,),
                    disabled=number == 0, width="stretch")
    where.markdown("<div style='text-align:center'>"
                   f"{t('page', page=number + 1, pages=count)}</div>", unsafe_allow_html=True)
    following.button(t("next"), key=f"{prefix}-next", on_click=turn, args=(1,),
                     disabled=number >= count - 1, width="stretch")


def nursery(visitor: Visitor) -> None:
    """One page of the public nursery, in the order picked."""
    st.caption(t("nursery_help"))
    language = visitor.language
    st.radio(t("nursery_order"), NURSERY_ORDERS, key=Key.NURSERY_ORDER, horizontal=True,
             format_func=lambda order: text(f"nursery_{order}", language),
             on_change=visitor.turn_nursery, args=(None,))
    try:
        cats, number, count = visitor.nursery(NURSERY_PER_PAGE)
        bred = {cat.key: visitor.children(cat.key) for cat in cats} \
            if visitor.state.get(Key.NURSERY_ORDER) == "most_bred" else {}
    except stored.refusals() as e:
        store_failure(e)
        return
    if not cats:
        st.info(t("nursery_empty"))
        return
    for row in range(0, len(cats), NURSERY_COLUMNS):
        for column, cat in zip(st.columns(NURSERY_COLUMNS), cats[row:row + NURSERY_COLUMNS]):
            with column:
                st.image(face_png(visitor.resources, cat), caption=cat.name, width="stretch",
                         output_format="PNG")
                line = lineage(cat)
                if cat.key in bred:
                    line = f"{line} · {t('bred', n=bred[cat.key])}"
                st.caption(line)
                st.button(t("select"), key=f"nursery-{cat.key}", width="stretch",
                          on_click=visitor.act,
                          args=(visitor.choose_stored, stored.id_of(cat.key)),
                          disabled=visitor.full or cat.key in visitor.chosen)
    pages("nursery", number, count, visitor.turn_nursery)


def yours(visitor: Visitor) -> None:
    """The families of the stored kittens of others chosen, then the visitor's own kittens, a
    page of them, newest first, each with its nursery toggle, link and delete button."""
    try:
        mine = visitor.mine()
        own = {cat.key for cat, _ in mine}
        others = [cat for cat in visitor.chosen_cats()
                  if stored.id_of(cat.key) and cat.key not in own]
        if others:
            st.subheader(t("chosen_families"))
            for cat in others:
                family_card(visitor, cat)
        if not mine:
            st.info(t("family_empty"))
            return
        st.subheader(t("family"))
        st.caption(t("family_help"))
        count = -(-len(mine) // MINE_PER_PAGE)
        number = visitor.mine_page(count)
        for cat, public in mine[number * MINE_PER_PAGE:(number + 1) * MINE_PER_PAGE]:
            family_card(visitor, cat, public)
    except stored.refusals() as e:
        store_failure(e)
        return
    if count > 1:
        pages("mine", number, count, visitor.turn_mine)


def family_card(visitor: Visitor, kitten: core.Cat, public: bool | None = None) -> None:
    """A kitten with its parents and grandparents and their shares; with `public` (the
    visitor's own kitten), its nursery toggle, its link and its delete button."""
    resources = visitor.resources
    with st.container(border=True):
        rows = family_tree(kitten, visitor.relative)
        # One column per cat, all of one width: a title row, then the faces.
        relatives = [relative for row in rows for relative in row]
        count = max(FAMILY_COLUMNS, len(relatives))
        titles = st.columns(count)
        start = 1
        for title, row in zip(("parents", "grandparents"), rows[1:]):
            titles[start].markdown(f"**{t(title)}**")
            start += len(row)
        faces = st.columns(count)
        with faces[0]:
            st.image(face_png(resources, kitten), caption=kitten.name, output_format="PNG")
            st.caption(lineage(kitten))
        for place, relative in zip(faces[1:], relatives[1:]):
            caption = t("share_of", name=_name(relative), share=relative.percent,
                        child=relative.child.name)
            if relative.cat is None:
                place.caption(caption)
            else:
                place.image(face_png(resources, relative.cat), caption=caption,
                            output_format="PNG")
        if public is None:
            return
        kitten_id = stored.id_of(kitten.key)
        toggle, link, delete = st.columns([2, 1, 1])
        toggle.toggle(t("public"), value=public, key=Key.public(kitten_id),
                      help=t("public_help"), on_change=visitor.act,
                      args=(visitor.set_public, kitten_id))
        link.markdown(f"[{t('kitten_link')}](?k={kitten_id})")
        with delete.popover(t("delete")):
            st.caption(t("delete_help", name=kitten.name))
            st.button(t("delete"), key=f"delete-{kitten_id}", type="primary",
                      on_click=visitor.act, args=(visitor.delete, kitten.key))


def _name(relative: Relative) -> str:
    """A relative's name; a stored parent no longer there reads as withdrawn."""
    if relative.cat is not None:
        return relative.cat.name
    parent = relative.parent
    if parent.key and stored.id_of(parent.key):
        return t("parent_withdrawn")
    return parent_name(parent, unnamed())
