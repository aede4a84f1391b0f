"""Keeps survive crashes, a short benchmarks/keep_crash.py: a few websocket visitors keep
kittens and open kept kittens' links against two app processes behind haproxy while one process
is SIGKILLed two or three times (deploy/serve_many.py starts it again); then every keep the page
confirmed is in the store, the database checks clean, and no page failed but the killed
process's in-flight ones. On SQLite, and on the tests' throwaway PostgreSQL server
(tests/postgres.py). scripts/test installs haproxy and PostgreSQL for it."""

from __future__ import annotations

import asyncio
import random
import re
import socket
import sys
import threading

import pytest
from conftest import REPO

sys.path += [str(REPO / "benchmarks"), str(REPO / "deploy")]
import app_load  # noqa: E402  (scripts, not a package)
import keep_crash  # noqa: E402
import st_client  # noqa: E402


def cut_off_page_server() -> tuple[str, threading.Thread]:
    """A server that sends a page's headers (haproxy's cookie among them) and dies before its
    body, as an app process killed mid-answer does; it answers one request."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        with listener, listener.accept()[0] as connection:
            connection.recv(4096)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 7863\r\n"
                               b"Set-Cookie: SERVERID=app2; path=/\r\n\r\n")

    thread = threading.Thread(target=answer)
    thread.start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}", thread


def test_a_page_cut_off_mid_answer_is_a_lost_session_not_a_crash():
    url, server = cut_off_page_server()
    with pytest.raises(st_client.SessionError, match="cannot load the page"):
        asyncio.run(st_client.WebsocketVisitor(url, timeout=5).open())
    server.join()


def visitor_loading_a_page() -> keep_crash.CrashVisitor:
    settings = app_load.Settings("http://127.0.0.1:1", 5, 0.5, 0, re.compile("k"),
                                 re.compile("g"), re.compile("s"), "genes")
    visitor = keep_crash.CrashVisitor(0, settings, app_load.Tally(), set(), random.Random(0))
    visitor.session = st_client.WebsocketVisitor(settings.url)  # no cookie: page not come yet
    return visitor


def test_a_kill_dooms_a_session_still_loading_its_page():
    """Its route is unknown till the page comes, so haproxy may have sent it to the killed
    process; a session on the other process is not doomed."""
    visitor = visitor_loading_a_page()
    assert visitor.doom("app2") and visitor.doomed == "app2"
    visitor.error("session lost", "cannot load the page", lost=True)
    assert (visitor.in_flight, visitor.other) == (1, 0)
    visitor.session.cookies = "SERVERID=app1"
    assert not visitor.doom("app2") and not visitor.doomed
    visitor.error("session lost", "socket closed", lost=True)
    assert (visitor.in_flight, visitor.other) == (1, 1)


def crash(tmp_path, *args: str) -> keep_crash.Outcome:
    outcome = keep_crash.main(["--visitors", "4", "--seconds", "24", "--timeout", "30",
                               "--logs", str(tmp_path / "logs"), *args])
    assert len(outcome.kills) == outcome.restarts >= 2
    assert all(kill.back_after is not None for kill in outcome.kills)
    assert outcome.confirmed, "no keep was confirmed: the check would prove nothing"
    assert outcome.found == outcome.confirmed  # every confirmed keep is in the store
    assert outcome.stored >= len(outcome.confirmed)
    assert outcome.links > 0
    assert outcome.other == 0, outcome.tally.examples
    assert outcome.passed, outcome.problems
    return outcome


@pytest.mark.slow
@pytest.mark.usefixtures("haproxy")
def test_confirmed_keeps_survive_killed_app_processes_on_sqlite(tmp_path):
    outcome = crash(tmp_path, "--kills", "3", "--data-dir", str(tmp_path / "store"))
    assert outcome.integrity == "ok"  # SQLite's PRAGMA integrity_check


@pytest.mark.slow
@pytest.mark.usefixtures("haproxy")
def test_confirmed_keeps_survive_killed_app_processes_on_postgresql(tmp_path, postgres_server):
    outcome = crash(tmp_path, "--kills", "2", "--seed", "1",
                    "--db", postgres_server.new_database())
    assert outcome.integrity == "opens"
