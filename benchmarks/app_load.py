"""App load: many lightweight visitors at once against a real app server, timed on the server.

Each visitor is a websocket client that speaks Streamlit's protocol (st_client.py), not a
browser: it opens a session, chooses two cats with the gallery's select buttons, waits for the
morph, moves the mix slider and, when the page has them (found by their widget keys), keeps the
mixed kitten (stored in the kitten store; the page's "kept" toast confirms it), opens a link to
a kitten kept earlier by any visitor (`?k=ID`, in a second session from the same browser, as a
new tab, closed after its first page), opens the genes' panel and moves a gene slider, chooses a
third cat and moves a share of the blend; then it removes its cats and starts again, and now
and then turns the gallery's page first. Visitors act as soon as their last page has arrived
(no thinking time unless --think), so this is the most load N visitors can make. A visitor's
session keeps at most --keeps-a-minute kittens a minute (the store refuses an owner's 31st in a
minute, and a session is one owner: this client runs no JavaScript, so it never gets the cookie
that would carry the visitor's token to its next session).

Measured at 1, 5, 20 and 50 visitors for 60 s each (--clients, --seconds): morphs a second,
and server time, from sending a rerun to its script_finished message, p50 and p95, of the
morphs, the keeps, the link opens (the new session's first page run) and every run. Errors: an
exception element or an error message on a page, a page with no morph after two choices, a keep
the page does not confirm, a link that does not show its kitten, a closed socket, a run that
does not finish within --timeout; counted apart for keeps and links too. It ends by printing the
README's table rows.

--keep-cost N measures instead what a keep adds to its page run, with one visitor: N times it
moves the mix slider to a kitten not kept yet, asks for the same page again (a plain rerun,
nothing new: the page without a keep) and then clicks keep; the keep's server time minus the
plain run's just before it, paired, is the keep's cost (the blend's code, its face drawn and
encoded, the store's write, the gallery's new card and the toast).

    python benchmarks/app_load.py                          # one app server it starts
    python benchmarks/app_load.py --processes 2 --clients 20 50    # 2 behind haproxy
    python benchmarks/app_load.py --url http://127.0.0.1:8500      # a server already running
    python benchmarks/app_load.py --keep-cost 40                   # a keep's own server time

The servers it starts (webapp.launch, or deploy/serve_many.py with --processes) are
stopped at the end, on errors and Ctrl+C too; they keep kittens in a SQLite store in a temporary
folder, removed at the end (--data-dir FOLDER to keep it, --db URL for PostgreSQL). --url takes
loopback addresses only. Before each level it waits for every visitor's first page, so the
model's loading is not timed.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import ipaddress
import os
import random
import re
import signal
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from app_common import MORPH, kept_names, percentile
from st_client import Page, SessionError, WebsocketVisitor

from kitten_mixer.store.kittens import MAX_KEEPS
from kitten_mixer.webapp import share, stored
from kitten_mixer.webapp.launch import app_environment, free_port, serve_in_background

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "deploy"))
from serve_many import serve_many  # noqa: E402  (deploy/ is a folder of scripts)

KINDS = ("open", "choose", "morph", "mix", "keep", "link", "panel", "gene", "blend", "remove",
         "page")
# A session's keeps a minute, at most: the store refuses an owner's (MAX_KEEPS + 1)th in a minute
KEEPS_A_MINUTE = MAX_KEEPS * 2 // 3


@dataclass
class Tally:
    """What the visitors of one level saw."""

    server_ms: dict[str, list[float]] = field(
        default_factory=lambda: collections.defaultdict(list))  # by kind of interaction
    morphs: int = 0  # finished before the deadline
    new_pairs: int = 0  # morphs of pairs no visitor of this script had asked for before
    errors: collections.Counter = field(default_factory=collections.Counter)  # by error
    step_errors: collections.Counter = field(  # by the kind of interaction that met them
        default_factory=collections.Counter)
    examples: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # ids of the keeps the page confirmed
    links: int = 0  # links that showed their kitten

    def error(self, visitor: int, kind: str, detail: str, step: str = "") -> None:
        self.errors[kind] += 1
        self.step_errors[step] += 1
        if len(self.examples) < 6:
            self.examples.append(f"visitor {visitor}: {kind}"
                                 f"{f' ({step})' if step else ''}: {detail[:200]}")


@dataclass
class Settings:
    url: str
    timeout: float
    next_chance: float
    think: float
    keep: re.Pattern
    gene: re.Pattern
    share: re.Pattern
    panel: str  # the key of the genes' panel
    keeps_a_minute: int = KEEPS_A_MINUTE  # a session's keeps, at most
    link_chance: float = 1.0  # of opening a kept kitten's link in a round


def kept_ids(page: Page) -> tuple[list[str], list[str]]:
    """The ids of the kittens the page says were kept (its toast names each, and the kitten
    comes first in the gallery: its select button's key holds its id), and the names it says
    were kept but shows no card of."""
    cards = [key.removeprefix("select-" + stored.KEY_PREFIX) for key in page.widgets
             if key.startswith("select-" + stored.KEY_PREFIX)]
    found, unknown = [], []
    for name in kept_names(page.toasts):
        ids = [i for i in cards if stored.kitten_name(i) == name]
        (found if ids else unknown).append(ids[0] if ids else name)
    return found, unknown


class LoadVisitor:
    """One visitor doing the rounds until its deadline; after an error, in a new session.
    `kept`: the ids of the kittens every visitor kept (shared), whose links it opens."""

    def __init__(self, number: int, settings: Settings, tally: Tally, seen: set,
                 rng: random.Random, kept: list[str] | None = None):
        self.number, self.settings, self.tally, self.seen, self.rng = (
            number, settings, tally, seen, rng)
        self.kept = [] if kept is None else kept
        self.session: WebsocketVisitor | None = None
        self.tab: WebsocketVisitor | None = None  # a link opened, till its first page
        self.keeps: collections.deque[float] = collections.deque()  # this session's, when
        self.doing = "open"  # the kind of interaction under way
        self.deadline = 0.0

    @property
    def sessions(self) -> list[WebsocketVisitor]:
        """The sessions this visitor has open now."""
        return [s for s in (self.session, self.tab) if s is not None]

    async def connect(self) -> None:
        self.doing = "open"
        self.session = WebsocketVisitor(self.settings.url, self.settings.timeout)
        self.keeps.clear()  # a new session keeps under a new token
        self.check(await self.session.open())

    async def start(self) -> None:
        """The first page, before the clock starts."""
        await self.attempt(self.connect)

    async def run(self, deadline: float) -> None:
        """Do the rounds till `deadline` (self.deadline: another task may move it)."""
        self.deadline = deadline
        while time.monotonic() < self.deadline:
            if self.session is None and not await self.attempt(self.connect):
                continue
            await self.attempt(self.round)

    def late(self) -> bool:
        return time.monotonic() >= self.deadline

    async def attempt(self, work) -> bool:
        """Await `work()`; on a failure count it and drop the session (the next try opens a
        new one, as a visitor who reloads the page)."""
        try:
            await work()
            return True
        except SessionError as e:
            kind = "timeout" if "script_finished" in str(e) else "session lost"
            self.error(kind, str(e), lost=True)
        except IndexError:
            self.error("no cat to choose", "fewer than two enabled")
        await self.close()
        await asyncio.sleep(0.5)
        return False

    def error(self, kind: str, detail: str, lost: bool = False) -> None:
        """Count an error, met while doing self.doing; `lost`: the session was lost (a closed
        socket, a run that never finished, no connection)."""
        self.tally.error(self.number, kind, detail, self.doing)

    async def close(self) -> None:
        for session in self.sessions:
            with contextlib.suppress(Exception):
                await session.close()
        self.session = self.tab = None

    def check(self, page: Page) -> Page:
        for problem in page.problems:
            self.error(problem.split(":")[0], problem)
        return page

    async def act(self, kind: str, action) -> Page:
        """Await one interaction's page (`action`, a coroutine), counted as `kind`."""
        self.doing = kind
        page = self.check(await action)
        self.tally.server_ms[kind].append(page.server_ms)
        if self.settings.think:
            await asyncio.sleep(self.settings.think * self.rng.uniform(0.5, 1.5))
        return page

    def may_keep(self) -> bool:
        """Whether this session has kept fewer than its limit in the last minute."""
        now = time.monotonic()
        while self.keeps and now - self.keeps[0] > 60:
            self.keeps.popleft()
        return len(self.keeps) < self.settings.keeps_a_minute

    async def keep(self, key: str) -> Page:
        """Click a keep button; the kittens the page then says were kept join `kept`."""
        self.keeps.append(time.monotonic())
        page = await self.act("keep", self.session.click(key))
        found, unknown = kept_ids(page)
        if not found and not unknown and not page.problems:
            self.error("keep not confirmed", f"no \"kept\" note after clicking {key}")
        for name in unknown:
            self.error("kept kitten not shown", f"the page kept {name} but shows no card of it")
        self.confirmed(found)
        return page

    def confirmed(self, ids: list[str]) -> None:
        """Keeps the page confirmed."""
        self.tally.kept.extend(ids)
        self.kept.extend(ids)

    async def open_link(self) -> None:
        """Open the link of a kitten some visitor kept (`?k=ID`) in a new tab of this visitor's
        browser (its cookies: the same app process), check that it shows the kitten, close it."""
        if not self.kept or self.late():
            return
        kitten_id = self.rng.choice(self.kept)
        self.doing = "link"
        self.tab = WebsocketVisitor(self.settings.url, self.settings.timeout,
                                    query=f"{share.KITTEN}={kitten_id}")
        self.tab.cookies = self.session.cookies
        try:
            page = await self.act("link", self.tab.open())
            if f"remove-{stored.key_of(kitten_id)}" not in page.widgets:
                self.error("link not shown", f"?{share.KITTEN}={kitten_id}: {page.warnings}")
            else:
                self.tally.links += 1
        finally:
            tab, self.tab = self.tab, None
            with contextlib.suppress(Exception):
                await tab.close()

    async def round(self) -> None:
        """Choose two cats, morph, mix, keep, open a kept kitten's link, move a gene, remove
        the cats."""
        session, rng = self.session, self.rng
        page = session.page
        if rng.random() < self.settings.next_chance and (turns := page.keys("next")
                                                           or page.keys("previous")):
            page = await self.act("page", session.click(turns[0]))
        a = rng.choice(page.keys("select-"))
        page = await self.act("choose", session.click(a))
        b = rng.choice([k for k in page.keys("select-") if k != a])
        if self.late():
            return
        page = await self.act("morph", session.click(b))
        if MORPH not in page.headings:
            self.error("no morph", f"after choosing {a} and {b}")
        elif not self.late():
            self.tally.morphs += 1
            self.tally.new_pairs += (a, b) not in self.seen
            self.seen.add((a, b))
        sliders = [k for k, w in page.widgets.items() if w.kind == "slider" and not w.disabled]
        steps = [("mix", "ratio" if "ratio" in sliders else None),
                 ("keep", next((k for k in page.keys("") if self.settings.keep.search(k)
                                and page.widgets[k].kind == "button"), None))]
        for kind, key in steps:
            if key is None or self.late():
                continue
            if kind == "keep":
                if self.may_keep():
                    page = await self.keep(key)
            else:
                page = await self.act(kind, session.slide(key, self.slider_value(page, key)))
        if rng.random() < self.settings.link_chance:
            await self.open_link()
        page = await self.tune(page)
        page = await self.blend(page)
        for _ in range(8):  # the chosen cats, one by one: up to the most a blend takes, and more
            if not (chosen := page.keys("remove-")) or self.late():
                break
            page = await self.act("remove", session.click(chosen[0]))

    async def tune(self, page: Page) -> Page:
        """Open the genes' panel (when the page has one) and move one of its sliders."""
        if self.settings.panel in page.widgets and not self.late():
            page = await self.act("panel", self.session.open_panel(self.settings.panel))
        genes = [k for k, w in page.widgets.items()
                 if w.kind == "slider" and not w.disabled and self.settings.gene.search(k)]
        if genes and not self.late():
            key = self.rng.choice(genes)
            page = await self.act("gene", self.session.slide(key, self.slider_value(page, key)))
        return page

    async def blend(self, page: Page) -> Page:
        """Choose a third cat (the page then blends them) and move one cat's share."""
        others = [k for k in page.keys("select-")]
        if not others or self.late():
            return page
        page = await self.act("blend", self.session.click(self.rng.choice(others)))
        shares = [k for k in page.keys("") if self.settings.share.search(k)
                  and page.widgets[k].kind == "slider"]
        if shares and not self.late():
            key = self.rng.choice(shares)
            page = await self.act("blend", self.session.slide(key, self.slider_value(page, key)))
        return page

    def slider_value(self, page: Page, key: str) -> float:
        low, high, step = page.widgets[key].span
        return low + step * self.rng.randint(0, round((high - low) / step)) if step else low


async def visit(settings: Settings, clients: int, seconds: float, seen: set, seed: int,
                groups: list[int], kept: list[str]) -> tuple[Tally, float, list[float]]:
    """`clients` visitors at once for `seconds`: the tally, the seconds it took, and the CPU
    seconds spent meanwhile (cpu_seconds). `kept`: the kittens kept so far (more join)."""
    tally = Tally()
    crowd = [LoadVisitor(n, settings, tally, seen, random.Random(seed * 1000 + n), kept)
             for n in range(clients)]
    try:
        await asyncio.gather(*(v.start() for v in crowd))  # first pages: not timed
        cpu, began = cpu_seconds(groups), time.monotonic()
        # Every loop stops at the deadline; an action under way then ends within the timeout
        # (each wait of a WebsocketVisitor has one)
        await asyncio.gather(*(v.run(began + seconds) for v in crowd))
        elapsed = time.monotonic() - began
        return tally, elapsed, [b - a for a, b in zip(cpu, cpu_seconds(groups))]
    finally:
        await asyncio.gather(*(v.close() for v in crowd))


# ---- CPU and memory: who kept the cores busy ---------------------------------------------------

def _group_stats(groups: list[int]) -> Iterator[tuple[str, list[str]]]:
    """(pid, the fields of /proc/pid/stat after the name) of every process in these groups."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError, IndexError, ValueError):
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read().rsplit(")", 1)[1].split()
            if int(stat[2]) in groups:
                yield pid, stat


def cpu_seconds(groups: list[int]) -> tuple[float, float, float]:
    """CPU seconds so far: the whole machine's, the given process groups', this process's."""
    tick = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    machine = (sum(fields[:8]) - fields[3] - fields[4]) / tick  # all but idle and iowait
    server = sum(int(stat[11]) + int(stat[12]) for _, stat in _group_stats(groups)) / tick
    return machine, server, time.process_time()


def resident_mib(groups: list[int]) -> float:
    """The memory the given process groups hold now (resident set), MiB."""
    pages = 0
    for pid, _ in _group_stats(groups):
        with contextlib.suppress(OSError, IndexError, ValueError):
            with open(f"/proc/{pid}/statm") as f:
                pages += int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass
class Level:
    clients: int
    tally: Tally
    seconds: float  # the clock: morphs count when they end within it
    elapsed: float  # till the last visitor stopped
    # Busy cores: the server (unknown with --url: among everything else), this script, the rest
    cores: tuple[float | None, float, float]
    load: float
    memory: float | None  # the server's resident MiB at the end


def measure(settings: Settings, clients: int, seconds: float, groups: list[int], seen: set,
            seed: int, kept: list[str]) -> Level:
    tally, elapsed, (machine, server, mine) = asyncio.run(
        visit(settings, clients, seconds, seen, seed, groups, kept))
    cores = (server / elapsed if groups else None, mine / elapsed,
             max(0.0, machine - server - mine) / elapsed)
    return Level(clients, tally, seconds, elapsed, cores, os.getloadavg()[0],
                 resident_mib(groups) if groups else None)


def report(level: Level, where: str) -> str:
    """Print what one level measured; return its README table row."""
    tally, runs = level.tally, [ms for times in level.tally.server_ms.values() for ms in times]
    errors = sum(tally.errors.values())
    rate = tally.morphs / level.seconds
    print(f"\n{level.clients} visitors, {where}: {tally.morphs} morphs in {level.seconds:.0f} s "
          f"({rate:.2f} a second; {tally.new_pairs} of pairs new to this script), "
          f"{len(tally.kept)} keeps confirmed, {tally.links} links shown, {len(runs)} "
          f"runs in {level.elapsed:.0f} s (runs under way at the end finish), {errors} errors")
    print(f"  {'server ms':<10} {'n':>5} {'p50':>7} {'p95':>7} {'max':>7}")
    for kind, times in [*((k, tally.server_ms[k]) for k in KINDS), ("every run", runs)]:
        if times:
            print(f"  {kind:<10} {len(times):>5} {percentile(times, 50):>7.0f} "
                  f"{percentile(times, 95):>7.0f} {max(times):>7.0f}")
    server, mine, others = level.cores
    server_cores = "?" if server is None else f"{server:.2f}"
    print(f"  busy cores (of {os.cpu_count()}): server {server_cores}, this script {mine:.2f}, "
          f"everything else {others:.2f}; load average {level.load:.1f}"
          + (f"; server memory {level.memory:.0f} MiB" if level.memory else ""))
    for kind, n in tally.errors.items():
        print(f"  errors: {kind} {n}")
    for step, n in tally.step_errors.items():
        print(f"  errors while doing {step or '?'}: {n}")
    for example in tally.examples:
        print(f"    {example}")
    return (f"| {level.clients} | {where} | {rate:.2f} | "
            f"{_p50_p95(tally.server_ms['morph'])} | {_p50_p95(tally.server_ms['gene'])} | "
            f"{_p50_p95(tally.server_ms['blend'])} | {_p50_p95(tally.server_ms['keep'])} | "
            f"{_p50_p95(tally.server_ms['link'])} | {_p50_p95(runs)} | {errors} | "
            f"{tally.step_errors['keep']} / {tally.step_errors['link']} | "
            f"{server_cores} / {mine:.2f} / {others:.2f} |")


HEADER = ("| clients | server | morphs/s | morph p50 / p95 ms | gene p50 / p95 ms | "
          "blend p50 / p95 ms | keep p50 / p95 ms | link p50 / p95 ms | "
          "every run p50 / p95 ms | errors | of which keep / link | "
          "busy cores: server / load script / others |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|")


def _p50_p95(times: list[float]) -> str:
    return f"{percentile(times, 50):.0f} / {percentile(times, 95):.0f}" if times else "-"


@dataclass
class Target:
    """The server under load: its URL, its name in the table, its process groups (for their
    CPU) and where its output goes (for tracebacks); the last two unknown with --url."""

    url: str
    name: str
    groups: list[int] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)  # the apps'
    proxy_log: Path | None = None  # haproxy's: it logs only what went wrong

    def problems(self) -> tuple[int, int]:
        """Tracebacks in the apps' output, lines in haproxy's, so far."""
        tracebacks = sum(log.read_text(errors="replace").count("Traceback")
                         for log in self.logs if log.exists())
        proxy = self.proxy_log
        return tracebacks, len(proxy.read_text().splitlines()) if proxy and proxy.exists() else 0


