"""The kitten store's tables, declared once for SQLite and PostgreSQL alike, and the
migrations that bring a store written by an older kitten-mixer up to them.

    schema_version  one row: the layout's version (SCHEMA_VERSION for a store this code made)
    kittens         one row per kept kitten: its code (float32, little-endian, with its length),
                    its genes, the PNG the page showed, the model's digest, a hash of its
                    owner's token (never the token), when (UTC) and whether it is public
    parents         a kitten's parents in order: a gallery cat, a stored kitten or an upload,
                    and its share; a parent kitten is named by id, not by a foreign key, so a
                    child outlives its deleted parent (which then reads as withdrawn)
    keeps           when each owner kept a kitten in the last minute: the rate limit's log

`open_schema` runs in one transaction at open: it creates a new store at SCHEMA_VERSION, or
runs MIGRATIONS[n - 1] for every version n from the store's own to the last.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

import sqlalchemy as sa

from kitten_mixer.store.errors import StoreError


class UTCTime(sa.types.TypeDecorator):
    """A timezone-aware UTC datetime, to the microsecond: PostgreSQL's timestamptz, and in
    SQLite a text 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC (which sorts as the times do)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the store takes timezone-aware datetimes only")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


# SQLite's INTEGER PRIMARY KEY is the row id itself; PostgreSQL gets a 64-bit identity.
_Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, nullable=False),
)

kittens = sa.Table(
    "kittens", metadata,
    # The order kittens were stored in: it breaks ties between equal times.
    sa.Column("seq", _Seq, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(32), nullable=False, unique=True),
    sa.Column("owner", sa.String(64), nullable=False),  # sha-256 of the token, hex
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("dims", sa.Integer, nullable=False),
    sa.Column("code", sa.LargeBinary, nullable=False),
    sa.Column("genes", sa.Text, nullable=False),  # JSON: {"gene index": value}
    sa.Column("picture", sa.LargeBinary, nullable=False),
    sa.Column("created", UTCTime, nullable=False),
    sa.Column("public", sa.Boolean, nullable=False),
    sa.CheckConstraint("length(code) = 4 * dims", name="code_is_float32_of_dims"),
    sa.CheckConstraint("kind in ('kitten', 'upload')", name="kitten_kind"),
)
sa.Index("kittens_by_owner", kittens.c.owner, kittens.c.created)
sa.Index("kittens_public_newest", kittens.c.public, kittens.c.created)

parents = sa.Table(
    "parents", metadata,
    sa.Column("kitten", _Seq, sa.ForeignKey("kittens.seq", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("ref", sa.String(64), nullable=False),  # gallery id, kitten id, "" for an upload
    sa.Column("share", sa.Float, nullable=False),
    sa.CheckConstraint("kind in ('gallery', 'kitten', 'upload')", name="parent_kind"),
)
# How many kittens name a kitten as a parent: children counts and the most bred. (Version 2.)
parents_by_ref = sa.Index("parents_by_ref", parents.c.ref)

keeps = sa.Table(  # (Version 2.)
    "keeps", metadata,
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("at", UTCTime, nullable=False),
    sa.Index("keeps_by_owner", "owner", "at"),
    sa.Index("keeps_by_time", "at"),
)


def _add_keeps_log(conn: sa.Connection) -> None:
    """Version 1 to 2: the log of keeps behind the rate limit, and the index of parents by the
    kitten they name (version 1 counted children by reading every parent)."""
    keeps.create(conn)
    parents_by_ref.create(conn)


# MIGRATIONS[n - 1] takes a store from version n to n + 1, inside the open's transaction.
MIGRATIONS: list[Callable[[sa.Connection], None]] = [_add_keeps_log]
SCHEMA_VERSION = 1 + len(MIGRATIONS)


def open_schema(conn: sa.Connection) -> int:
    """Create the tables of a new store, or migrate an older one, in the caller's transaction;
    the store's version before (0 for a new store)."""
    inspector = sa.inspect(conn)
    if not inspector.has_table("schema_version"):
        if inspector.has_table("kittens"):
            raise StoreError("this database has a kittens table but no schema_version: "
                             "it is not a kitten store")
        metadata.create_all(conn)
        conn.execute(sa.insert(schema_version).values(version=SCHEMA_VERSION))
        return 0
    found = conn.execute(sa.select(schema_version.c.version)).scalars().all()
    if len(found) != 1:
        raise StoreError(f"the kitten store's schema_version table has {len(found)} rows, "
                         "not 1: it was changed by hand")
    version = found[0]
    if version > SCHEMA_VERSION:
        raise StoreError(f"the kitten store is at schema version {version}, newer than this "
                         f"kitten-mixer's {SCHEMA_VERSION}: upgrade kitten-mixer")
    if version < 1:
        raise StoreError(f"the kitten store's schema version is {version}: not a version")
    for migration in MIGRATIONS[version - 1:]:
        migration(conn)
    if version != SCHEMA_VERSION:
        conn.execute(sa.update(schema_version).values(version=SCHEMA_VERSION))
    return version


def now() -> datetime:
    """The store's clock: the current time in UTC."""
    return datetime.now(timezone.utc)
