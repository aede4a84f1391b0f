"""KittenStore: visitors' kept kittens in SQLite (no set-up) or PostgreSQL (a URL)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from kitten_mixer.store import records
from kitten_mixer.store.engine import database_errors, make_engine, sqlite_url
from kitten_mixer.store.errors import RateLimited, StoreError
from kitten_mixer.store.records import WITHDRAWN, Kitten, Parent, Record, Summary
from kitten_mixer.store.schema import keeps, kittens, now, open_schema, parents

MAX_KEEPS = 30  # a minute, per owner
RATE_WINDOW = timedelta(minutes=1)
MAX_PER_PAGE = 100
ORDERS = ("newest", "most_bred")
_BATCH = 500  # kittens per query when reading or writing many
_MIGRATION_LOCK = 0x6B697474  # PostgreSQL: one process at a time creates or migrates
_COLUMNS = (kittens.c.seq, kittens.c.id, kittens.c.owner, kittens.c.kind, kittens.c.model,
            kittens.c.code, kittens.c.genes, kittens.c.picture, kittens.c.created,
            kittens.c.public)
_NEWEST = (kittens.c.created.desc(), kittens.c.seq.desc())


class KittenStore:
    """Kept kittens: each one's code, family, gene edits and picture, owned by a visitor's
    token (stored as a hash) and opened by anyone who has its id. Thread-safe: one store can
    serve every visitor of a process, and several processes can share one database."""

    def __init__(self, engine: sa.Engine, clock: Callable[[], datetime] = now):
        self.engine = engine
        self.url = engine.url.render_as_string(hide_password=True)
        self._clock = clock

    @classmethod
    def open(cls, url: str | None = None, folder: str | os.PathLike | None = None, *,
             clock: Callable[[], datetime] | None = None) -> KittenStore:
        """The store at `url` (sqlite:///PATH or postgresql+psycopg://...), or with no URL the
        SQLite store in `folder` (default: $KITTEN_MIXER_DATA, else
        ~/.local/share/kitten-mixer), created or migrated to this code's schema. `clock`, a
        function giving the time (UTC, timezone-aware), is for tests."""
        engine = make_engine(url if url is not None else sqlite_url(folder))
        store = cls(engine, clock or now)
        try:
            with database_errors("opening the store"), store._write() as conn:
                if engine.dialect.name == "postgresql":
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
                open_schema(conn)
        except BaseException:
            engine.dispose()
            raise
        return store

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> KittenStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- a visitor's kittens

    def keep(self, owner: str, code: Any, parents: Iterable[Parent], genes: dict[int, float],
             model: str, picture: bytes, *, kind: str = "kitten",
             public: bool = False) -> Kitten:
        """Store a kitten for the visitor whose token is `owner`; the kitten as stored. At most
        MAX_KEEPS a minute per owner (RateLimited)."""
        if not isinstance(public, bool):
            raise StoreError("public must be True or False")
        record = Record(records.new_id(), records.owner_hash(owner), records.check_kind(kind),
                        records.check_model(model), records.code_bytes(code),
                        records.genes_json(genes), records.picture_bytes(picture),
                        self._now(), public, records.check_parents(parents))
        with database_errors("keeping a kitten"), self._write() as conn:
            self._count_keep(conn, record.owner, record.created)
            self._insert(conn, record)
        return records.kitten(record)

    def get(self, kitten_id: str) -> Kitten | None:
        """Any kitten by its id, whoever owns it; None for an unknown or malformed id."""
        if not records.is_id(kitten_id):
            return None
        found = self._read_kittens(sa.select(*_COLUMNS).where(kittens.c.id == kitten_id),
                                   "opening a kitten")
        return found[0] if found else None

    def mine(self, owner: str) -> list[Kitten]:
        """The owner's kittens, newest first."""
        query = sa.select(*_COLUMNS).where(kittens.c.owner == records.owner_hash(owner))
        return self._read_kittens(query.order_by(*_NEWEST), "reading your kittens")

    def delete(self, owner: str, kitten_id: str) -> bool:
        """Delete one of the owner's kittens; False if it is not theirs or not there. Its
        children keep their rows, and read their parent as withdrawn."""
        return self._delete(kitten_id, owner)

    def set_public(self, owner: str, kitten_id: str, public: bool) -> bool:
        """Show one of the owner's kittens in the nursery, or hide it; False if it is not
        theirs or not there."""
        if not isinstance(public, bool):
            raise StoreError("public must be True or False")
        if not records.is_id(kitten_id):
            return False
        owner_hash = records.owner_hash(owner)
        with database_errors("changing a kitten"), self._write() as conn:
            done = conn.execute(sa.update(kittens).where(
                kittens.c.id == kitten_id, kittens.c.owner == owner_hash).values(public=public))
        return done.rowcount == 1

    # -- the public nursery

    def nursery(self, order: str = "newest", page: int = 0,
                per_page: int = 15) -> list[Kitten]:
        """One page of the public kittens: the newest first, or the most bred (those most
        stored kittens name as a parent) first."""
        if order not in ORDERS:
            raise StoreError(f"the nursery's order is one of {', '.join(ORDERS)}, not {order!r}")
        for value, low, high, what in ((page, 0, None, "page"),
                                       (per_page, 1, MAX_PER_PAGE, "per_page")):
            if isinstance(value, bool) or not isinstance(value, int) or value < low \
                    or (high is not None and value > high):
                raise StoreError(f"{what} must be a whole number from {low}"
                                 f"{f' to {high}' if high else ''}, not {value!r}")
        query = sa.select(*_COLUMNS).where(kittens.c.public.is_(True))
        if order == "most_bred":
            counts = _children_counts().subquery()
            query = query.outerjoin(counts, counts.c.ref == kittens.c.id).order_by(
                sa.func.coalesce(counts.c.children, 0).desc(), *_NEWEST)
        else:
            query = query.order_by(*_NEWEST)
        query = query.limit(per_page).offset(page * per_page)
        return self._read_kittens(query, "reading the nursery")

    def nursery_size(self) -> int:
        query = sa.select(sa.func.count()).select_from(kittens).where(kittens.c.public.is_(True))
        with database_errors("counting the nursery"), self._read() as conn:
            return conn.execute(query).scalar_one()

    def children_count(self, kitten_id: str) -> int:
        """How many stored kittens name this one as a parent."""
        if not records.is_id(kitten_id):
            return 0
        query = _children_counts().where(parents.c.ref == kitten_id)
        with database_errors("counting a kitten's children"), self._read() as conn:
            found = conn.execute(query).first()
        return found.children if found else 0

    # -- operators: moving a store, taking a kitten down

    def export(self) -> Iterator[dict]:
        """Every kitten as a JSON-able dict, in the order they were stored: the id, the owner's
        hash, the code as a list, the picture as base64, the parents as stored (a deleted parent
        kitten keeps its id). `import_rows` reads them into any store."""
        last = 0
        while True:
            query = sa.select(*_COLUMNS).where(kittens.c.seq > last).order_by(kittens.c.seq)
            with database_errors("exporting kittens"), self._read() as conn:
                batch = self._records(conn, query.limit(_BATCH), withdraw=False)
            if not batch:
                return
            for _seq, record in batch:
                yield records.export_dict(record)
            last = batch[-1][0]

    def summaries(self, public_only: bool = False) -> Iterator[Summary]:
        """What an operator lists: every kitten (or every public one) in the order they were
        stored, without its code or picture."""
        columns = (kittens.c.seq, kittens.c.id, kittens.c.created, kittens.c.public,
                   kittens.c.kind, kittens.c.model)
        last = 0
        while True:
            query = sa.select(*columns).where(kittens.c.seq > last)
            if public_only:
                query = query.where(kittens.c.public.is_(True))
            with database_errors("listing kittens"), self._read() as conn:
                rows = conn.execute(query.order_by(kittens.c.seq).limit(_BATCH)).all()
                family = _parents_of(conn, [row.seq for row in rows], withdraw=True)
            if not rows:
                return
            for row in rows:
                yield Summary(row.id, row.created, row.public, row.kind, row.model,
                              family.get(row.seq, ()))
            last = rows[-1].seq

    def import_rows(self, rows: Iterable[dict]) -> int:
        """Store exported kittens, all or none: a bad row is a StoreError naming it (`row`, from
        1) and nothing is imported. Kittens whose id is stored already are skipped, so importing
        twice stores each once. How many were new."""
        added = 0
        seen: set[str] = set()
        batch: list[Record] = []
        with database_errors("importing kittens"), self._write() as conn:
            for number, row in enumerate(rows, 1):
                try:
                    record = records.from_export(row)
                except StoreError as e:
                    raise StoreError(f"row {number}: {e}", row=number) from None
                if record.id not in seen:
                    seen.add(record.id)
                    batch.append(record)
                if len(batch) == _BATCH:
                    added += self._insert_new(conn, batch)
                    batch = []
            added += self._insert_new(conn, batch)
        return added

    def remove(self, kitten_id: str) -> bool:
        """An operator's take-down: delete a kitten whoever owns it."""
        return self._delete(kitten_id, None)

    # -- inside

    def _now(self) -> datetime:
        time = self._clock()
        if time.tzinfo is None:
            raise StoreError("the store's clock must give timezone-aware times")
        return time.astimezone(timezone.utc)

    @contextlib.contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn:
            conn.execution_options(write=True)  # SQLite: BEGIN IMMEDIATE (engine.py)
            with conn.begin():
                yield conn

    def _count_keep(self, conn: sa.Connection, owner: str, time: datetime) -> None:
        """Log a keep, or raise RateLimited. One owner's keeps are counted one at a time:
        SQLite's writers take turns (BEGIN IMMEDIATE); PostgreSQL locks the owner's hash."""
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(
                sa.func.hashtextextended(owner, 0))))
        since = time - RATE_WINDOW
        conn.execute(sa.delete(keeps).where(keeps.c.at <= since))
        recent = conn.execute(sa.select(sa.func.count()).select_from(keeps).where(
            keeps.c.owner == owner, keeps.c.at > since)).scalar_one()
        if recent >= MAX_KEEPS:
            raise RateLimited(f"at most {MAX_KEEPS} kittens a minute can be kept; "
                              "wait a minute and keep it again")
        conn.execute(sa.insert(keeps).values(owner=owner, at=time))

    def _insert(self, conn: sa.Connection, record: Record) -> None:
        seq = conn.execute(sa.insert(kittens).values(
            id=record.id, owner=record.owner, kind=record.kind, model=record.model,
            dims=record.dims, code=record.code, genes=record.genes, picture=record.picture,
            created=record.created, public=record.public)).inserted_primary_key[0]
        if record.parents:
            conn.execute(sa.insert(parents), [
                {"kitten": seq, "position": i, "kind": p.kind, "ref": p.ref, "share": p.share}
                for i, p in enumerate(record.parents)])

    def _insert_new(self, conn: sa.Connection, batch: Sequence[Record]) -> int:
        if not batch:
            return 0
        stored = set(conn.execute(sa.select(kittens.c.id).where(
            kittens.c.id.in_([record.id for record in batch]))).scalars())
        new = [record for record in batch if record.id not in stored]
        for record in new:
            self._insert(conn, record)
        return len(new)

    def _delete(self, kitten_id: str, owner: str | None) -> bool:
        if not records.is_id(kitten_id):
            return False
        query = sa.delete(kittens).where(kittens.c.id == kitten_id)
        if owner is not None:
            query = query.where(kittens.c.owner == records.owner_hash(owner))
        with database_errors("deleting a kitten"), self._write() as conn:
            return conn.execute(query).rowcount == 1

    def _read_kittens(self, query: sa.Select, doing: str) -> list[Kitten]:
        with database_errors(doing), self._read() as conn:
            found = self._records(conn, query, withdraw=True)
        return [records.kitten(record) for _seq, record in found]

    def _records(self, conn: sa.Connection, query: sa.Select,
                 withdraw: bool) -> list[tuple[int, Record]]:
        """The kittens a query selects (_COLUMNS) with their parents: each deleted parent
        kitten as withdrawn, or as stored (`withdraw` False)."""
        rows = conn.execute(query).all()
        family = _parents_of(conn, [row.seq for row in rows], withdraw)
        return [(row.seq, Record(row.id, row.owner, row.kind, row.model, bytes(row.code),
                                 row.genes, bytes(row.picture), row.created, row.public,
                                 family.get(row.seq, ())))
                for row in rows]


