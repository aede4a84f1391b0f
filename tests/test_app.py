"""The web app without Streamlit: a visitor's rules (choosing, pages, own cats, uploads, kept
kittens), what the app computes (morphs, mixes, blends, tuned cats, places on the map), its
links and how it is launched. The page itself is tested in test_app_page.py (AppTest) and
test_app_browser.py (Chromium)."""

from __future__ import annotations

import io
import re
import string
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import File, fake_photo, same_pixels_but_rounding
from PIL import Image

from kitten_mixer.images import png_bytes
from kitten_mixer.store import KittenStore
from kitten_mixer.webapp import core, share
from kitten_mixer.webapp.family import family_tree, parents_line, percents
from kitten_mixer.webapp.launch import SCRIPT, app_environment, streamlit_command
from kitten_mixer.webapp.texts import LANGUAGES, TEXTS
from kitten_mixer.webapp.visitor import MAX_CHOSEN, Key, Notes, Visitor


@pytest.fixture(scope="module")
def resources() -> core.Resources:
    return core.load_resources()


@pytest.fixture
def store(tmp_path) -> KittenStore:
    with KittenStore.open(folder=tmp_path) as store:
        yield store


def keeper(resources: core.Resources, store: KittenStore, state: dict | None = None) -> Visitor:
    """A visitor who keeps kittens in `store`."""
    return Visitor({} if state is None else state, resources, lambda: store)


def test_a_visitor_chooses_at_most_four_known_cats_each_once(resources):
    state = {}
    visitor = Visitor(state, resources)
    a, b, c, d, e = (cat.key for cat in resources.cats[:5])
    visitor.choose("g:no-such-cat")
    visitor.choose(a)
    visitor.choose(a)
    assert state["chosen"] == [a] and not visitor.full
    for key in (b, c, d, e):
        visitor.choose(key)
    assert MAX_CHOSEN == 4
    assert state["chosen"] == [a, b, c, d] and visitor.full and not visitor.can_choose(e)
    assert visitor.chosen_cats() == list(resources.cats[:4])
    visitor.remove(a)
    visitor.remove(a)
    assert state["chosen"] == [b, c, d] and visitor.can_choose(e)
    assert Visitor(state, resources).chosen == [b, c, d]  # the state outlives the object


def test_a_click_on_the_map_chooses_the_cat_picked(resources):
    state = {}
    visitor = Visitor(state, resources)
    key = resources.cats[5].key
    for event in (None, {}, {"selection": {"pick": []}}, {"selection": {"pick": [{"x": 1}]}}):
        state[Key.MAP] = event  # the map's selection, as the chart leaves it under its key
        visitor.pick_on_map()
    assert visitor.chosen == []
    state[Key.MAP] = {"selection": {"pick": [{"key": key}]}}
    visitor.pick_on_map()
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


def test_finding_the_face_can_be_turned_off_for_face_crops(resources):
    visitor = Visitor({}, resources)
    noise = File("1", "noise.png", png_bytes(fake_photo(3, (200, 150))))
    found = visitor.take_uploads([noise])[0][0][1]
    assert found.missed and found.box is None  # sought, not found: the page says so
    centre = visitor.take_uploads([noise], find=False)[0][0][1]
    assert not centre.missed and noise.reads == 2  # read again, the other way
    assert centre.cat.key != found.cat.key and len(visitor.own) == 2
    expected = resources.mixer.faces(fake_photo(3, (200, 150)), find=False)[0].image
    assert np.array_equal(np.asarray(centre.cat.face), np.asarray(expected))


def test_an_upload_over_the_size_limit_is_refused(resources):
    result = core.read_upload(resources, "big.jpg", b"\xff" * 2048, max_bytes=1024)
    assert result.cat is None and result.error == "too-large-upload"


def test_the_mix_ends_are_the_two_cats(resources):
    a, b = resources.cats[:2]
    ends = resources.mixer.decode(torch.stack([a.code, b.code]))
    for ratio, expected in ((0.0, ends[0]), (1.0, ends[1])):
        # decoded alone here, in a batch of two there
        assert same_pixels_but_rounding(core.mix_one(resources, a, b, ratio), expected)
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



