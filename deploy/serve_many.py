"""Several app processes behind haproxy: N `kitten-mixer app` servers on loopback ports and
haproxy in front of them on one port, with cookie-sticky sessions (deploy/haproxy.cfg).

    python deploy/serve_many.py                          # 2 processes, http://127.0.0.1:8500
    python deploy/serve_many.py --processes 3 --port 8080 --address 0.0.0.0

Why several processes: Streamlit runs every visitor's page in one Python process, whose
interpreter lock lets one page run Python at a time; a second process uses a second core. Why
sticky: each visitor's session lives in the memory of the process that opened it.

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
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from string import Template

from kitten_mixer.webapp.launch import free_port

TEMPLATE = Path(__file__).with_name("haproxy.cfg")


@dataclass
class Farm:
    """App processes behind haproxy: the address visitors use, and each process's own."""

    url: str
    app_urls: list[str]
    processes: list[subprocess.Popen]  # the apps', then haproxy's


def haproxy_config(address: str, port: int, app_ports: list[int]) -> str:
    """deploy/haproxy.cfg filled in: haproxy on address:port, one server per app port."""
    servers = "\n".join(f"    server app{i} 127.0.0.1:{p} cookie app{i}"
                        for i, p in enumerate(app_ports, 1))
    return Template(TEMPLATE.read_text()).substitute(address=address, port=port,
                                                     servers=servers)


@contextlib.contextmanager
def serve_many(processes: int = 2, port: int = 8500, address: str = "127.0.0.1",
               model: str | None = None, gallery: str | None = None,
               logs: Path | None = None, timeout: float = 120) -> Iterator[Farm]:
    """Start `processes` app servers and haproxy in front; wait until every app answers its
    health check through nothing but its own port; stop them all on exit. `logs`: a folder
    for each process's output (default: this process's own output)."""
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        raise RuntimeError("no haproxy on the PATH (Debian: apt-get install haproxy)")
    app_ports = _free_ports(processes)
    extra = [*(["--model", model] if model else []), *(["--gallery", gallery] if gallery else [])]
    env = dict(os.environ)
    # One cookie secret for all: Streamlit signs its XSRF cookie with it, so a visitor that
    # haproxy moves to another process (its own died) can still upload
    env.setdefault("STREAMLIT_SERVER_COOKIE_SECRET", secrets.token_hex(32))
    started: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="kitten-mixer-haproxy-") as folder:
        config = Path(folder) / "haproxy.cfg"
        config.write_text(haproxy_config(address, port, app_ports))
        try:
            for i, app_port in enumerate(app_ports, 1):
                started.append(_start([sys.executable, "-m", "kitten_mixer.cli", "app",
                                       "--port", str(app_port), *extra], env, logs, f"app{i}"))
            app_urls = [f"http://127.0.0.1:{p}" for p in app_ports]
            for url, process in zip(app_urls, started):
                _wait_healthy(url, process, timeout)
            subprocess.run([haproxy, "-c", "-q", "-f", str(config)], check=True)
            started.append(_start([haproxy, "-db", "-f", str(config)], env, logs, "haproxy"))
            front = f"http://{'127.0.0.1' if address == '0.0.0.0' else address}:{port}"
            _wait_healthy(front, started[-1], timeout)
            yield Farm(front, app_urls, started)
        finally:
            for process in reversed(started):
                _stop(process)


def _free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def _start(command: list[str], env: dict[str, str], logs: Path | None,
           name: str) -> subprocess.Popen:
    """A process in its own process group (`kitten-mixer app` runs Streamlit as a child, and
    stopping the group stops both)."""
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
    while True:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process stopped (exit status {process.returncode})")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url}: no answer to its health check in {timeout:.0f} s")
        time.sleep(0.1)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the process's group; SIGKILL it if it lingers."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(wait)
            return


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
    args = parser.parse_args()
    if not 1 <= args.processes <= 64:
        parser.error("--processes: 1 to 64")
    # SIGTERM stops it like Ctrl+C: serve_many's `finally` stops every process
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with serve_many(args.processes, args.port, args.address, args.model,
                        args.gallery) as farm:
            print(f"Kitten Mixer: {farm.url} ({args.processes} app processes on "
                  f"{', '.join(u.rsplit(':', 1)[1] for u in farm.app_urls)}, haproxy in "
                  "front; Ctrl+C stops them all)", flush=True)
            while all(p.poll() is None for p in farm.processes):
                time.sleep(1)
            sys.exit("a process stopped; stopping the others")
    except KeyboardInterrupt:
        print("stopped")
    except (RuntimeError, subprocess.CalledProcessError) as e:
        sys.exit(f"serve_many: {e}")


if __name__ == "__main__":
    main()
