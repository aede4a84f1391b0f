"""The kitten store, the same tests on SQLite (fast) and on a real PostgreSQL (slow): what is
kept reads back bit for bit, ids give nothing away, only owners change their kittens, the
nursery shows public kittens only, and bad input is a one-line StoreError."""

from __future__ import annotations

import base64
import json
import math
import re
import secrets
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import sqlalchemy as sa
import torch
from conftest import Clock, kitten_png
from PIL import Image

from kitten_mixer.images import png_bytes
from kitten_mixer.store import KittenStore, Parent, RateLimited, StoreError
from kitten_mixer.store.engine import make_engine

TOKEN, OTHER = "visitor-token-a", "visitor-token-b"
MODEL = "blake2b:5f1d0c"


def keep(store, owner=TOKEN, seed=0, parents=(), genes=None, **options):
    code = torch.randn(500, generator=torch.Generator().manual_seed(seed))
    return store.keep(owner, code, list(parents), genes or {}, MODEL, kitten_png(seed),
                      **options)


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert message and "\n" not in message
    return message


def test_a_kept_kitten_reads_back_bit_for_bit(store, clock):
    # Values a float32 code can hold at its edges: -0.0, the largest, the smallest subnormal.
    code = torch.randn(500)
    code[:4] = torch.tensor([-0.0, 3.4028235e38, 1.4e-45, -1.1754944e-38])
    parents = [Parent("gallery", "7078", 0.6), Parent("upload", "", 0.25),
               Parent("gallery", "13660", 0.15)]
    picture = kitten_png(3)
    kept = store.keep(TOKEN, code, parents, {2: 1.5, 0: -0.3}, MODEL, picture, public=True)
    got = store.get(kept.id)
    assert got.code.dtype == torch.float32 and got.code.shape == (500,)
    assert got.code.numpy().tobytes() == code.numpy().tobytes()  # -0.0 and subnormals too
    assert got.picture == picture
    assert got.parents == tuple(parents) == kept.parents
    assert got.genes == {0: -0.3, 2: 1.5}
    assert (got.model, got.kind, got.public) == (MODEL, "kitten", True)
    assert got.created == kept.created == clock.time  # to the microsecond
    assert got.created.tzinfo == timezone.utc
    assert not hasattr(got, "owner")


def test_codes_come_as_tensors_arrays_or_lists_and_times_in_any_zone(store):
    east = timezone(timedelta(hours=5))
    store._clock = lambda: datetime(2025, 1, 1, 5, 30, 0, 123456, tzinfo=east)
    for code in (torch.ones(8, dtype=torch.float64), np.ones(8), [1.0] * 8):
        kitten = store.keep(TOKEN, code, [], {}, MODEL, kitten_png(), kind="upload")
        assert kitten.created.tzinfo == timezone.utc
        assert store.get(kitten.id).code.tolist() == [1.0] * 8
        assert store.get(kitten.id).kind == "upload"
    assert store.get(kitten.id).created == datetime(2025, 1, 1, 0, 30, 0, 123456,
                                                    tzinfo=timezone.utc)


def test_ids_are_url_safe_unique_and_unguessable(store):
    ids = [keep(store, owner=f"visitor-{i // 25}", seed=i).id for i in range(64)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{16}", kitten_id) for kitten_id in ids)
    # 96 random bits each: no order, no shared prefixes, about half the bits set.
    assert ids != sorted(ids) and ids != sorted(ids, reverse=True)
    assert max(len(_common_prefix(a, b)) for a, b in zip(ids, ids[1:])) <= 3
    bits = np.unpackbits(np.frombuffer(b"".join(
        base64.urlsafe_b64decode(kitten_id) for kitten_id in ids), dtype=np.uint8))
    assert 0.45 < bits.mean() < 0.55  # 6144 bits: sigma 0.0064


def _common_prefix(a: str, b: str) -> str:
    return a[:next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), len(a))]


