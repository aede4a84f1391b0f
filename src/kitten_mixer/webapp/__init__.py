"""The Kitten Mixer web app: `kitten-mixer app` runs `streamlit_app.py` in Streamlit."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kitten_mixer.errors import KittenMixerError
from kitten_mixer.webapp.core import MAX_UPLOAD_MB

SCRIPT = Path(__file__).parent / "streamlit_app.py"


def streamlit_command(port: int = 8501, address: str = "127.0.0.1") -> list[str]:
    """The command line that serves the app on `address`:`port`, headless, with no telemetry."""
    return [sys.executable, "-m", "streamlit", "run", str(SCRIPT),
            "--server.address", address, "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.maxUploadSize", str(MAX_UPLOAD_MB), "--server.fileWatcherType", "none",
            "--global.developmentMode", "false", "--client.toolbarMode", "viewer",
            "--client.showErrorDetails", "none", "--theme.base", "light"]


def app_environment(model: str | os.PathLike | None = None,
                    gallery: str | os.PathLike | None = None) -> dict[str, str]:
    """The environment that tells the app which model and gallery to load."""
    env = dict(os.environ)
    # One thread per morph: Streamlit runs each visitor's page in its own thread, and torch's
    # own threads on top of those fight for the cores (decoding a morph took 156 ms with 2
    # threads against 11 ms with 1 while another job held a core).
    env.setdefault("OMP_NUM_THREADS", "1")
    for name, value in (("KITTEN_MIXER_MODEL", model), ("KITTEN_MIXER_GALLERY", gallery)):
        if value is None:
            env.pop(name, None)
        else:
            path = Path(value).expanduser().resolve()
            if not path.exists():
                raise KittenMixerError(f"{value}: no such file or folder")
            env[name] = str(path)
    return env


def run_app(port: int = 8501, gallery: str | os.PathLike | None = None,
            model: str | os.PathLike | None = None, address: str = "127.0.0.1") -> int:
    """Serve the app until interrupted; returns Streamlit's exit status."""
    env = app_environment(model, gallery)
    print(f"Kitten Mixer: http://{address}:{port} (Ctrl+C stops it)", flush=True)
    try:
        return subprocess.call(streamlit_command(port, address), env=env)
    except KeyboardInterrupt:
        return 0


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
    """Run the app on a free loopback port, in its own process group, for tests, benchmarks
    and screenshots; the whole group is stopped on exit. `env`: default app_environment()."""
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