@contextlib.contextmanager
def store_folder(args: argparse.Namespace) -> Iterator[str | None]:
    """The SQLite store's folder for the servers started here: --data-dir, else a temporary
    one removed at the end; None with --db (PostgreSQL) or --url (the server's own store)."""
    if args.db or args.url:
        yield None
    elif args.data_dir:
        yield args.data_dir
    else:
        with tempfile.TemporaryDirectory(prefix="kitten-mixer-load-store-") as folder:
            yield folder


@contextlib.contextmanager
def target(args: argparse.Namespace) -> Iterator[Target]:
    """The server to load: started here (and stopped on exit) unless --url names one."""
    if args.url:
        yield Target(args.url.rstrip("/"), "a running server")
        return
    with store_folder(args) as data_dir:
        if args.processes:
            with tempfile.TemporaryDirectory(prefix="kitten-mixer-load-") as logs, \
                    serve_many(args.processes, args.port or free_port(), model=args.model,
                               gallery=args.gallery, logs=Path(logs), timeout=args.timeout,
                               data_dir=data_dir, db=args.db) as farm:
                yield Target(farm.url, f"{args.processes} processes behind haproxy",
                             [p.pid for p in farm.processes],
                             list(Path(logs).glob("app*.log")), Path(logs) / "haproxy.log")
        else:
            env = app_environment(args.model, args.gallery, data_dir, args.db)
            with serve_in_background(env) as app:
                app.wait_healthy(args.timeout)
                yield Target(app.url, "1 process", [app.process.pid], [app.log])