def test_only_the_owner_deletes_or_publishes(store):
    kitten = keep(store)
    assert not store.set_public(OTHER, kitten.id, True)
    assert not store.get(kitten.id).public
    assert store.set_public(TOKEN, kitten.id, True) and store.get(kitten.id).public
    assert not store.delete(OTHER, kitten.id)
    assert store.get(kitten.id) is not None
    assert store.delete(TOKEN, kitten.id) and store.get(kitten.id) is None
    assert not store.delete(TOKEN, kitten.id)  # once
    with pytest.raises(StoreError):
        store.set_public(TOKEN, kitten.id, "yes")


def test_mine_lists_the_owners_kittens_newest_first(store):
    mine = [keep(store, seed=i).id for i in range(4)]
    keep(store, owner=OTHER)
    assert [kitten.id for kitten in store.mine(TOKEN)] == mine[::-1]
    assert store.mine("a-visitor-with-none") == []


def test_a_deleted_parent_reads_as_withdrawn_and_its_child_stays(store):
    parent = keep(store, public=True)
    child = keep(store, owner=OTHER, seed=1,
                 parents=[Parent("kitten", parent.id, 0.7), Parent("gallery", "7078", 0.3)])
    assert store.get(child.id).parents[0] == Parent("kitten", parent.id, 0.7)
    assert store.delete(TOKEN, parent.id)
    assert store.get(child.id).parents == (Parent("withdrawn", "", 0.7),
                                           Parent("gallery", "7078", 0.3))
    assert store.mine(OTHER)[0].parents[0].kind == "withdrawn"


def test_the_nursery_shows_public_kittens_a_page_at_a_time(store):
    public = [keep(store, seed=i, public=True).id for i in range(7)]
    for i in range(3):
        keep(store, seed=10 + i)
    assert store.nursery_size() == 7
    pages = [[kitten.id for kitten in store.nursery(page=p, per_page=3)] for p in range(4)]
    assert pages == [public[6:3:-1], public[3:0:-1], public[:1], []]
    assert [k.id for k in store.nursery()] == public[::-1]  # 15 a page by default


def test_the_most_bred_come_first_then_the_newest(store, clock):
    a, b, c, d = (keep(store, seed=i, public=True) for i in range(4))
    hidden = keep(store, seed=9)
    # b has three children (one names it twice), a one (from another owner); c, d none.
    for i, parents in enumerate([[("kitten", b.id, 0.5), ("kitten", b.id, 0.5)],
                                 [("kitten", b.id, 1.0)], [("kitten", b.id, 0.4)],
                                 [("kitten", a.id, 0.5), ("kitten", hidden.id, 0.5)]]):
        keep(store, owner=OTHER, seed=20 + i, parents=[Parent(*p) for p in parents])
    assert [store.children_count(k.id) for k in (a, b, c, d, hidden)] == [1, 3, 0, 0, 1]
    ids = [k.id for k in store.nursery("most_bred")]
    assert ids == [b.id, a.id, d.id, c.id]  # children first, ties newest first
    assert [k.id for k in store.nursery("most_bred", page=1, per_page=2)] == [d.id, c.id]
    with pytest.raises(StoreError, match="order"):
        store.nursery("oldest")
    for page, per_page in ((-1, 15), (0, 0), (0, 101), (0.5, 15), (True, 15)):
        with pytest.raises(StoreError):
            store.nursery(page=page, per_page=per_page)


def test_children_counts_follow_deletes(store):
    parent = keep(store)
    children = [keep(store, seed=i, parents=[Parent("kitten", parent.id, 1.0)])
                for i in range(1, 3)]
    assert store.children_count(parent.id) == 2
    store.delete(TOKEN, children[0].id)
    assert store.children_count(parent.id) == 1


@pytest.mark.parametrize("bad", ["", "short", "x" * 17, "../../etc/passwd", "a b c d e f g h",
                                 "'; DROP TABLE--!", "Ünïcödé-kitten!!", None, 12345,
                                 b"AAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAA"])
def test_unknown_or_malformed_ids_find_nothing_and_never_raise(store, bad):
    keep(store)
    assert store.get(bad) is None
    assert store.delete(TOKEN, bad) is False
    assert store.set_public(TOKEN, bad, True) is False
    assert store.children_count(bad) == 0
    assert store.remove(bad) is False


