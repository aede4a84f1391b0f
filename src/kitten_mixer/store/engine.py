"""One engine from a URL, set up for its database, and the database's failures turned into
the store's one-line errors.

SQLite runs in WAL mode, so visitors read while another process writes, with
`synchronous=FULL`: each kept kitten is on disk (fsynced) before `keep` returns, so a power cut
loses no kitten a page said was kept. NORMAL would skip that fsync and could lose the last keeps
to a power cut (never to a crash of the app); it saves under 3 ms a keep, which takes 4 ms with
FULL (benchmarks/store_speed.py). Foreign keys are on (a kitten's parents go with it), and a
writer waits up to BUSY_MS for another process's write instead of failing. Transactions that
write begin IMMEDIATE: they take the write lock first, where a read that later writes could
find its snapshot stale and fail at once.

PostgreSQL goes through psycopg 3; connections are checked before each use, so a restarted
server is reconnected to without a failed call.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from kitten_mixer.store.errors import StoreDown, StoreError, StoreFull

BUSY_MS = 5000
DB_ENV = "KITTEN_MIXER_DB"  # the store's URL, for the app and the command line
DATA_ENV = "KITTEN_MIXER_DATA"  # the folder of the default SQLite store
FILE_NAME = "kittens.db"
_SQLITE_FULL = 13


def data_folder(folder: str | os.PathLike | None = None) -> Path:
    """Where the default SQLite store lives: `folder`, else $KITTEN_MIXER_DATA, else
    ~/.local/share/kitten-mixer."""
    if folder is None:
        folder = os.environ.get(DATA_ENV) or Path.home() / ".local" / "share" / "kitten-mixer"
    return Path(folder).expanduser()


def sqlite_url(folder: str | os.PathLike | None = None) -> str:
    path = data_folder(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreError(f"cannot make the store's folder {path}: {e.strerror or e}") from None
    return f"sqlite:///{path / FILE_NAME}"


def make_engine(url: str) -> sa.Engine:
    """An engine for a sqlite:/// or postgresql:// URL (plain postgresql:// means psycopg 3)."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise StoreError("the store's URL must look like sqlite:///PATH or "
                         "postgresql+psycopg://USER@HOST/DATABASE") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    shown = parsed.render_as_string(hide_password=True)
    if parsed.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        raise StoreError(f"{shown}: the store runs on sqlite:/// or postgresql+psycopg://")
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise StoreError(f"{shown}: give the SQLite store a file")
        engine = sa.create_engine(parsed)
        sa.event.listen(engine, "connect", _sqlite_connect)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise StoreError("PostgreSQL needs psycopg: pip install 'kitten-mixer[postgres]'") \
            from None
    return sa.create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=5,
                            connect_args={"connect_timeout": 5})


def _sqlite_connect(connection, _record) -> None:
    connection.isolation_level = None  # the driver begins nothing; _sqlite_begin does
    for pragma in ("journal_mode = WAL", "synchronous = FULL", "foreign_keys = ON",
                   f"busy_timeout = {BUSY_MS}"):
        connection.execute(f"PRAGMA {pragma}")


def _sqlite_begin(conn: sa.Connection) -> None:
    write = conn.get_execution_options().get("write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@contextlib.contextmanager
def database_errors(doing: str) -> Iterator[None]:
    """Turn a database's failure while `doing` into StoreFull or StoreDown; anything else (a
    bug) keeps its traceback."""
    try:
        yield
    except sa.exc.DBAPIError as e:
        error = translate(e, doing)
        if error is None:
            raise
        raise error from None


def translate(error: sa.exc.DBAPIError, doing: str) -> StoreError | None:
    original = error.orig
    said = " ".join(str(original).split())[:300]
    if isinstance(original, sqlite3.Error):
        code = getattr(original, "sqlite_errorcode", None)
        if code == _SQLITE_FULL or "database or disk is full" in said:
            return StoreFull(f"the kitten store is full: {doing} failed and wrote nothing "
                             f"({said})")
        if isinstance(original, sqlite3.OperationalError):
            return StoreDown(f"the kitten store cannot be used now: {doing} failed ({said})")
        return None
    state = getattr(original, "sqlstate", None) or ""
    if state == "53100":  # disk_full
        return StoreFull(f"the kitten store's server is out of disk: {doing} failed and wrote "
                         f"nothing ({said})")
    if error.connection_invalidated or state.startswith(("08", "53", "57P")) \
            or isinstance(error, sa.exc.OperationalError):
        # Down, restarting, or refusing this user or database: the message says which.
        return StoreDown(f"the kitten store's server cannot be used now: {doing} failed "
                         f"({said})")
    return None
