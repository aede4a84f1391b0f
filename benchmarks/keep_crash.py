"""Keeps survive crashes: visitors keep kittens and open kept kittens' links against two app
processes behind haproxy (deploy/serve_many.py) while this script SIGKILLs one of the processes
at random, again and again; serve_many starts each one again on its port. Then it checks that:

- every keep the page confirmed (its "kept" toast, which the app shows only after the store has
  committed the kitten) is in the store: the store is opened afresh (KittenStore.open) after
  every process has stopped, and each confirmed id is looked up;
- the database opens clean: SQLite's `PRAGMA integrity_check` says ok (the app processes are
  SQLite's writers, so a kill mid-write is what could harm the file; a PostgreSQL server runs
  apart from the killed processes, and its store has to open);
- no page failed but the killed process's in-flight pages: each visitor's errors are counted,
  and a lost session (closed socket, a run that never finished, no connection) counts as in
  flight when that session was on the killed process at the kill (its sticky cookie named it).
  Everything else (an error message or exception on a page, a keep the page did not confirm, a
  link that did not show its kitten, a session lost on the live process) is an error.

The visitors are app_load.py's websocket clients (no browser), each doing its rounds: choose two
cats, morph, mix, keep the mixed kitten, open a link (`?k=ID`) to a kitten any visitor kept
before (a link naming a kitten kept on the other process, or on one killed since, opens from the
store), tune a gene, blend a third cat, remove the cats; after one round in four the visitor
leaves and a new one comes in its place (haproxy sends it to the process with fewer visitors,
so both keep some). A kill waits until the last killed
process answers again and haproxy has had time to mark it up (UP_AFTER), so one process is down
at a time. It prints one summary table and exits with status 1 when a check fails.

    python benchmarks/keep_crash.py                        # 20 visitors, 10 kills, SQLite
    python benchmarks/keep_crash.py --db postgresql+psycopg://kittens@/kittens?host=/run/postgresql
    python benchmarks/keep_crash.py --visitors 4 --kills 2 --seconds 30      # a short one

The SQLite store is a temporary folder's, removed at the end (--data-dir FOLDER to keep it);
with --db the kittens stay in that database. It needs haproxy (apt-get install haproxy).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from app_load import LoadVisitor, Settings, Tally
from st_client import SessionError

from kitten_mixer.store import KittenStore
from kitten_mixer.store.engine import FILE_NAME
from kitten_mixer.store.schema import kittens
from kitten_mixer.webapp.launch import answers_health, free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "deploy"))
from serve_many import App, Farm, serve_many  # noqa: E402  (deploy/ is a folder of scripts)

# Seconds from a restarted process's first answer to its health check until haproxy sends it
# visitors again: deploy/haproxy.cfg checks every 2 s and takes 2 good answers (inter 2s,
# rise 2), and a check may start up to 2 s late.
UP_AFTER = 6.0
RESTART_TIMEOUT = 120.0  # seconds a killed process may take to answer again
SETTLE = 8.0  # seconds the visitors go on after the last restart (they use the new process)
LEAVE_CHANCE = 0.25  # after a round, that the visitor leaves and a new one comes


@dataclass
class Kill:
    at: float  # seconds from the start of the visits
    app: str
    pid: int
    in_flight: int  # the visitors' sessions on it then
    back_after: float | None = None  # seconds until it answered again; None: never


class CrashVisitor(LoadVisitor):
    """A load visitor whose lost sessions count as in flight when a kill doomed them."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.doomed = ""  # the killed process one of its sessions was (or may have been) on
        self.in_flight = 0
        self.other = 0
        self.in_flight_examples: list[str] = []

    def doom(self, app: str) -> bool:
        """A kill of the process `app`: whether one of this visitor's sessions was on it. A
        session still loading its page has no route yet (haproxy's cookie comes with the page),
        so it may be on `app`; connect() clears the doubt once its page has come."""
        on_it = any(session.server in (app, "") for session in self.sessions)
        if on_it:
            self.doomed = app
        return on_it

    async def connect(self) -> None:
        self.doomed = ""  # a new session: the old one's fate is told
        await super().connect()
        if self.session is not None and self.session.server != self.doomed:
            self.doomed = ""  # its page came from a live process

    async def round(self) -> None:
        """A round; then now and then the visitor leaves and a new one comes (a new session,
        which haproxy gives the process with the fewest visitors: without this, every visitor
        would stay where the last kill sent them, and the next kill could find none)."""
        await super().round()
        if self.rng.random() < LEAVE_CHANCE:
            await self.close()

    def error(self, kind: str, detail: str, lost: bool = False) -> None:
        if lost and self.doomed:
            self.doomed = ""
            self.in_flight += 1
            if len(self.in_flight_examples) < 2:
                self.in_flight_examples.append(f"{kind} ({self.doing}): {detail[:120]}")
            return
        self.other += 1
        super().error(kind, detail, lost)


