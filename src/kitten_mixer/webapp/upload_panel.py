"""The sidebar's uploads: each photo with the faces found (with several, the visitor picks the
one it stands for), a panel to frame the face by hand when the finder missed it, or why the
file cannot be used. Widgets and layout only: what they compute is in core.py and framing.py,
the rules for the visitor's cats in own.py.

The framing panel is a fragment: moving its sliders runs only it (the square on the photo and
the crop the model would read), not the whole page; mixing the square runs the page again.
"""

from __future__ import annotations

import streamlit as st

from kitten_mixer.images import enlarge
from kitten_mixer.webapp import core, framing
from kitten_mixer.webapp.page import never_a_traceback, t
from kitten_mixer.webapp.texts import TEXTS
from kitten_mixer.webapp.visitor import Key, UploadedFile, Visitor

FACE_WIDTH = 40  # pixels: each face of a photo with several, and its button, in the sidebar
SEEN_WIDTH = 128  # pixels: the crop the model would read in the framing panel (twice its size)


def uploads(visitor: Visitor, files: list, find: bool) -> None:
    """Every uploaded file: its photo with the faces found (with several, the visitor picks
    the one it stands for) and the framing panel, or why it cannot be used."""
    taken, added = visitor.take_uploads(files, find)
    by_id = {file.file_id: file for file in files}
    for file_id, upload in taken:
        if upload.error:
            key = f"err_{upload.error}" if f"err_{upload.error}" in TEXTS else "err_other"
            st.error(t(key, name=upload.name, mb=core.MAX_UPLOAD_MB))
            continue
        st.image(upload.preview, width="stretch")
        if upload.frame is not None:
            st.caption(t("framed", name=upload.name))
        elif upload.missed:
            st.warning(t("no_face", name=upload.name))
        elif upload.box is not None and len(upload.faces) <= 1:
            st.caption(t("face_found", name=upload.name))
        if len(upload.faces) > 1:
            if upload.frame is None:
                st.caption(t("faces_found", name=upload.name, n=len(upload.faces)))
            pick_face(visitor, by_id[file_id], upload)
        frame_panel(visitor, by_id[file_id], find)
        st.button(t("select"), key=f"upload-{file_id}", on_click=visitor.choose,
                  args=(upload.cat.key,), disabled=not visitor.can_choose(upload.cat.key))
    if added:
        st.info(t("upload_added"))


def pick_face(visitor: Visitor, file: UploadedFile, upload: core.Upload) -> None:
    """The faces found in an upload's photo, small and numbered as on the photo, each with its
    button; the one the upload stands for is highlighted."""
    with st.container(horizontal=True, gap="xsmall"):
        for i, face in enumerate(upload.faces):
            with st.container(width=FACE_WIDTH, gap="xsmall"):
                st.image(face, width="stretch")
                st.button(str(i + 1), key=f"face-{file.file_id}-{i}",
                          help=t("pick_face", n=i + 1), width="stretch",
                          type="primary" if i == upload.picked else "secondary",
                          on_click=visitor.act, args=(visitor.pick_face, file, i))


@st.fragment
@never_a_traceback
def frame_panel(visitor: Visitor, file: UploadedFile, find: bool) -> None:
    """A folded panel: the photo with a square drawn, sliders that move, size and turn it, what
    the model would read inside it, and a button that makes the upload stand for it. Opened,
    its sliders start at the face the upload stands for (with none found, where the finder
    guesses one is)."""
    panel = st.expander(t("frame"), key=Key.framing(file.file_id),
                        on_change=visitor.fold_frame, args=(file.file_id,))
    upload = visitor.upload(file.file_id, find)
    if not panel.open or upload is None or upload.cat is None:
        return
    visitor.open_frame(file, find)
    with panel:
        st.caption(t("frame_help"))
        frame = visitor.frame_shown(file.file_id)
        data = file.getvalue()
        st.image(framing.framed_preview(upload, frame, *core.photo_size(data), found=False),
                 width="stretch")
        for part, (low, high) in framing.SLIDERS.items():
            st.slider(t(f"frame_{part}"), low, high, step=framing.STEP, format="%.1f",
                      key=Key.frame(file.file_id, part))
        face = framing.framed_face(data, frame, visitor.resources.mixer.image_size[1])
        st.image(enlarge(face, 2), caption=t("frame_seen"), width=SEEN_WIDTH)
        if st.button(t("frame_use"), key=f"frame-use-{file.file_id}", type="primary",
                     disabled=upload.frame == frame):
            visitor.act(visitor.frame_face, file, frame, find)
            st.rerun()
        if upload.frame is not None and upload.boxes and st.button(
                t("frame_back"), key=f"frame-back-{file.file_id}"):
            visitor.act(visitor.pick_face, file, 0)
            st.rerun()
