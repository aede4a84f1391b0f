"""Several app processes behind haproxy: N app servers on loopback ports and haproxy in front of
them on one port, with cookie-sticky sessions (deploy/haproxy.cfg), all sharing one kitten store.

    python deploy/serve_many.py                          # 2 processes, http://127.0.0.1:8500
    python deploy/serve_many.py --processes 3 --port 8080 --address 0.0.0.0
    python deploy/serve_many.py --db postgresql+psycopg://kittens@db.internal/kittens
    python deploy/serve_many.py --data-dir /srv/kitten-mixer   # the SQLite store's folder

Why several processes: Streamlit runs every visitor's page in one Python process, whose
interpreter lock lets one page run Python at a time; a second process uses a second core. Why
sticky: each visitor's session lives in the memory of the process that opened it.

An app process that dies (killed, out of memory) is started again on its own port, so
haproxy's configuration stays valid; meanwhile haproxy's health check marks it down, a request
it refused or died without answering is sent to another process, and its visitors start new
sessions on the others (their kept kittens are in the store, not in the process). Each restart
is one line on the output. A process that dies before it ever answered its health check is
started again after a pause that doubles each time it does so in a row (2 s, 4 s, ... up to
MAX_PAUSE), so a broken one does not spin.

Every process gets the same store settings: --db URL (KITTEN_MIXER_DB), else the SQLite store
in --data-dir (KITTEN_MIXER_DATA), else what this process's environment says (default
~/.local/share/kitten-mixer). SQLite serves the processes of one machine; PostgreSQL serves
several machines.

It needs haproxy (Debian: `apt-get install haproxy`). Ctrl+C (or SIGTERM) stops haproxy and
every app process. `serve_many()` does the same for tests and benchmarks.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from kitten_mixer.errors import KittenMixerError
from kitten_mixer.webapp.launch import (
    answers_health,
    app_environment,
    free_port,
    stop_group,
    streamlit_command,
)

TEMPLATE = Path(__file__).with_name("haproxy.cfg")
WATCH_EVERY = 0.2  # seconds between looks at the app processes
MAX_PAUSE = 60.0  # seconds before starting again one that keeps dying before it answers


@dataclass
class App:
    """One app process behind haproxy: its name there (and its cookie's value), its port, and
    its process now (a new one after each restart)."""

    name: str
    port: int
    process: subprocess.Popen
    started: float = field(default_factory=time.monotonic)
    restarts: int = 0
    answered: bool = True  # whether this process has answered its health check yet
    early_deaths: int = 0  # in a row: deaths before answering
    due: float | None = None  # when a dead process is started again
    death: str = ""  # how the last one ended
    pause: float = 0.0  # before its restart

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Farm:
    """App processes behind haproxy: the address visitors use, and each app's own."""

    url: str
    apps: list[App]
    haproxy: subprocess.Popen

    @property
    def app_urls(self) -> list[str]:
        return [app.url for app in self.apps]

    @property
    def processes(self) -> list[subprocess.Popen]:
        """The apps' processes now, then haproxy's."""
        return [*(app.process for app in self.apps), self.haproxy]

    @property
    def restarts(self) -> int:
        return sum(app.restarts for app in self.apps)


def haproxy_config(address: str, port: int, app_ports: list[int]) -> str:
    """deploy/haproxy.cfg filled in: haproxy on address:port, one server per app port."""
    servers = "\n".join(f"    server app{i} 127.0.0.1:{p} cookie app{i}"
                        for i, p in enumerate(app_ports, 1))
    return Template(TEMPLATE.read_text()).substitute(address=address, port=port,
                                                     servers=servers)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def serve_many(processes: int = 2, port: int = 8500, address: str = "127.0.0.1",
               model: str | None = None, gallery: str | None = None,
               logs: Path | None = None, timeout: float = 120, *,
               data_dir: str | os.PathLike | None = None, db: str | None = None,
               say: Callable[[str], None] = _say) -> Iterator[Farm]:
    """Start `processes` app servers and haproxy in front; wait until every app answers its
    health check through nothing but its own port; restart any that dies, on its port, until
    the end; stop them all on exit. `logs`: a folder for each process's output (default:
    this process's own output). `db`, `data_dir`: the kitten store every app uses (see the
    module's doc). `say`: where the restarts' lines go (default: standard error)."""
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        raise RuntimeError("no haproxy on the PATH (Debian: apt-get install haproxy)")
    app_ports = _free_ports(processes)
    env = app_environment(model, gallery, data_dir, db)
    # One cookie secret for all: Streamlit signs its XSRF cookie with it, so a visitor that
    # haproxy moves to another process (its own died) can still upload
    env.setdefault("STREAMLIT_SERVER_COOKIE_SECRET", secrets.token_hex(32))
    apps: list[App] = []
    proxy: subprocess.Popen | None = None
    watcher: _Watcher | None = None
    with tempfile.TemporaryDirectory(prefix="kitten-mixer-haproxy-") as folder:
        config = Path(folder) / "haproxy.cfg"
        config.write_text(haproxy_config(address, port, app_ports))
        try:
            for i, app_port in enumerate(app_ports, 1):
                name = f"app{i}"
                apps.append(App(name, app_port, _start(streamlit_command(app_port), env, logs,
                                                       name)))
            for app in apps:
                _wait_healthy(app.url, app.process, timeout)
            subprocess.run([haproxy, "-c", "-q", "-f", str(config)], check=True)
            proxy = _start([haproxy, "-db", "-f", str(config)], env, logs, "haproxy")
            front = f"http://{'127.0.0.1' if address == '0.0.0.0' else address}:{port}"
            _wait_healthy(front, proxy, timeout)
            watcher = _Watcher(apps, lambda app: _start(streamlit_command(app.port), env, logs,
                                                        app.name), say)
            watcher.start()
            yield Farm(front, apps, proxy)
        finally:
            if watcher is not None:
                watcher.stop()
            for process in ([proxy] if proxy else []) + [app.process for app in apps]:
                stop_group(process)


class _Watcher(threading.Thread):
    """Starts again, on its port, each app process that dies, until told to stop."""

    def __init__(self, apps: list[App], start: Callable[[App], subprocess.Popen],
                 say: Callable[[str], None]):
        super().__init__(name="serve_many-watcher", daemon=True)
        self.apps, self.start_app, self.say = apps, start, say
        self.stopping = threading.Event()

    def stop(self) -> None:
        """No more restarts: when this returns, the apps' processes stay as they are."""
        self.stopping.set()
        self.join()

    def run(self) -> None:
        while not self.stopping.wait(WATCH_EVERY):
            for app in self.apps:
                try:
                    self.look_after(app)
                except Exception as e:  # never let one failed start end the restarts
                    self.say(f"serve_many: {app.name}: cannot start it again now: {e}")
                    app.due = time.monotonic() + MAX_PAUSE

    def look_after(self, app: App) -> None:
        process = app.process
        if process.poll() is None:
            if not app.answered and answers_health(app.url, timeout=0.5):
                app.answered, app.early_deaths = True, 0
            return
        now = time.monotonic()
        if app.due is None:  # just died
            _kill_leftovers(process)
            app.early_deaths = 0 if app.answered else app.early_deaths + 1
            app.pause = min(MAX_PAUSE, 2.0 ** app.early_deaths) if app.early_deaths else 0.0
            app.due = now + app.pause
            app.death = (f"{_ended(process.returncode)} after {now - app.started:.0f} s"
                         + ("" if app.answered else ", before it answered"))
        if now < app.due or not _port_free(app.port):
            return
        app.process = self.start_app(app)
        app.started, app.due, app.answered = time.monotonic(), None, False
        app.restarts += 1
        paused = f" after a {app.pause:.0f} s pause" if app.pause else ""
        self.say(f"serve_many: {app.name} (port {app.port}) {app.death}; started again"
                 f"{paused} as pid {app.process.pid} (restart {app.restarts})")


def _ended(status: int) -> str:
    if status < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-status).name}"
        return f"killed by signal {-status}"
    return f"exited with status {status}"