@dataclass
class Outcome:
    """What a crash run did and found."""

    store: str  # "SQLite" or "PostgreSQL"
    url: str  # the store's, password hidden ("" for a temporary SQLite store)
    visitors: int
    seconds: float = 0.0
    kills: list[Kill] = field(default_factory=list)
    restarts: int = 0
    confirmed: set[str] = field(default_factory=set)  # ids of keeps the page confirmed
    found: set[str] = field(default_factory=set)  # of those, in the store afterwards
    stored: int = 0  # kittens in the store afterwards, confirmed or not
    links: int = 0  # links that showed their kitten
    in_flight: int = 0
    other: int = 0
    integrity: str = "?"
    tracebacks: int = 0  # in the app processes' output (a killed store write would show)
    tally: Tally = field(default_factory=Tally)
    crowd: list[CrashVisitor] = field(default_factory=list)
    restart_lines: list[str] = field(default_factory=list)

    @property
    def missing(self) -> set[str]:
        return self.confirmed - self.found

    @property
    def integrity_ok(self) -> bool:
        return self.integrity in ("ok", "opens")

    @property
    def problems(self) -> list[str]:
        """The checks that failed."""
        out = []
        if any(k.back_after is None for k in self.kills):
            out.append("a killed process did not answer again")
        if not self.confirmed:
            out.append("no keep was confirmed (nothing to check)")
        if self.missing:
            out.append(f"{len(self.missing)} confirmed keeps are not in the store")
        if not self.integrity_ok:
            out.append(f"the database does not check clean: {self.integrity}")
        if self.other:
            out.append(f"{self.other} errors besides the killed process's in-flight pages")
        return out

    @property
    def passed(self) -> bool:
        return not self.problems


async def visit(farm: Farm, settings: Settings, outcome: Outcome, kills: int, seconds: float,
                seed: int) -> None:
    """The visitors do their rounds while `kills` kills happen at random times in `seconds`;
    they stop SETTLE seconds after the last restart, or at `seconds`, whichever is later."""
    rng = random.Random(seed)
    tally, kept = outcome.tally, []
    crowd = outcome.crowd = [
        CrashVisitor(n, settings, tally, set(), random.Random(seed * 1000 + n), kept)
        for n in range(outcome.visitors)]
    try:
        await asyncio.gather(*(v.start() for v in crowd))  # first pages, before any kill
        began = time.monotonic()
        rounds = [asyncio.create_task(v.run(float("inf"))) for v in crowd]
        try:
            await kill_at_random(farm, crowd, outcome, kills, seconds, began, rng)
            end = max(began + seconds, time.monotonic() + SETTLE)
            for v in crowd:
                v.deadline = end
            await asyncio.gather(*rounds)
        finally:
            for task in rounds:
                task.cancel()
            await asyncio.gather(*rounds, return_exceptions=True)
        outcome.seconds = time.monotonic() - began
    finally:
        await asyncio.gather(*(v.close() for v in crowd))


async def kill_at_random(farm: Farm, crowd: list[CrashVisitor], outcome: Outcome, kills: int,
                         seconds: float, began: float, rng: random.Random) -> None:
    """Kill number k falls at a random time in the k-th of `kills` equal slots of `seconds`
    (later if the last killed process is not back yet), on a random process; each waits for
    the process's restart and for haproxy to take it back."""
    for k in range(kills):
        at = began + seconds * (k + rng.uniform(0.2, 0.8)) / kills
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        app = rng.choice(farm.apps)
        kill = Kill(time.monotonic() - began, app.name, app.process.pid,
                    sum(v.doom(app.name) for v in crowd))
        restarts = app.restarts
        with contextlib.suppress(ProcessLookupError):
            os.kill(kill.pid, signal.SIGKILL)
        outcome.kills.append(kill)
        kill.back_after = await back(app, restarts)
        if kill.back_after is None:
            return  # no point killing more: the check fails
        await asyncio.sleep(UP_AFTER)


