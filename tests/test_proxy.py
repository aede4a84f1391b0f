"""Two app processes behind haproxy (deploy/serve_many.py), driven through the proxy by
lightweight websocket visitors (benchmarks/st_client.py): cookies spread visitors over both
processes, and keep each one's session, pictures and reconnections on its own process; a killed
process is started again on its port while its visitors move to the other, both share one
kitten store, and SIGTERM stops everything. scripts/test installs haproxy for it."""

from __future__ import annotations

import asyncio
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import REPO

from kitten_mixer.store import KittenStore
from kitten_mixer.webapp import share, stored
from kitten_mixer.webapp.launch import answers_health, free_port
from kitten_mixer.webapp.texts import DEFAULT_LANGUAGE, TEXTS

sys.path += [str(REPO / "benchmarks"), str(REPO / "deploy")]
from app_load import kept_ids  # noqa: E402  (scripts, not a package)
from serve_many import serve_many  # noqa: E402
from st_client import Page, WebsocketVisitor  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def farm(tmp_path_factory, haproxy):
    with serve_many(2, free_port(), logs=tmp_path_factory.mktemp("logs"), timeout=60,
                    data_dir=tmp_path_factory.mktemp("store")) as farm:
        yield farm


def metric(app_url: str, name: str) -> int:
    """A number from the app process's own /_stcore/metrics, asked directly, not via haproxy."""
    with urllib.request.urlopen(f"{app_url}/_stcore/metrics", timeout=10) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith(name + " "):
                return int(float(line.split()[1]))
    raise AssertionError(f"{app_url}: no metric {name}")