def test_every_text_is_in_both_languages_with_the_same_placeholders():
    for key, entry in TEXTS.items():
        assert set(entry) == set(LANGUAGES), key
        fields = [{f for _, f, _, _ in string.Formatter().parse(entry[lang]) if f}
                  for lang in LANGUAGES]
        assert all(f == fields[0] for f in fields), key


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=int)


def test_a_blend_of_two_cats_is_the_morphs_step(resources):
    a, b, c = resources.cats[:3]
    frames = core.morph(resources, a, b, 11).frames
    for step in (0, 3, 8, 10):
        t = step / 10
        kitten = core.blend(resources, [a, b], [1 - t, t])
        assert np.abs(pixels(kitten) - pixels(frames[step])).max() <= 1
        step_code = core.step_code(resources, a, b, step, 11)
        blend_code = core.blend_code(resources, [a, b], [1 - t, t])
        assert torch.equal(step_code, blend_code) or torch.allclose(step_code, blend_code,
                                                                    atol=1e-6)
    # shares count in proportion and in any order; a cat with the whole share is itself
    assert torch.allclose(core.blend_code(resources, [a, b, c], [50, 30, 20]),
                          core.blend_code(resources, [c, a, b], [0.2, 0.5, 0.3]), atol=1e-5)
    assert torch.equal(core.blend_code(resources, [a, b, c], [0, 5, 0]), b.code)


def test_a_tuned_cat_moves_along_its_genes(resources):
    cat = resources.cats[4]
    genes = resources.genes
    assert 8 <= len(genes) <= 12
    assert np.array_equal(pixels(core.tune(resources, cat, {})),
                          pixels(resources.mixer.decode(cat.code)[0]))
    moved = core.tuned_code(resources, cat, {0: 1.5, 3: -1})
    expected = cat.code + 1.5 * genes.spread[0] * genes.directions[0] \
        - genes.spread[3] * genes.directions[3]
    assert torch.allclose(moved, expected, atol=1e-5)


def test_whole_percents_add_up_to_100():
    assert percents([1, 1, 1]) == [34, 33, 33]
    assert percents([0.6, 0.4]) == [60, 40]
    assert percents([50, 30, 20, 0]) == [50, 30, 20, 0]
    assert percents([0, 0]) == [0, 0]
    assert sum(percents([0.29, 0.71])) == 100


def test_kept_kittens_are_stored_and_know_their_parents(resources, store):
    visitor = keeper(resources, store)
    a, b, c = (cat.key for cat in resources.cats[:3])
    visitor.choose(a)
    visitor.choose(b)
    visitor.turn_page(2)
    first = visitor.keep_step(4, 11)  # 40% of the way from a to b
    assert first.key.startswith("s:") and first.name == "#" + first.key[2:8]
    assert first.origin == "kept" and visitor.token is not None
    assert parents_line(first, "tuned") == "60% 7078 + 40% 13660"
    assert visitor.all_cats()[0] is first and visitor.state["page"] == 0
    frames = core.morph(resources, *visitor.chosen_cats(), 11).frames
    assert np.array_equal(pixels(first.face), pixels(frames[4]))  # the step's own pixels
    assert visitor.keep_step(4, 11) is first  # kept once
    [kitten] = store.mine(visitor.token)  # in the store, as the page showed it
    assert kitten.id == first.key[2:] and torch.equal(kitten.code, first.code)
    assert [(p.kind, p.ref, round(p.share, 6)) for p in kitten.parents] == \
        [("gallery", "7078", 0.6), ("gallery", "13660", 0.4)]
    assert kitten.model == resources.model_digest and kitten.genes == {}
    assert np.array_equal(pixels(Image.open(io.BytesIO(kitten.picture))), pixels(first.face))
    mixed = visitor.keep_blend([75, 25])  # the mix slider's kitten at 25%
    assert parents_line(mixed, "tuned") == "75% 7078 + 25% 13660"
    visitor.choose(c)
    blend = visitor.keep_blend([1, 1, 1])
    assert parents_line(blend, "tuned") == "34% 7078 + 33% 13660 + 33% 3896"
    tuned = visitor.keep_tuned(a, {0: 1.5})
    assert tuned.tuned and parents_line(tuned, "ajustado") == "7078, ajustado"
    assert store.get(tuned.key[2:]).genes == {0: 1.5}
    assert visitor.kept() == [tuned, blend, mixed, first]
    assert [kitten.id for kitten in store.mine(visitor.token)] == \
        [cat.key[2:] for cat in visitor.kept()]
    assert len(visitor.all_cats()) == 124