def loopback(url: str) -> str:
    """The URL, if it names this machine's loopback; load goes nowhere else."""
    host = urllib.parse.urlsplit(url).hostname or ""
    with contextlib.suppress(ValueError):
        if host == "localhost" or ipaddress.ip_address(host).is_loopback:
            return url
    raise argparse.ArgumentTypeError(f"{url}: not a loopback address (127.0.0.1, localhost)")


async def keep_cost(settings: Settings, samples: int, seed: int
                    ) -> tuple[list[float], list[float]]:
    """One visitor, `samples` times: the mix slider moved to a kitten not kept yet, the same
    page asked for again (a plain rerun: the page without a keep), then the keep clicked. The
    plain runs' and the keeps' server times, in pairs. A new session (a new owner) every
    settings.keeps_a_minute keeps, so the store's rate limit never answers."""
    rng = random.Random(seed)
    plain: list[float] = []
    keeps: list[float] = []
    visitor: WebsocketVisitor | None = None
    ratios: list[float] = []
    try:
        while len(keeps) < samples:
            if visitor is None or not ratios or len(keeps) % settings.keeps_a_minute == 0:
                if visitor is not None:
                    await visitor.close()
                visitor = WebsocketVisitor(settings.url, settings.timeout)
                page = await visitor.open()
                a = rng.choice(page.keys("select-"))
                page = await visitor.click(a)
                page = await visitor.click(rng.choice([k for k in page.keys("select-")
                                                        if k != a]))
                low, high, step = page.widgets["ratio"].span
                ratios = [low + step * i for i in range(round((high - low) / step) + 1)]
                rng.shuffle(ratios)
            await visitor.slide("ratio", ratios.pop())
            base = await visitor.rerun()
            kept = await visitor.click("keep-mix")
            found, _ = kept_ids(kept)
            if base.problems or kept.problems or len(found) != 1:
                raise SessionError(f"a keep the page did not confirm: {kept.problems} "
                                   f"{kept.toasts}")
            plain.append(base.server_ms)
            keeps.append(kept.server_ms)
    finally:
        if visitor is not None:
            await visitor.close()
    return plain, keeps