def status(url: str, cookies: str = "") -> int:
    request = urllib.request.Request(url, headers={"Cookie": cookies} if cookies else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()
            return answer.status
    except urllib.error.HTTPError as e:
        return e.code


def fine(page: Page) -> Page:
    assert not page.problems, page.problems
    return page


def test_cookies_spread_visitors_from_one_address_over_both_processes(farm):
    async def visit() -> list[str]:
        visitors = [WebsocketVisitor(farm.url, timeout=60) for _ in range(4)]
        try:
            for visitor in visitors:
                fine(await visitor.open())
            assert [metric(url, "active_sessions") for url in farm.app_urls] == [2, 2]
            return [visitor.cookies for visitor in visitors]
        finally:
            for visitor in visitors:
                await visitor.close()

    cookies = asyncio.run(visit())
    assert sorted(cookies) == ["SERVERID=app1"] * 2 + ["SERVERID=app2"] * 2


def test_a_visitor_stays_on_its_process_across_reruns_and_a_reconnect(farm):
    async def visit() -> tuple[WebsocketVisitor, Page]:
        async with WebsocketVisitor(farm.url, timeout=60) as visitor:
            page = fine(await visitor.open())
            a, b = (key.removeprefix("select-") for key in page.keys("select-")[:2])
            fine(await visitor.click(f"select-{a}"))
            for _ in range(3):  # reruns with no new input: the choice is kept
                assert fine(await visitor.rerun()).keys("remove-") == [f"remove-{a}"]
            page = fine(await visitor.click(f"select-{b}"))
            assert sorted(page.keys("remove-")) == sorted([f"remove-{a}", f"remove-{b}"])
            assert TEXTS["morph"][DEFAULT_LANGUAGE] in page.headings
        return visitor, page

    visitor, page = asyncio.run(visit())
    home = int(visitor.cookies.removeprefix("SERVERID=app")) - 1
    other = farm.app_urls[1 - home]
    # The pictures of its page live in the memory of the visitor's process: through the proxy
    # with its cookie every one is found; the other process lacks the morph's (the gallery's
    # own pictures are the same bytes, so the same files, on both)
    assert len(page.media) > 20
    assert all(status(farm.url + path, visitor.cookies) == 200 for path in page.media)
    assert sum(status(other + path) == 404 for path in page.media) >= 5

    async def come_back() -> Page:
        async with WebsocketVisitor(farm.url, timeout=60) as again:
            again.cookies = visitor.cookies
            return fine(await again.open(visitor.session_id))

    page = asyncio.run(come_back())  # a reloaded tab: the same session, both cats still chosen
    assert len(page.keys("remove-")) == 2
    assert metric(farm.app_urls[home], 'session_events_total{type="reconnect"}') == 1


# ---- deploy/serve_many.py as its users run it: a killed process comes back ---------------------

class Lines:
    """A process's output, line by line, read as it comes (waits have a timeout)."""

    def __init__(self, stream):
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match:
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            seen.append(line)
            if match := re.search(pattern, line):
                return match
        raise AssertionError(f"no line like {pattern!r} in {timeout:.0f} s; got {seen}")


def app_pid(parent: int, port: int) -> int:
    """The app process that serve_many (`parent`) started on `port`."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat[1]) == parent and str(port).encode() in command:
            return int(pid)
    raise AssertionError(f"no process of {parent} on port {port}")


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_serve_many_starts_a_killed_app_again_on_its_port_and_sigterm_stops_all(tmp_path,
                                                                               haproxy):
    command = [sys.executable, str(REPO / "deploy" / "serve_many.py"), "--processes", "2",
               "--port", str(free_port()), "--data-dir", str(tmp_path / "store")]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, start_new_session=True)
    try:
        out, err = Lines(server.stdout), Lines(server.stderr)
        started = out.wait_for(r"Kitten Mixer: (http://\S+) \(2 app processes on (\d+), (\d+),")
        url, ports = started[1], [int(started[2]), int(started[3])]
        pids = [app_pid(server.pid, port) for port in ports]

        async def keep() -> tuple[str, str]:
            async with WebsocketVisitor(url, timeout=60) as visitor:
                page = fine(await visitor.open())
                for key in page.keys("select-")[:2]:
                    page = fine(await visitor.click(key))
                found, _ = kept_ids(fine(await visitor.click("keep-mix")))
                assert len(found) == 1
                return visitor.server, found[0]

        home, kitten_id = asyncio.run(keep())
        victim = int(home.removeprefix("app")) - 1
        os.kill(pids[victim], signal.SIGKILL)

        async def open_link() -> Page:  # a new visitor at once: the other process serves it
            async with WebsocketVisitor(url, timeout=60,
                                        query=f"{share.KITTEN}={kitten_id}") as visitor:
                page = fine(await visitor.open())
                assert visitor.server != home
                return page

        assert f"remove-{stored.key_of(kitten_id)}" in asyncio.run(open_link()).widgets
        restart = err.wait_for(rf"serve_many: {home} \(port (\d+)\) killed by SIGKILL after "
                               r"\d+ s; started again as pid (\d+) \(restart 1\)")
        assert int(restart[1]) == ports[victim]
        new_pid = int(restart[2])
        deadline = time.monotonic() + 60
        while not answers_health(f"http://127.0.0.1:{ports[victim]}"):
            assert time.monotonic() < deadline, "the killed app did not come back"
            time.sleep(0.2)
        assert app_pid(server.pid, ports[victim]) == new_pid != pids[victim]

        server.send_signal(signal.SIGTERM)
        assert server.wait(60) == 0
        assert all(gone(pid) for pid in [new_pid, pids[1 - victim]])
        assert not any(answers_health(f"http://127.0.0.1:{port}") for port in ports)
        with KittenStore.open(folder=tmp_path / "store") as store:  # the one both used
            assert store.get(kitten_id) is not None
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def test_an_app_that_dies_before_it_answers_is_started_again_after_growing_pauses(monkeypatch):
    """No spinning: a process that never answers its health check (a broken app) waits 2 s,
    then 4 s... before its next start; one that answered is started again at once."""
    import serve_many as deploy

    def dying() -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
        process.wait()
        return process

    clock = [1000.0]
    monkeypatch.setattr(deploy.time, "monotonic", lambda: clock[0])
    said: list[str] = []
    app = deploy.App("app1", free_port(), dying())  # it had answered: a crash, not a loop
    watcher = deploy._Watcher([app], lambda _app: dying(), said.append)
    watcher.look_after(app)  # it had answered: started again at once
    assert (app.restarts, app.pause, app.due) == (1, 0, None)
    for restarts, pause in ((2, 2), (3, 4), (4, 8)):
        watcher.look_after(app)  # dead before it answered: a pause first
        assert (app.restarts, app.pause) == (restarts - 1, pause)
        clock[0] += pause - 0.1
        watcher.look_after(app)
        assert app.restarts == restarts - 1
        clock[0] += 0.1
        watcher.look_after(app)
        assert app.restarts == restarts
    assert said[0].startswith(f"serve_many: app1 (port {app.port}) exited with status 3 after")
    assert "before it answered; started again after a 2 s pause as pid" in said[1]
    assert said[1].endswith("(restart 2)") and len(said) == 4