def test_a_second_generation_has_kittens_for_parents(resources, store):
    visitor = keeper(resources, store)
    a, b, c, d = (cat.key for cat in resources.cats[:4])
    for key in (a, b):
        visitor.choose(key)
    k1 = visitor.keep_step(2, 11)
    for key in (a, b):
        visitor.remove(key)
    for key in (c, d):
        visitor.choose(key)
    k2 = visitor.keep_blend([50, 50])
    for key in (c, d):
        visitor.remove(key)
    visitor.choose(k1.key)
    visitor.choose(k2.key)
    k3 = visitor.keep_step(3, 11)
    assert parents_line(k3, "tuned") == f"70% {k1.name} + 30% {k2.name}"
    tree = family_tree(k3, visitor.cat)
    assert [[r.cat.name for r in row] for row in tree] == \
        [[k3.name], [k1.name, k2.name], ["7078", "13660", "3896", "15416"]]
    assert [r.percent for r in tree[2]] == [80, 20, 50, 50]
    assert [r.child.name for r in tree[2]] == [k1.name, k1.name, k2.name, k2.name]
    alone = family_tree(resources.cats[0], visitor.cat)  # a gallery cat has no parents
    assert len(alone) == 1 and alone[0][0].cat is resources.cats[0]
    # another visitor sees the same family, read from the store
    other = keeper(resources, store)
    assert share.open_link({"k": k3.key[2:]}, other) is None
    tree = family_tree(other.cat(k3.key), other.relative)
    assert [[r.cat.name for r in row] for row in tree][1:] == \
        [[k1.name, k2.name], ["7078", "13660", "3896", "15416"]]
    assert torch.equal(other.cat(k3.key).code, k3.code)
    # deleted, a parent reads as withdrawn, here and in the store
    assert not other.delete(k1.key) and visitor.delete(k1.key)
    assert k1.key not in visitor.own and visitor.chosen == [k2.key]
    for cat in (visitor.cat(k3.key), keeper(resources, store).find_stored(k3.key[2:])):
        assert [p.kind for p in cat.parents] == ["withdrawn", "cat"]
        assert parents_line(cat, "tuned", {"withdrawn": "withdrawn"}) == \
            f"70% withdrawn + 30% {k2.name}"
    tree = family_tree(other.cat(k3.key), other.relative)  # known before: asked again
    assert tree[1][0].cat is None and tree[1][1].cat.name == k2.name


def test_a_reload_brings_back_the_visitors_kittens(resources, store):
    visitor = keeper(resources, store)
    visitor.choose(resources.cats[0].key)
    visitor.choose(resources.cats[1].key)
    kittens = [visitor.keep_step(step, 11) for step in (2, 5, 8)]
    again = Visitor({}, resources, lambda: store, cookie=visitor.token)  # a new session
    assert again.kept() == []
    again.read_mine()
    assert [cat.key for cat in again.kept()] == [cat.key for cat in reversed(kittens)]
    assert all(torch.equal(a.code, b.code) and np.array_equal(pixels(a.face), pixels(b.face))
               for a, b in zip(again.kept(), reversed(kittens)))
    stranger = Visitor({}, resources, lambda: store, cookie="not a token")
    stranger.read_mine()
    assert stranger.token is None and stranger.kept() == [] and stranger.mine() == []


