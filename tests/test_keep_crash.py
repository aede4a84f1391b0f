"""Keeps survive crashes, a short benchmarks/keep_crash.py: a few websocket visitors keep
kittens and open kept kittens' links against two app processes behind haproxy while one process
is SIGKILLed two or three times (deploy/serve_many.py starts it again); then every keep the page
confirmed is in the store, the database checks clean, and no page failed but the killed
process's in-flight ones. On SQLite, and on the tests' throwaway PostgreSQL server
(tests/postgres.py). scripts/test installs haproxy and PostgreSQL for it."""

from __future__ import annotations

import os
import shutil
import sys

import pytest
from conftest import REPO

sys.path += [str(REPO / "benchmarks"), str(REPO / "deploy")]
import keep_crash  # noqa: E402  (a script, not a package)

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def haproxy() -> None:
    if shutil.which("haproxy") is None:
        if os.environ.get("CI"):
            pytest.fail("no haproxy: scripts/test installs it")
        pytest.skip("no haproxy on this machine (apt-get install haproxy; scripts/test "
                    "installs it)")


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


def test_confirmed_keeps_survive_killed_app_processes_on_sqlite(tmp_path):
    outcome = crash(tmp_path, "--kills", "3", "--data-dir", str(tmp_path / "store"))
    assert outcome.integrity == "ok"  # SQLite's PRAGMA integrity_check


def test_confirmed_keeps_survive_killed_app_processes_on_postgresql(tmp_path, postgres_server):
    outcome = crash(tmp_path, "--kills", "2", "--seed", "1",
                    "--db", postgres_server.new_database())
    assert outcome.integrity == "opens"