@pytest.mark.parametrize("code, why", [
    (torch.randn(2, 250), "1-D"), (torch.randn(0), "1-D"), (torch.randn(4097), "1-D"),
    (torch.tensor([0.0, math.nan]), "finite"), (torch.tensor([math.inf, 1.0]), "finite"),
    (np.array([1e300, 0.0]), "finite"), (["a", "b"], "numbers"), ("0.5", "1-D"),
], ids=["2-D", "empty", "4097", "nan", "inf", "float32-overflow", "text", "scalar-text"])
def test_codes_of_the_wrong_size_or_with_nan_or_inf_are_refused(store, code, why):
    with pytest.raises(StoreError, match=why) as error:
        store.keep(TOKEN, code, [], {}, MODEL, kitten_png())
    one_line(error)
    assert store.mine(TOKEN) == []


@pytest.mark.parametrize("picture, why", [
    (kitten_png(0, size=160, noise=True), "bytes; at most"),  # 75 KB
    (b"\xff\xd8\xff\xe0 a JPEG", "not a PNG"), (kitten_png()[:200], "damaged"),
    ("a picture.png", "bytes of a PNG"), (png_bytes(Image.new("RGB", (2000, 2000))), "pixels"),
], ids=["75KB", "jpeg", "truncated", "text", "2000px"])
def test_oversized_or_broken_pictures_are_refused(store, picture, why):
    with pytest.raises(StoreError, match=why) as error:
        store.keep(TOKEN, torch.randn(500), [], {}, MODEL, picture)
    one_line(error)


@pytest.mark.parametrize("change, why", [
    ({"parents": [Parent("gallery", str(i), 0.1) for i in range(9)]}, "at most 8"),
    ({"parents": [Parent("gallery", "7078", 1.5)]}, "share"),
    ({"parents": [Parent("gallery", "7078", math.nan)]}, "share"),
    ({"parents": [Parent("photo", "7078", 0.5)]}, "kind"),
    ({"parents": [Parent("upload", "cat.jpg", 0.5)]}, "upload"),
    ({"parents": [Parent("kitten", "7078", 0.5)]}, "kitten's id"),
    ({"parents": [Parent("gallery", "", 0.5)]}, "gallery"),
    ({"genes": {i: 0.1 for i in range(65)}}, "at most 64"),
    ({"genes": {1: math.inf}}, "finite"), ({"genes": {-1: 0.5}}, "index"),
    ({"owner": ""}, "token"), ({"owner": "x" * 201}, "token"), ({"owner": None}, "token"),
    ({"model": ""}, "model"), ({"kind": "photo"}, "kind"), ({"public": "yes"}, "public"),
])
def test_bad_parents_genes_owners_and_kinds_are_refused(store, change, why):
    arguments = {"owner": TOKEN, "code": torch.randn(500), "parents": [], "genes": {},
                 "model": MODEL, "picture": kitten_png()}
    options = {k: v for k, v in change.items() if k in ("kind", "public")}
    arguments.update({k: v for k, v in change.items() if k not in options})
    with pytest.raises(StoreError, match=why) as error:
        store.keep(**arguments, **options)
    one_line(error)
    assert store.nursery_size() == 0 and store.mine(TOKEN) == []


def test_thirty_keeps_a_minute_then_the_next_is_refused(store, clock):
    for i in range(30):
        keep(store, seed=i)
    with pytest.raises(RateLimited) as error:
        keep(store, seed=30)
    assert "30 kittens a minute" in one_line(error)
    assert len(store.mine(TOKEN)) == 30  # the refused one is not kept
    keep(store, owner=OTHER)  # each visitor has a limit of their own
    clock.advance(59)
    with pytest.raises(RateLimited):
        keep(store, seed=31)
    clock.advance(1)  # a minute after the first
    keep(store, seed=32)
    assert len(store.mine(TOKEN)) == 31


def _ids_and_rows(store):
    rows = list(store.export())
    return [row["id"] for row in rows], rows


