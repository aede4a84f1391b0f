"""Starting the app, the one place that knows how: the Streamlit command line, the environment
that names the model and the gallery it loads, and the server run in the foreground
(`kitten-mixer app`, run_app) or in the background on a free loopback port
(serve_in_background, free_port).

The background half ships in the package, not with the tests, because deploy/serve_many.py, a
tool for those who serve the app, starts app processes on free ports with it; the tests, the
benchmarks and scripts/screenshots.py use it for a live server too.
"""

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
# What the launcher passes on to the server, and how long the server may take to stop after
# it before it is killed.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
STOP_GRACE = 10.0


def streamlit_command(port: int = 8501, address: str = "127.0.0.1") -> list[str]:
    """The command line that serves the app on `address`:`port`, headless, with no telemetry."""
    return [sys.executable, "-m", "streamlit", "run", str(SCRIPT),
            "--server.address", address, "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.maxUploadSize", str(MAX_UPLOAD_MB), "--server.fileWatcherType", "none",
            "--global.developmentMode", "false", "--client.toolbarMode", "viewer",
            "--client.showErrorDetails", "none", "--theme.base", "light",
            # A full garbage collection after every page run made the median page run at 50
            # visitors 1.4x slower (2.2 s against 1.6 s: `benchmarks/app_load.py --clients 50
            # --seconds 40`); Python's own collector still runs.
            "--runner.postScriptGC", "false"]


def app_environment(model: str | os.PathLike | None = None,
                    gallery: str | os.PathLike | None = None,
                    data_dir: str | os.PathLike | None = None,
                    db: str | None = None) -> dict[str, str]:
    """The environment that tells the app which model and gallery to load, and where its
    kitten store is: `db` a URL (KITTEN_MIXER_DB), else the SQLite store in `data_dir`
    (KITTEN_MIXER_DATA); either left None keeps what this process's environment says."""
    env = dict(os.environ)
    if data_dir is not None:
        env["KITTEN_MIXER_DATA"] = str(Path(data_dir).expanduser().resolve())
    if db is not None:
        env["KITTEN_MIXER_DB"] = db
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


# ---- in the foreground: `kitten-mixer app` ------------------------------------------------------

def run_app(port: int = 8501, gallery: str | os.PathLike | None = None,
            model: str | os.PathLike | None = None, address: str = "127.0.0.1",
            data_dir: str | os.PathLike | None = None, db: str | None = None) -> int:
    """Serve the app until the server stops or this process is told to stop (SIGTERM, or
    SIGINT: Ctrl+C), which it passes on to the server; returns the server's exit status.
    `data_dir` and `db`: where the kitten store is (app_environment)."""
    env = app_environment(model, gallery, data_dir, db)
    print(f"Kitten Mixer: http://{address}:{port} (Ctrl+C stops it)", flush=True)
    return wait_passing_stops(subprocess.Popen(streamlit_command(port, address), env=env))


def wait_passing_stops(process: subprocess.Popen, grace: float = STOP_GRACE) -> int:
    """Wait for `process` to end, passing on to it the SIGTERM and SIGINT this process gets;
    kill it if it lingers `grace` seconds after the first. Its exit status: 128 + the signal's
    number if a signal ended it (as a shell says it), else its own."""
    stopping: list[float] = []  # when the first stop came

    def pass_on(signum: int, _frame: object) -> None:
        stopping.append(time.monotonic())
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)

    previous = {sig: signal.signal(sig, pass_on) for sig in STOP_SIGNALS}
    try:
        while process.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(0.2)
            if stopping and process.poll() is None and time.monotonic() - stopping[0] > grace:
                process.kill()
                process.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    status = process.returncode
    return 128 - status if status < 0 else status


# ---- in the background: tests, benchmarks, screenshots, deploy/serve_many.py -----------------

def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers_health(url: str, timeout: float = 2) -> bool:
    """Whether the server at `url` answers its health check."""
    with contextlib.suppress(OSError):
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=timeout) as answer:
            return answer.status == 200
    return False


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
            if answers_health(self.url):
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
            stop_group(process)


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the process's group, SIGKILL it if it lingers."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
