"""The app served in the background on a free loopback port, for tests, benchmarks and
screenshots."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kitten_mixer.webapp.launch import app_environment, streamlit_command


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningApp:
    """A server started by `serve_in_background`: its address, process and output."""

    url: str
    process: subprocess.Popen
    log: Path
    launched: float  # time.perf_counter() just before the process was launched
    healthy: float | None = None  # seconds from launch to /_stcore/health answering

    def wait_healthy(self, timeout: float = 120) -> float:
        """Seconds from launch until the server answers its health check; RuntimeError with
        the server's output if it stops or does not answer within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        self.healthy = time.perf_counter() - self.launched
                        return self.healthy
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(self.output().splitlines()[-40:])
                raise RuntimeError(f"the app did not start; its output:\n{tail}")
            time.sleep(0.05)

    def output(self) -> str:
        """What the server has printed so far."""
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def serve_in_background(env: dict[str, str] | None = None) -> Iterator[RunningApp]:
    """Run the app on a free loopback port, in its own process group; the whole group is
    stopped on exit. `env`: default app_environment()."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="kitten-mixer-app-") as folder:
        log = Path(folder) / "server.log"
        with log.open("wb") as out:
            launched = time.perf_counter()
            process = subprocess.Popen(streamlit_command(port), env=env or app_environment(),
                                       stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            yield RunningApp(f"http://127.0.0.1:{port}", process, log, launched)
        finally:
            _stop(process)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the server's process group, SIGKILL it if it lingers."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