def _family(store):
    """Kittens of two owners, a public one, a child of a deleted kitten and an upload."""
    a = keep(store, seed=1, public=True, genes={3: 0.5})
    b = keep(store, owner=OTHER, seed=2, parents=[Parent("kitten", a.id, 0.5),
                                                  Parent("gallery", "7078", 0.5)])
    gone = keep(store, seed=3)
    keep(store, seed=4, parents=[Parent("kitten", gone.id, 1.0)])
    keep(store, seed=5, kind="upload", public=True)
    store.delete(TOKEN, gone.id)
    return a, b


def test_export_then_import_gives_the_same_kittens_and_importing_again_adds_none(
        store, tmp_path):
    _family(store)
    ids, rows = _ids_and_rows(store)
    assert all(json.loads(json.dumps(row)) == row for row in rows)  # JSON-able as they are
    assert TOKEN not in json.dumps(rows) and len(rows[0]["owner"]) == 64
    with KittenStore.open(f"sqlite:///{tmp_path / 'copy.db'}") as copy:
        assert copy.import_rows(iter(rows)) == 4
        assert list(copy.export()) == rows
        assert copy.import_rows(rows) == 0  # idempotent by id
        assert copy.import_rows(rows + rows) == 0
        _same_kittens(store, copy, ids)
        assert [k.id for k in copy.mine(TOKEN)] == [k.id for k in store.mine(TOKEN)]


def _same_kittens(one, other, ids):
    for kitten_id in ids:
        a, b = one.get(kitten_id), other.get(kitten_id)
        assert torch.equal(a.code, b.code) and a.picture == b.picture
        assert (a.parents, a.genes, a.model, a.created, a.public, a.kind) == \
               (b.parents, b.genes, b.model, b.created, b.public, b.kind)
    assert [k.id for k in one.nursery("most_bred")] == [k.id for k in other.nursery("most_bred")]


@pytest.mark.slow
@pytest.mark.parametrize("source", ["sqlite", "postgres"])
def test_a_store_moves_between_sqlite_and_postgresql(source, tmp_path, postgres_server):
    urls = [f"sqlite:///{tmp_path / 'kittens.db'}", postgres_server.new_database()]
    if source == "postgres":
        urls.reverse()
    with KittenStore.open(urls[0], clock=Clock()) as one, KittenStore.open(urls[1]) as other:
        a, _ = _family(one)
        ids, rows = _ids_and_rows(one)
        assert other.import_rows(rows) == 4
        assert list(other.export()) == rows  # identical rows, times and codes to the bit
        _same_kittens(one, other, ids)
        for owner in (TOKEN, OTHER):
            assert [k.id for k in other.mine(owner)] == [k.id for k in one.mine(owner)]
        assert other.children_count(a.id) == one.children_count(a.id) == 1
        assert other.nursery_size() == one.nursery_size() == 2


def test_an_import_with_one_bad_row_imports_nothing(store):
    _family(store)
    _, rows = _ids_and_rows(store)
    rows = [{**row, "id": secrets.token_urlsafe(12)} for row in rows]  # new kittens
    for bad, why in [({**rows[1], "code": [1.0, math.nan]}, "finite"),
                     ({**rows[1], "picture": "not base64!"}, "base64"),
                     ({**rows[1], "owner": TOKEN}, "hash"),
                     ({**rows[1], "id": "../etc"}, "id"),
                     ({**rows[1], "created": "2025-05-01T12:00:00"}, "timezone"),
                     ({**rows[1], "extra": 1}, "unknown extra"),
                     ({k: v for k, v in rows[1].items() if k != "genes"}, "missing genes"),
                     ("a line of text", "JSON object")]:
        with pytest.raises(StoreError, match=why) as error:
            store.import_rows([rows[0], bad, rows[2]])
        assert error.value.row == 2 and one_line(error).startswith("row 2: ")
        assert all(store.get(row["id"]) is None for row in rows)
    assert store.import_rows(rows) == len(rows)


