"""The kitten store under trouble: a full disk, two writers at once, a PostgreSQL server that
goes away. Each failure is one line, and nothing kept before it is lost."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import threading

import postgres
import pytest
import sqlalchemy as sa
from conftest import Clock, kitten_png
from test_store import TOKEN, keep, one_line

from kitten_mixer.store import KittenStore, StoreDown, StoreError, StoreFull
from kitten_mixer.store.engine import BUSY_MS, make_engine


def keep_noise(store, seed: int, owner: str = TOKEN):
    """A kitten whose picture does not compress (12 KB): it needs new pages."""
    return store.keep(owner, [float(seed)] * 500, [], {}, "m", kitten_png(seed, noise=True))


def integrity(path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def test_sqlite_runs_in_wal_mode_with_full_sync_foreign_keys_and_a_busy_timeout(tmp_path):
    with KittenStore.open(folder=tmp_path) as store, store.engine.connect() as conn:
        settings = [conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in
                    ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")]
    assert settings == ["wal", 2, 1, BUSY_MS]  # synchronous 2 is FULL
    assert (tmp_path / "kittens.db").is_file()


def test_the_default_store_is_in_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("KITTEN_MIXER_DATA", str(tmp_path / "data"))
    with KittenStore.open() as store:
        assert store.url == f"sqlite:///{tmp_path / 'data' / 'kittens.db'}"
    assert (tmp_path / "data" / "kittens.db").is_file()


@pytest.mark.parametrize("url, why", [
    ("mysql://kittens@db/kittens", "sqlite:/// or postgresql"), ("not a url", "must look like"),
    ("sqlite://", "a file"), ("sqlite:///:memory:", "a file"),
])
def test_urls_the_store_cannot_use_are_refused(url, why):
    with pytest.raises(StoreError, match=why):
        KittenStore.open(url)


def test_a_plain_postgresql_url_means_psycopg_and_hides_its_password():
    engine = make_engine("postgresql://kittens:secret@db.example/kittens")
    assert engine.dialect.driver == "psycopg"
    assert "secret" not in KittenStore(engine).url
    engine.dispose()


def test_a_full_database_refuses_the_keep_and_loses_nothing(tmp_path):
    path = tmp_path / "kittens.db"
    store = KittenStore.open(f"sqlite:///{path}", clock=Clock())
    kept = [keep_noise(store, i).id for i in range(3)]
    with store.engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar()
    # The database may not grow by one page more, on every connection from now on.
    store.engine.dispose()
    sa.event.listen(store.engine, "connect",
                    lambda connection, _: connection.execute(f"PRAGMA max_page_count = {pages}"))
    with pytest.raises(StoreFull) as error:
        keep_noise(store, 3)
    assert "full" in one_line(error)
    assert all(store.get(kitten_id) is not None for kitten_id in kept)
    assert len(store.mine(TOKEN)) == 3
    store.close()
    assert integrity(path) == "ok"
    with KittenStore.open(f"sqlite:///{path}", clock=Clock()) as reopened:
        assert [k.id for k in reopened.mine(TOKEN)] == kept[::-1]
        keep_noise(reopened, 4)  # room again


def test_a_full_disk_refuses_the_keep_and_loses_nothing(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a 1 MB tmpfs here: {mounted.stderr.strip()}")
    try:
        store = KittenStore.open(folder=disk, clock=Clock())
        kept = []
        with pytest.raises(StoreFull) as error:
            for i in range(200):  # 12 KB each, and more in the log: about 20 fill it
                kept.append(keep_noise(store, i, owner=f"visitor-{i // 25}").id)
        assert 10 < len(kept) < 200
        one_line(error)
        assert all(store.get(kitten_id).picture == kitten_png(i, noise=True)
                   for i, kitten_id in enumerate(kept))
        store.close()
        assert integrity(disk / "kittens.db") == "ok"
        with KittenStore.open(folder=disk) as reopened:
            assert sum(len(reopened.mine(f"visitor-{n}")) for n in range(8)) == len(kept)
    finally:
        if subprocess.run(["umount", str(disk)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "--lazy", str(disk)], check=True)
            pytest.fail("a file of the store was still open after it was closed")


def test_two_writers_at_once_both_keep_everything(tmp_path):
    """Two stores on one file, as two app processes would have: SQLite's lock makes one wait
    for the other, within the busy timeout."""
    url = f"sqlite:///{tmp_path / 'kittens.db'}"
    stores = [KittenStore.open(url, clock=Clock()) for _ in range(2)]
    failures = []

    def write(store, owner):
        try:
            for i in range(15):
                keep(store, owner=owner, seed=i)
        except Exception as e:  # reported below
            failures.append(e)

    threads = [threading.Thread(target=write, args=(store, f"visitor-{n}"))
               for n, store in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert [len(stores[0].mine(f"visitor-{n}")) for n in range(2)] == [15, 15]
    for store in stores:
        store.close()


@pytest.mark.slow
def test_a_stopped_server_is_store_down_and_nothing_confirmed_is_lost(postgres_server):
    url = postgres_server.new_database()
    with KittenStore.open(url, clock=Clock()) as store:
        kept = [keep(store, seed=i).id for i in range(3)]
        postgres_server.stop("immediate")  # as a crash: no checkpoint
        try:
            with pytest.raises(StoreDown) as error:
                keep(store, seed=3)
            assert "cannot be used now" in one_line(error)
            with pytest.raises(StoreDown):
                store.get(kept[0])
            with pytest.raises(StoreDown) as error:
                KittenStore.open(url)
            one_line(error)
        finally:
            postgres_server.start()
        assert [store.get(kitten_id).id for kitten_id in kept] == kept
        keep(store, seed=4)  # the pool reconnects by itself
        assert len(store.mine(TOKEN)) == 4


def test_without_postgresql_its_tests_skip_but_fail_under_ci(monkeypatch):
    monkeypatch.setattr(postgres, "find_binaries", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="initdb and pg_ctl are not installed"):
        postgres.require_postgres()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the PostgreSQL tests"):
        postgres.require_postgres()


@pytest.mark.slow
def test_a_database_that_is_not_there_is_one_line(postgres_server):
    with pytest.raises(StoreDown, match='database "no_such_kittens" does not exist') as error:
        KittenStore.open(postgres_server.url("no_such_kittens"))
    one_line(error)