def _parents_of(conn: sa.Connection, seqs: list[int],
                withdraw: bool) -> dict[int, tuple[Parent, ...]]:
    """The parents of the kittens numbered `seqs`, in order."""
    family: dict[int, list[Parent]] = {}
    named = kittens.alias("named")
    for start in range(0, len(seqs), _BATCH):
        found = conn.execute(
            sa.select(parents.c.kitten, parents.c.kind, parents.c.ref, parents.c.share,
                      named.c.seq.label("present"))
            .outerjoin(named, sa.and_(parents.c.kind == "kitten", named.c.id == parents.c.ref))
            .where(parents.c.kitten.in_(seqs[start:start + _BATCH]))
            .order_by(parents.c.kitten, parents.c.position))
        for row in found:
            gone = withdraw and row.kind == "kitten" and row.present is None
            family.setdefault(row.kitten, []).append(
                Parent(WITHDRAWN, "", row.share) if gone else Parent(row.kind, row.ref, row.share))
    return {seq: tuple(found) for seq, found in family.items()}


def _children_counts() -> sa.Select:
    """Each kitten named as a parent, with how many stored kittens name it."""
    return (sa.select(parents.c.ref, sa.func.count(sa.distinct(parents.c.kitten))
                      .label("children"))
            .where(parents.c.kind == "kitten").group_by(parents.c.ref))