def test_an_older_schema_is_migrated_at_open(store_url):
    """A store written by version 1 (no log of keeps, no index of parents by the kitten they
    name), made by hand, opens at the current version with its kittens."""
    engine = make_engine(store_url)
    serial = "INTEGER" if engine.dialect.name == "sqlite" else "BIGSERIAL"
    blob = np.arange(4, dtype="<f4").tobytes()
    with engine.begin() as conn:
        for statement in [
            "CREATE TABLE schema_version (version INTEGER NOT NULL)",
            "INSERT INTO schema_version VALUES (1)",
            f"""CREATE TABLE kittens (seq {serial} PRIMARY KEY, id VARCHAR(32) NOT NULL UNIQUE,
                owner VARCHAR(64) NOT NULL, kind VARCHAR(16) NOT NULL,
                model VARCHAR(128) NOT NULL, dims INTEGER NOT NULL, code {_blob(engine)} NOT NULL,
                genes TEXT NOT NULL, picture {_blob(engine)} NOT NULL,
                created {_time(engine)} NOT NULL, public BOOLEAN NOT NULL,
                CONSTRAINT code_is_float32_of_dims CHECK (length(code) = 4 * dims),
                CONSTRAINT kitten_kind CHECK (kind in ('kitten', 'upload')))""",
            "CREATE INDEX kittens_by_owner ON kittens (owner, created)",
            "CREATE INDEX kittens_public_newest ON kittens (public, created)",
            f"""CREATE TABLE parents (kitten {serial.replace('SERIAL', 'INT')} NOT NULL
                REFERENCES kittens (seq) ON DELETE CASCADE, position INTEGER NOT NULL,
                kind VARCHAR(16) NOT NULL, ref VARCHAR(64) NOT NULL, share FLOAT NOT NULL,
                PRIMARY KEY (kitten, position),
                CONSTRAINT parent_kind CHECK (kind in ('gallery', 'kitten', 'upload')))"""]:
            conn.exec_driver_sql(statement)
        conn.execute(sa.text("INSERT INTO kittens (id, owner, kind, model, dims, code, genes, "
                             "picture, created, public) VALUES ('OldKitten_000001', :owner, "
                             "'kitten', 'old-model', 4, :code, '{\"1\": 0.5}', :picture, "
                             ":created, true)"),
                     {"owner": "0" * 64, "code": blob, "picture": kitten_png(),
                      "created": "2024-02-03 04:05:06.000007" if serial == "INTEGER"
                      else datetime(2024, 2, 3, 4, 5, 6, 7, tzinfo=timezone.utc)})
        conn.exec_driver_sql("INSERT INTO parents VALUES (1, 0, 'gallery', '7078', 1.0)")
    engine.dispose()
    with KittenStore.open(store_url, clock=Clock()) as store:
        old = store.get("OldKitten_000001")
        assert old.code.tolist() == [0.0, 1.0, 2.0, 3.0] and old.genes == {1: 0.5}
        assert old.parents == (Parent("gallery", "7078", 1.0),)
        assert old.created == datetime(2024, 2, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
        child = keep(store, parents=[Parent("kitten", old.id, 1.0)])  # the keeps log works
        assert store.children_count(old.id) == 1 and store.get(child.id) is not None
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT version FROM schema_version").all() == [(2,)]
            assert "parents_by_ref" in {i["name"] for i in sa.inspect(conn).get_indexes("parents")}


def _blob(engine):
    return "BLOB" if engine.dialect.name == "sqlite" else "BYTEA"


def _time(engine):
    return "DATETIME" if engine.dialect.name == "sqlite" else "TIMESTAMP WITH TIME ZONE"


def test_a_store_from_a_newer_version_or_not_a_store_is_refused(store_url):
    engine = make_engine(store_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE kittens (x INTEGER)")
    with pytest.raises(StoreError, match="not a kitten store"):
        KittenStore.open(store_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.exec_driver_sql("INSERT INTO schema_version VALUES (3)")
    engine.dispose()
    with pytest.raises(StoreError, match="newer than this kitten-mixer's 2") as error:
        KittenStore.open(store_url)
    one_line(error)