def test_keeping_a_new_kitten_or_an_upload_keeps_its_place(resources, store):
    visitor = keeper(resources, store)
    kittens = visitor.draw_kittens(3, seed=4)
    visitor.choose(kittens[1].key)
    kept = visitor.keep_own(kittens[1].key)
    assert kept.key.startswith("s:") and kept.origin == "kept"
    assert visitor.all_cats()[:3] == [kittens[0], kept, kittens[2]]
    assert visitor.chosen == [kept.key] and visitor.cat(kittens[1].key) is kept
    assert visitor.keep_own(kept.key) is None  # kept already
    assert visitor.keep_own(resources.cats[0].key) is None  # not a new kitten
    photo = File("1", "noise.png", png_bytes(fake_photo(3, (200, 150))))
    upload = visitor.take_uploads([photo])[0][0][1].cat
    visitor.choose(upload.key)
    visitor.choose(kittens[0].key)
    child = visitor.keep_blend([1, 1, 1])  # an upload and a new kitten among its parents
    assert [p.kind for p in store.get(child.key[2:]).parents] == ["kitten", "upload", "kitten"]
    assert visitor.cat(kittens[0].key).origin == "kept"  # the new kitten was kept first
    assert visitor.cat(upload.key) is upload  # the upload was not
    stored_upload = visitor.keep_own(upload.key)
    assert stored_upload.photo and visitor.cat(upload.key) is stored_upload
    picture = Image.open(io.BytesIO(store.get(stored_upload.key[2:]).picture))
    decoded = resources.mixer.decode(upload.code)[0]  # the model's face, not the photo's
    assert np.array_equal(pixels(picture), pixels(decoded))
    assert share.link(visitor)["b"] == f"k.{stored_upload.key[2:]}"


def test_a_link_holds_what_the_page_shows_and_opens_it_again(resources):
    state = {}
    visitor = Visitor(state, resources)
    assert share.link(visitor) == {}
    keys = [cat.key for cat in resources.cats[:3]]
    visitor.choose(keys[0])
    assert share.link(visitor) == {"a": "7078"}
    visitor.choose(keys[1])
    state.update({"ratio": 40, "steps": 7, "method": "linear"})  # as the widgets set them
    assert share.link(visitor) == {"a": "7078", "b": "13660", "steps": "7",
                                   "method": "linear", "t": "0.4"}
    visitor.choose(keys[2])
    state.update({"share-0": 50, "share-1": 0, "share-2": 25, "gene-0": 1.5,
                  "gene-3": -0.30000000000000004, "tune-cat": keys[1], "language": "en"})
    params = share.link(visitor)
    assert params == {"lang": "en", "a": "7078", "b": "13660", "c": "3896", "steps": "7",
                      "method": "linear", "t": "0.4", "w": "50,0,25", "g": "1.5,0,0,-0.3",
                      "tune": "b"}
    opened = Visitor({}, resources)
    assert share.open_link(params, opened) is None
    assert share.link(opened) == params
    assert opened.chosen == keys and opened.state["gene-3"] == -0.3 and opened.ratio == 40
    assert opened.gene_values() == visitor.gene_values() == {0: 1.5, 3: -0.3}
    assert opened.tuned_key == keys[1] and opened.genes_open  # the genes' panel, open


def test_uploads_do_not_travel_in_a_link_and_kept_kittens_do(resources, store):
    visitor = keeper(resources, store)
    visitor.choose(resources.cats[0].key)
    visitor.choose(resources.cats[1].key)
    kitten = visitor.keep_step(5, 11)
    kitten_id = kitten.key[2:]
    visitor.remove(resources.cats[1].key)
    visitor.choose(kitten.key)
    assert share.can_travel(visitor.chosen, resources)
    assert share.link(visitor) == {"a": "7078", "b": f"k.{kitten_id}", "t": "0.5"}
    visitor.remove(resources.cats[0].key)
    assert share.link(visitor) == {"k": kitten_id}  # one kitten alone
    photo = File("1", "noise.png", png_bytes(fake_photo(3, (200, 150))))
    upload = visitor.take_uploads([photo])[0][0][1].cat
    visitor.choose(upload.key)
    assert not share.can_travel(visitor.chosen, resources) and share.link(visitor) == {}
    opened = keeper(resources, store)
    assert share.open_link({"a": "7078", "b": f"k.{kitten_id}", "t": "0.5"}, opened) is None
    assert opened.chosen == [resources.cats[0].key, kitten.key]
    assert torch.equal(opened.chosen_cats()[1].code, kitten.code)