async def back(app: App, restarts: int) -> float | None:
    """Seconds until the killed app's new process answers its health check; None if it does
    not within RESTART_TIMEOUT."""
    killed = time.monotonic()
    while time.monotonic() - killed < RESTART_TIMEOUT:
        if app.restarts > restarts and await asyncio.to_thread(answers_health, app.url, 1):
            return time.monotonic() - killed
        await asyncio.sleep(0.1)
    return None


def check_store(outcome: Outcome, db: str | None, data_dir: str | None) -> None:
    """Open the store afresh, after every process stopped: SQLite's integrity check, then each
    confirmed keep looked up."""
    if db is None:
        path = Path(data_dir) / FILE_NAME
        try:
            with contextlib.closing(sqlite3.connect(path)) as conn:
                rows = conn.execute("PRAGMA integrity_check").fetchall()
            outcome.integrity = "; ".join(str(row[0]) for row in rows)[:300]
        except sqlite3.Error as e:
            outcome.integrity = f"cannot check: {e}"
    with KittenStore.open(db, data_dir) as store:
        outcome.found = {i for i in outcome.confirmed if store.get(i) is not None}
        with store.engine.connect() as conn:
            outcome.stored = conn.execute(sa.select(sa.func.count()).select_from(kittens)
                                          ).scalar_one()
        if db is not None:
            outcome.integrity = "opens"  # a PostgreSQL server's files are the server's


@contextlib.contextmanager
def store_folder(db: str | None, data_dir: str | None) -> Iterator[str | None]:
    if db is not None:
        yield None
    elif data_dir is not None:
        yield data_dir
    else:
        with tempfile.TemporaryDirectory(prefix="kitten-mixer-crash-store-") as folder:
            yield folder


def crash_run(visitors: int = 20, kills: int = 10, seconds: float = 180, *,
              db: str | None = None, data_dir: str | None = None, timeout: float = 60,
              seed: int = 0, model: str | None = None, gallery: str | None = None,
              logs: Path | None = None, say=print) -> Outcome:
    """Two app processes behind haproxy, `visitors` visitors, `kills` kills in about
    `seconds`; then the store's checks. `logs`: where the processes' output goes (default: a
    temporary folder)."""
    outcome = Outcome("SQLite", data_dir or "", visitors) if db is None else Outcome(
        "PostgreSQL", sa.engine.make_url(db).render_as_string(hide_password=True), visitors)

    def restarted(line: str) -> None:
        outcome.restart_lines.append(line)
        say(f"  {line}")

    with store_folder(db, data_dir) as folder, contextlib.ExitStack() as stack:
        if logs is None:
            logs = Path(stack.enter_context(tempfile.TemporaryDirectory(
                prefix="kitten-mixer-crash-")))
        with serve_many(2, free_port(), model=model, gallery=gallery, logs=logs,
                        timeout=timeout, data_dir=folder, db=db, say=restarted) as farm:
            settings = Settings(farm.url, timeout, next_chance=0.2, think=0,
                                keep=re.compile(r"^keep-mix$"), gene=re.compile(r"^gene-"),
                                share=re.compile(r"^share-"), panel="tune")
            asyncio.run(visit(farm, settings, outcome, kills, seconds, seed))
            outcome.restarts = farm.restarts
        outcome.tracebacks = sum(log.read_text(errors="replace").count("Traceback")
                                 for log in logs.glob("app*.log"))
        # every process stopped: the store as the next start would find it
        outcome.confirmed = set(outcome.tally.kept)
        outcome.links = outcome.tally.links
        outcome.in_flight = sum(v.in_flight for v in outcome.crowd)
        outcome.other = sum(v.other for v in outcome.crowd)
        check_store(outcome, db, folder)
    return outcome