def report_keep_cost(plain: list[float], keeps: list[float], where: str) -> None:
    added = [k - p for p, k in zip(plain, keeps)]
    print(f"\nkeep's cost, 1 visitor, {where}: {len(keeps)} keeps, each after a plain run of "
          "the same page")
    print(f"  {'server ms':<22} {'p50':>7} {'p95':>7} {'mean':>7}")
    for name, times in (("plain run", plain), ("keep's run", keeps),
                        ("added by the keep", added)):
        print(f"  {name:<22} {percentile(times, 50):>7.1f} {percentile(times, 95):>7.1f} "
              f"{sum(times) / len(times):>7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 5, 20, 50],
                        help="visitors at once, one level each (default: 1 5 20 50)")
    parser.add_argument("--seconds", type=float, default=60, help="per level (default: 60)")
    parser.add_argument("--url", type=loopback, help="load this server (loopback only) "
                        "instead of starting one")
    parser.add_argument("--processes", type=int, default=0,
                        help="start this many app processes behind haproxy "
                             "(deploy/serve_many.py) instead of one plain server")
    parser.add_argument("--port", type=int, default=0,
                        help="haproxy's port with --processes (default: a free one)")
    parser.add_argument("--db", metavar="URL", help="the kitten store of the servers started "
                        "here (default: SQLite in a temporary folder)")
    parser.add_argument("--data-dir", metavar="FOLDER",
                        help="the SQLite store's folder for the servers started here, kept")
    parser.add_argument("--timeout", type=float, default=60,
                        help="seconds a run may take before it counts as an error (default: 60)")
    parser.add_argument("--next-chance", type=float, default=0.2,
                        help="chance of turning the gallery's page before a round (default: 0.2)")
    parser.add_argument("--think", type=float, default=0,
                        help="mean seconds a visitor waits after each page (default: 0)")
    parser.add_argument("--keep-key", default=r"^keep-mix$",
                        help="regex of the keep-a-kitten button's key, the first match is "
                             "clicked (default: ^keep-mix$, the mixed kitten's)")
    parser.add_argument("--keeps-a-minute", type=int, default=KEEPS_A_MINUTE,
                        help="a session's keeps a minute, at most (default: "
                             f"{KEEPS_A_MINUTE}; the store allows {MAX_KEEPS})")
    parser.add_argument("--link-chance", type=float, default=1.0,
                        help="chance of opening a kept kitten's link in a round (default: 1)")
    parser.add_argument("--gene-key", default=r"^gene-",
                        help="regex of the gene sliders' keys, one is moved (default: ^gene-)")
    parser.add_argument("--share-key", default=r"^share-",
                        help="regex of the blend's share sliders' keys (default: ^share-)")
    parser.add_argument("--panel-key", default="tune",
                        help="the key of the genes' panel, opened first (default: tune)")
    parser.add_argument("--keep-cost", type=int, default=0, metavar="N",
                        help="instead of the levels: what N keeps add to their page runs, "
                             "one visitor")
    parser.add_argument("--model", help="a saved-model folder (default: the shipped model)")
    parser.add_argument("--gallery", help="a folder or zip of photos (default: the model's)")
    parser.add_argument("--seed", type=int, default=0, help="for the visitors' choices")
    args = parser.parse_args()
    if args.url and (args.processes or args.db or args.data_dir):
        parser.error("--url loads a running server: no --processes, --db or --data-dir")
    if args.db and args.data_dir:
        parser.error("--db or --data-dir, not both")
    if min(args.clients) < 1 or args.seconds <= 0 or args.timeout <= 0 \
            or args.keeps_a_minute < 1 or args.keep_cost < 0:
        parser.error("--clients, --seconds, --timeout and --keeps-a-minute must be positive")
    # SIGTERM stops it like Ctrl+C (asyncio.run turns that into cancelling the visitors, whose
    # sockets close); the `finally` blocks stop the servers
    signal.signal(signal.SIGTERM, lambda *_: signal.raise_signal(signal.SIGINT))
    rows, seen, kept = [], set(), []
    with target(args) as server:
        settings = Settings(server.url, args.timeout, args.next_chance, args.think,
                            re.compile(args.keep_key), re.compile(args.gene_key),
                            re.compile(args.share_key), args.panel_key, args.keeps_a_minute,
                            args.link_chance)
        if args.keep_cost:
            print(f"keep's cost: {server.name} ({server.url}), load average "
                  f"{os.getloadavg()[0]:.1f}")
            plain, keeps = asyncio.run(keep_cost(settings, args.keep_cost, args.seed))
            report_keep_cost(plain, keeps, server.name)
            return
        print(f"load: {server.name} ({server.url}); {', '.join(map(str, args.clients))} "
              f"visitors, {args.seconds:.0f} s each, load average {os.getloadavg()[0]:.1f}")
        for i, clients in enumerate(args.clients):
            before = server.problems()
            level = measure(settings, clients, args.seconds, server.groups, seen, args.seed + i,
                            kept)
            rows.append(report(level, server.name))
            tracebacks, proxy = (b - a for a, b in zip(before, server.problems()))
            if server.logs:
                print(f"  tracebacks in the apps' output: {tracebacks}"
                      + (f"; lines in haproxy's log (errors and retries only): {proxy}"
                         if server.proxy_log else ""))
    print("\n" + HEADER)
    print("\n".join(rows))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted (the servers it started are stopped)")