@pytest.mark.parametrize("params", [
    {"k": "AAAAAAAAAAAAAAAA"}, {"a": "7078", "b": "k.AAAAAAAAAAAAAAAA"},
    {"a": "k.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}])
def test_a_link_to_a_kitten_no_one_has_opens_the_plain_page(resources, store, params):
    state = {}
    visitor = keeper(resources, store, state)
    before = dict(state)
    assert share.open_link(params, visitor) == "link_gone"
    assert state == before


@pytest.mark.parametrize("params", [
    {"k": "x" * 101}, {"k": "<script>"}, {"a": "k."}, {"a": "k.a b"}, {"k": "", "a": "7078"},
    {"a": "7078", "b": "k.AAAAAAAAAAAAAAAA", "t": "0.33"}, {"a": "7078", "t": "9" * 200},
    {"a": "k.AAAAAAAAAAAAAAAA", "b": "k.AAAAAAAAAAAAAAAA"}])
def test_a_malformed_kitten_link_is_bad_before_the_store_is_asked(resources, params):
    def no_store():
        raise AssertionError("the store was asked")

    state = {}
    visitor = Visitor(state, resources, no_store)
    before = dict(state)
    assert share.open_link(params, visitor) == "link_bad"
    assert state == before


@pytest.mark.parametrize("params", [
    {"a": "no-such-cat"}, {"b": "7078"}, {"a": "7078", "c": "13660"},
    {"a": "7078", "b": "7078"}, {"a": "7078", "t": "0.5"},
    {"a": "7078", "b": "13660", "t": "2"}, {"a": "7078", "b": "13660", "t": "abc"},
    {"a": "7078", "b": "13660", "t": "0.37"}, {"a": "7078", "b": "13660", "t": "nan"},
    {"a": "7078", "b": "13660", "steps": "1"}, {"a": "7078", "b": "13660", "steps": "2.5"},
    {"a": "7078", "b": "13660", "method": "cubic"}, {"a": "7078", "b": "13660", "w": "50,50"},
    {"a": "7078", "b": "13660", "c": "3896", "w": "50,50"},
    {"a": "7078", "b": "13660", "c": "3896", "w": "50,-5,50"},
    {"a": "7078", "g": "1,2,3,4,5,6,7,8,9,1,1"}, {"a": "7078", "g": "4"},
    {"a": "7078", "g": "inf"}, {"a": "7078", "g": ""}, {"a": "7078", "tune": "a"},
    {"a": "7078", "g": "1", "tune": "b"}, {"lang": "fr"},
])
def test_a_bad_link_leaves_the_page_plain(resources, params):
    state = {}
    visitor = Visitor(state, resources)
    before = dict(state)
    assert share.open_link(params, visitor) == "link_bad"
    assert state == before


def test_a_bad_link_keeps_a_good_language_and_unknown_parameters_are_ignored(resources):
    visitor = Visitor({}, resources)
    assert share.open_link({"lang": "en", "a": "nobody"}, visitor) == "link_bad"
    assert visitor.language == "en" and visitor.chosen == []
    assert share.open_link({"a": "7078", "utm_source": "mail"}, visitor) is None
    assert visitor.chosen == [resources.cats[0].key]


def test_a_new_visitor_has_the_plain_pages_settings(resources):
    state = {}
    visitor = Visitor(state, resources)
    genes = len(resources.genes)
    assert state == {"language": "es", "chosen": [], "page": 0, "own": {}, "uploads": {},
                     "others": {}, "stored_as": {}, "nursery_page": 0, "mine_page": 0,
                     "steps": 11, "ratio": 50,
                     **{f"share-{i}": 50 for i in range(MAX_CHOSEN)},
                     **{f"gene-{i}": 0.0 for i in range(genes)}}
    assert (visitor.language, visitor.steps, visitor.method, visitor.ratio) == \
        ("es", 11, "slerp", 50)
    assert not visitor.genes_open and visitor.tuned_key is None and visitor.tuned_cat() is None
    state.update({"steps": 7, "language": "en"})  # a widget moved, a link opened: kept
    again = Visitor(state, resources)
    assert (again.steps, again.language) == (7, "en")


def test_genes_are_set_reset_and_folded_away(resources):
    visitor = Visitor({}, resources)
    a, b = (cat.key for cat in resources.cats[:2])
    visitor.choose(a)
    visitor.choose(b)
    assert visitor.tuned_key == a  # the first chosen, until another is picked
    visitor.tuned_key = b
    assert visitor.tuned_cat() is resources.cats[1]
    visitor.remove(b)
    assert visitor.tuned_cat() is resources.cats[0] and visitor.state[Key.TUNE_CAT] == a
    visitor.set_genes([0.5, 0.0, -1.2])
    assert visitor.gene_values() == {0: 0.5, 2: -1.2}
    visitor.genes_open = True
    visitor.fold_genes()  # opened: the genes stay
    assert visitor.gene_values() == {0: 0.5, 2: -1.2}
    visitor.genes_open = False
    visitor.fold_genes()  # closed: the cat is no longer tuned
    assert visitor.gene_values() == {}
    visitor.set_genes([1.0])
    visitor.reset_genes()
    assert all(visitor.state[Key.gene(i)] == 0.0 for i in range(visitor.gene_count))


def test_actions_leave_notes_for_the_next_page_run_once(resources, store):
    visitor = keeper(resources, store)
    assert visitor.take_notes() == Notes() and not visitor.has_news()
    a, b = (cat.key for cat in resources.cats[:2])
    visitor.choose(a)
    visitor.choose(b)
    visitor.act(visitor.keep_step, 3, 11)
    visitor.act(visitor.draw_kittens, 2)  # a random seed
    assert visitor.has_news()
    assert visitor.take_notes() == Notes(kept=visitor.kept()[0].name, kittens=2)
    assert visitor.take_notes() == Notes() and not visitor.has_news()
    visitor.act(visitor.keep_tuned, "g:no-such-cat", {0: 1.0})  # fails: said, not raised
    visitor.note_bad_link()
    assert visitor.has_news()
    assert visitor.take_notes() == Notes(failure="AttributeError", link="link_bad")
    assert visitor.first_run() and not visitor.first_run()  # the link is opened once


def test_link_ids_are_short_names_when_they_are_unique(resources):
    assert resources.link_ids[resources.cats[0].key] == "7078"
    assert len(set(resources.link_ids.values())) == len(resources.cats)
    assert all(re.fullmatch(r"[\w.-]+", link_id) for link_id in resources.link_ids.values())


def test_the_page_loads_the_store_only_when_it_needs_it():
    """The kitten store's package (and SQLAlchemy) load on the store's first use: not with the
    page's modules, so the first page of a server costs what it did."""
    modules = ["visitor", "share", "page", "kittens", "breeding", "stored", "own", "launch"]
    code = ("import sys\n" + "".join(f"import kitten_mixer.webapp.{m}\n" for m in modules)
            + "print(sorted(m for m in ('sqlalchemy', 'kitten_mixer.store') if m in sys.modules))")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True)
    assert found.stdout.strip() == "[]"


def test_a_kitten_drawn_by_another_model_is_encoded_again_from_its_picture(resources, store):
    cat = resources.cats[7]
    face = resources.mixer.decode(cat.code)[0]
    kitten = store.keep("C" * 32, cat.code * 0.5, (), {}, "another-model", png_bytes(face))
    visitor = keeper(resources, store)
    assert share.open_link({"k": kitten.id}, visitor) is None
    shown = visitor.chosen_cats()[0]
    assert np.array_equal(pixels(shown.face), pixels(face))  # shown as it was kept
    assert torch.allclose(shown.code, resources.mixer.encode(face, find=False)[0])
    assert not torch.allclose(shown.code, kitten.code)  # not the other model's code
    assert visitor.take_notes() == Notes(redrawn=True)
