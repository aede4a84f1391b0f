"""The web app without Streamlit: a visitor's rules (choosing, pages, own cats, uploads), what
the app computes (morphs, mixes, places on the map) and how it is launched. The page itself is
tested in test_app_page.py (AppTest) and test_app_browser.py (Chromium)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from conftest import fake_photo
from PIL import Image

from kitten_mixer.images import png_bytes
from kitten_mixer.webapp import core
from kitten_mixer.webapp.launch import SCRIPT, app_environment, streamlit_command
from kitten_mixer.webapp.visitor import Visitor


@pytest.fixture(scope="module")
def resources() -> core.Resources:
    return core.load_resources()


@dataclass
class File:
    """An uploaded file as the uploader hands it over, counting how often it is read."""

    file_id: str
    name: str
    data: bytes
    reads: int = 0

    def getvalue(self) -> bytes:
        self.reads += 1
        return self.data


def test_a_visitor_chooses_at_most_two_known_cats_each_once(resources):
    state = {}
    visitor = Visitor(state, resources)
    a, b, c = (cat.key for cat in resources.cats[:3])
    visitor.choose("g:no-such-cat")
    visitor.choose(a)
    visitor.choose(a)
    assert state["chosen"] == [a] and not visitor.full
    visitor.choose(b)
    visitor.choose(c)
    assert state["chosen"] == [a, b] and visitor.full and not visitor.can_choose(c)
    assert visitor.chosen_cats() == list(resources.cats[:2])
    visitor.remove(a)
    visitor.remove(a)
    assert state["chosen"] == [b] and visitor.can_choose(c)
    assert Visitor(state, resources).chosen == [b]  # the state outlives the object


def test_a_click_on_the_map_chooses_the_cat_picked(resources):
    visitor = Visitor({}, resources)
    key = resources.cats[5].key
    for event in (None, {}, {"selection": {"pick": []}}, {"selection": {"pick": [{"x": 1}]}}):
        visitor.pick_on_map(event)
    assert visitor.chosen == []
    visitor.pick_on_map({"selection": {"pick": [{"key": key}]}})
    assert visitor.chosen == [key]


def test_gallery_pages_turn_within_the_pages_there_are(resources):
    visitor = Visitor({}, resources)
    first = visitor.gallery_page(15)
    assert (first.number, first.count, first.cats) == (0, 8, resources.cats[:15])
    visitor.turn_page(-1)
    assert visitor.gallery_page(15).number == 0
    for _ in range(20):
        visitor.turn_page(1)
    last = visitor.gallery_page(15)
    assert last.number == 7 and last.cats == resources.cats[105:]
    assert visitor.state["page"] == 7  # kept clamped, so one "previous" goes back one page
    visitor.turn_page(-1)
    assert visitor.gallery_page(15).number == 6


def test_own_cats_come_first_newest_first_and_show_the_first_page(resources):
    visitor = Visitor({}, resources)
    visitor.turn_page(3)
    kittens = visitor.draw_kittens(2, seed=1)
    assert [cat.origin for cat in kittens] == ["kitten", "kitten"]
    assert visitor.all_cats()[:2] == kittens and len(visitor.all_cats()) == 122
    assert visitor.state["page"] == 0
    more = visitor.draw_kittens(3, seed=2)
    visitor.add_own(kittens[1:])  # again: it moves to the front, once
    assert [cat.key for cat in visitor.all_cats()[:5]] == \
        [kittens[1].key, *(cat.key for cat in more), kittens[0].key]
    assert visitor.cat(kittens[0].key) is kittens[0]


def test_each_upload_is_read_once_and_its_cat_comes_first(resources):
    visitor = Visitor({}, resources)
    good = File("1", "noise.png", png_bytes(fake_photo(3, (200, 150))))
    bad = File("2", "notes.jpg", b"not a photo")
    taken, added = visitor.take_uploads([good, bad])
    assert added == 1 and [file_id for file_id, _ in taken] == ["1", "2"]
    upload, refused = taken[0][1], taken[1][1]
    assert upload.cat.origin == "upload" and visitor.all_cats()[0] == upload.cat
    assert refused.cat is None and refused.error == "not-image"
    taken, added = visitor.take_uploads([good, bad])
    assert added == 0 and (good.reads, bad.reads) == (1, 1)
    assert taken[0][1] is upload and len(visitor.own) == 1


def test_an_upload_over_the_size_limit_is_refused(resources):
    result = core.read_upload(resources, "big.jpg", b"\xff" * 2048, max_bytes=1024)
    assert result.cat is None and result.error == "too-large-upload"


def test_the_mix_ends_are_the_two_cats(resources):
    a, b = resources.cats[:2]
    ends = resources.mixer.decode(torch.stack([a.code, b.code]))
    for ratio, expected in ((0.0, ends[0]), (1.0, ends[1])):
        assert np.array_equal(np.asarray(core.mix_one(resources, a, b, ratio)),
                              np.asarray(expected))
    middle = np.asarray(core.mix_one(resources, a, b, 0.5), dtype=float)
    assert np.abs(middle - np.asarray(ends[0], dtype=float)).mean() > 1


def test_the_mix_slider_and_the_morph_agree(resources):
    a, b = resources.cats[:2]
    frames = core.morph(resources, a, b, 11).frames
    for step in (2, 7):  # 20% and 70%
        kitten = np.asarray(core.mix_one(resources, a, b, step / 10), dtype=int)
        assert np.abs(kitten - np.asarray(frames[step], dtype=int)).max() <= 1


def test_the_same_two_cats_always_give_the_same_morph(resources):
    a, b = resources.cats[3], resources.cats[7]
    one = [np.asarray(i) for i in core.morph(resources, a, b, 11, "slerp").frames]
    two = [np.asarray(i) for i in core.morph(resources, a, b, 11, "slerp").frames]
    assert all(np.array_equal(x, y) for x, y in zip(one, two))


def test_the_gif_and_strip_hold_the_morph_between_the_cats_faces(resources):
    a, b = resources.cats[:2]
    morph = core.morph(resources, a, b, steps=7)
    assert morph.ends == (a.face, b.face)
    gif = Image.open(io.BytesIO(morph.gif()))
    assert gif.n_frames == 2 * 7 - 2  # there and back again
    strip = Image.open(io.BytesIO(png_bytes(morph.strip())))
    assert strip.size == (9 * 64 + 10 * 2, 64 + 4)  # face, 7 steps, face
    assert np.array_equal(np.asarray(strip)[2:66, 2:66], np.asarray(a.face))
    assert len(morph.pngs()) == 9


def test_new_cats_are_placed_near_their_nearest_gallery_cat(resources):
    cat = resources.cats[10]
    place = core.place_on_map(resources, cat.code)
    assert np.allclose(place, resources.places[10], atol=1e-3)


def test_the_app_command_serves_on_loopback_only(tmp_path):
    command = streamlit_command(8600)
    assert command[command.index("--server.address") + 1] == "127.0.0.1"
    assert command[command.index("--server.port") + 1] == "8600"
    assert str(SCRIPT) in command
    with pytest.raises(Exception, match="no such file"):
        app_environment(gallery=tmp_path / "missing.zip")
    assert app_environment(gallery=tmp_path)["KITTEN_MIXER_GALLERY"] == str(tmp_path)