def report(outcome: Outcome) -> str:
    """Print what happened; return the summary table."""
    print(f"\n{outcome.visitors} visitors for {outcome.seconds:.0f} s, store {outcome.store}"
          + (f" ({outcome.url})" if outcome.url else ""))
    for n, kill in enumerate(outcome.kills, 1):
        back = "never answered again" if kill.back_after is None \
            else f"answered again {kill.back_after:.1f} s later"
        print(f"  kill {n} at {kill.at:.0f} s: {kill.app} (pid {kill.pid}), {kill.in_flight} "
              f"visitors with a session on it; {back}")
    runs = sum(len(times) for times in outcome.tally.server_ms.values())
    print(f"  {runs} page runs, {len(outcome.tally.kept)} keeps confirmed "
          f"({len(outcome.confirmed)} kittens), {outcome.links} links shown, "
          f"{outcome.stored} kittens in the store")
    hit = [f"{v.number}: {v.in_flight}/{v.other}" for v in outcome.crowd if v.in_flight or v.other]
    print("  errors per visitor (in flight / other): " + (", ".join(hit) or "none"))
    print(f"  tracebacks in the app processes' output: {outcome.tracebacks}")
    for v in outcome.crowd:
        for example in v.in_flight_examples[:1]:
            print(f"    in flight, visitor {v.number}: {example}")
    for kind, n in outcome.tally.errors.items():
        print(f"  other errors: {kind} {n}")
    for example in outcome.tally.examples:
        print(f"    {example}")
    for kitten_id in sorted(outcome.missing)[:10]:
        print(f"  confirmed but not in the store: {kitten_id}")
    for problem in outcome.problems:
        print(f"  FAILED: {problem}")
    return ("| store | visitors | seconds | kills | restarts | keeps confirmed | keeps found | "
            "links shown | in-flight failures | other errors | integrity |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|\n"
            f"| {outcome.store} | {outcome.visitors} | {outcome.seconds:.0f} | "
            f"{len(outcome.kills)} | {outcome.restarts} | {len(outcome.confirmed)} | "
            f"{len(outcome.found)} | {outcome.links} | {outcome.in_flight} | {outcome.other} | "
            f"{outcome.integrity} |")


def main(argv: list[str] | None = None) -> Outcome:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--visitors", type=int, default=20, help="at once (default: 20)")
    parser.add_argument("--kills", type=int, default=10,
                        help="SIGKILLs of an app process (default: 10)")
    parser.add_argument("--seconds", type=float, default=180,
                        help="the visits' length, the kills spread over it (default: 180; "
                             "longer when the restarts need it)")
    parser.add_argument("--db", metavar="URL", help="a PostgreSQL store "
                        "(postgresql+psycopg://...; default: SQLite in a temporary folder)")
    parser.add_argument("--data-dir", metavar="FOLDER",
                        help="the SQLite store's folder, kept (default: a temporary one)")
    parser.add_argument("--timeout", type=float, default=60,
                        help="seconds a run may take before it counts as an error (default: 60)")
    parser.add_argument("--logs", type=Path, help="a folder for the processes' output")
    parser.add_argument("--model", help="a saved-model folder (default: the shipped model)")
    parser.add_argument("--gallery", help="a folder or zip of photos (default: the model's)")
    parser.add_argument("--seed", type=int, default=0, help="for the kills and the visitors")
    args = parser.parse_args(argv)
    if args.visitors < 1 or args.kills < 0 or args.seconds <= 0 or args.timeout <= 0:
        parser.error("--visitors, --seconds and --timeout must be positive, --kills 0 or more")
    if args.db and args.data_dir:
        parser.error("--db or --data-dir, not both")
    print(f"keep_crash: {args.visitors} visitors, {args.kills} kills in {args.seconds:.0f} s, "
          f"{'SQLite' if args.db is None else 'PostgreSQL'}; load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    try:
        outcome = crash_run(args.visitors, args.kills, args.seconds, db=args.db,
                            data_dir=args.data_dir, timeout=args.timeout, seed=args.seed,
                            model=args.model, gallery=args.gallery, logs=args.logs)
    except (RuntimeError, SessionError) as e:
        sys.exit(f"keep_crash: {e}")
    print("\n" + report(outcome))
    return outcome


if __name__ == "__main__":
    # SIGTERM stops it like Ctrl+C; serve_many's `finally` stops the servers
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        sys.exit(0 if main().passed else 1)
    except KeyboardInterrupt:
        sys.exit("interrupted (the servers it started are stopped)")
