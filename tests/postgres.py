"""A throwaway PostgreSQL server for the tests, started by the test run itself.

`initdb` makes a cluster in a fresh folder under the system's temp folder; `pg_ctl` starts it
listening on a unix socket in that folder only (no TCP port, so nothing else on the machine is
disturbed and no port can be taken); each test that asks gets a database of its own; the server
is stopped and its folder removed at the end of the session. It runs with fsync=off, for
speed: the tests stop the server (as a crash, even), never the machine, and a committed
transaction reaches the operating system's files either way. PostgreSQL refuses to run as
root, so as root (CI runs as root) the server runs as the system user `kitten-pg`, created with
useradd if missing, and owns the folder.

The binaries are found on PATH or in Debian's /usr/lib/postgresql/*/bin (scripts/test installs
Debian's postgresql package). Without them, or without psycopg, the PostgreSQL tests skip and
say why, except under CI=true, where they fail: CI never skips them silently.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

USER = "kitten-pg"
PORT = 5432  # only names the socket file: the server listens on no TCP port
SUPERUSER = "kitten"


def find_binaries() -> Path | None:
    """The folder of initdb, pg_ctl and postgres, or None."""
    on_path = shutil.which("pg_ctl")
    folders = [Path(os.path.realpath(on_path)).parent] if on_path else []
    # Debian keeps them out of PATH, one folder per major version: the newest first.
    folders += sorted((Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")),
                      key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
                      reverse=True)
    for folder in folders:
        if all((folder / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def missing_reason() -> str | None:
    """Why the PostgreSQL tests cannot run here, or None when they can."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[test]')"
    if find_binaries() is None:
        return ("PostgreSQL's initdb and pg_ctl are not installed (scripts/test installs "
                "Debian's postgresql package)")
    return None


def require_postgres() -> None:
    """Skip the calling test when PostgreSQL is missing; under CI=true, fail instead."""
    reason = missing_reason()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}: CI must run the PostgreSQL tests")
    pytest.skip(reason)


def _as_server_user(folder: Path) -> list[str]:
    """The command prefix that runs the server's programs as a user PostgreSQL accepts, after
    giving that user `folder`."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", USER], check=True, capture_output=True)
    user = pwd.getpwnam(USER)
    os.chown(folder, user.pw_uid, user.pw_gid)
    return ["runuser", "-u", USER, "--"]


class PostgresServer:
    """One throwaway cluster: start it, stop it (as a crash, even), and hand out databases."""

    def __init__(self, binaries: Path):
        self.binaries = binaries
        self.folder = Path(tempfile.mkdtemp(prefix="kitten-pg-"))
        self.data = self.folder / "data"
        self.prefix = _as_server_user(self.folder)
        self._databases = 0
        self._run("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                  "--encoding=UTF8", "--no-locale", "--no-sync")

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run([*self.prefix, str(self.binaries / program), *args],
                              cwd=self.folder, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text()[-2000:] if log.is_file() else ""
            raise RuntimeError(f"{program} {' '.join(args)} failed:\n{done.stdout}"
                               f"{done.stderr}{tail}")

    def start(self) -> None:
        options = (f"-k {self.folder} -p {PORT} -c listen_addresses='' -c max_connections=50 "
                   "-c fsync=off")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"),
                  "-o", options, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: "fast" as an operator would, "immediate" as a crash (no
        checkpoint; the next start replays the write-ahead log)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={self.folder}&port={PORT}"

    def new_database(self) -> str:
        """A new empty database's URL."""
        import psycopg

        self._databases += 1
        name = f"kittens_{self._databases}"
        with psycopg.connect(host=str(self.folder), port=PORT, user=SUPERUSER,
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def remove(self) -> None:
        try:
            self.stop("immediate")
        except RuntimeError:
            pass  # stopped already
        shutil.rmtree(self.folder, ignore_errors=True)


def postgres_server():
    """The session fixture's body: a started server, removed at the end."""
    require_postgres()
    server = PostgresServer(find_binaries())
    try:
        server.start()
        yield server
    finally:
        server.remove()