def _kill_leftovers(process: subprocess.Popen) -> None:
    """Whatever the dead process's group still holds (a child holding its port) goes too."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _port_free(port: int) -> bool:
    """Whether an app can listen on this loopback port now."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def _start(command: list[str], env: dict[str, str], logs: Path | None,
           name: str) -> subprocess.Popen:
    """A process in its own process group (stopping the group stops whatever it started);
    its output appended to logs/<name>.log."""
    out = None
    if logs is not None:
        logs.mkdir(parents=True, exist_ok=True)
        out = (logs / f"{name}.log").open("ab")
    try:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    finally:
        if out is not None:
            out.close()  # the child keeps its own copy


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not answers_health(url):
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process stopped ({_ended(process.returncode)})")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url}: no answer to its health check in {timeout:.0f} s")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=2,
                        help="app processes (default: 2; about one per core)")
    parser.add_argument("--port", type=int, default=8500, help="haproxy's port (default: 8500)")
    parser.add_argument("--address", default="127.0.0.1",
                        help="haproxy's address (default: 127.0.0.1; 0.0.0.0 for every "
                             "interface). The apps always listen on loopback only.")
    parser.add_argument("--model", help="a saved-model folder (default: the shipped model)")
    parser.add_argument("--gallery", help="a folder or zip of cat photos")
    parser.add_argument("--db", metavar="URL",
                        help="the kitten store's URL, for every process (KITTEN_MIXER_DB; "
                             "postgresql+psycopg://... or sqlite:///PATH)")
    parser.add_argument("--data-dir", metavar="FOLDER",
                        help="the folder of the SQLite kitten store, for every process "
                             "(KITTEN_MIXER_DATA; default ~/.local/share/kitten-mixer)")
    args = parser.parse_args()
    if not 1 <= args.processes <= 64:
        parser.error("--processes: 1 to 64")
    if args.db and args.data_dir:
        parser.error("--db or --data-dir, not both")
    # SIGTERM stops it like Ctrl+C: serve_many's `finally` stops every process
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with serve_many(args.processes, args.port, args.address, args.model, args.gallery,
                        data_dir=args.data_dir, db=args.db) as farm:
            print(f"Kitten Mixer: {farm.url} ({args.processes} app processes on "
                  f"{', '.join(str(app.port) for app in farm.apps)}, haproxy in front; a "
                  "process that dies is started again; Ctrl+C stops them all)", flush=True)
            while farm.haproxy.poll() is None:
                time.sleep(1)
            sys.exit(f"haproxy stopped ({_ended(farm.haproxy.returncode)}); stopping the apps")
    except KeyboardInterrupt:
        print("stopped")
    except (RuntimeError, KittenMixerError, subprocess.CalledProcessError) as e:
        sys.exit(f"serve_many: {e}")


if __name__ == "__main__":
    main()
