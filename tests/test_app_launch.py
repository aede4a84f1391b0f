"""Starting and stopping the app: `kitten-mixer app` passes SIGTERM and SIGINT on to its
Streamlit server and waits for it, so stopping the launcher stops the server (a server left
behind would keep answering on its port). The first tests use plain Python children; the last
starts a real server, a few seconds each, so it is marked slow."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from kitten_mixer.webapp.launch import answers_health, free_port, wait_passing_stops


def child(code: str) -> subprocess.Popen:
    """A Python child that runs `code`; `parent` is the launcher's pid there."""
    head = "import os, signal, sys, time\nparent = os.getppid()\n"
    return subprocess.Popen([sys.executable, "-c", head + textwrap.dedent(code)])


def test_a_stop_passes_on_and_the_status_says_how_the_server_ended():
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    # The child tells its parent (this process, as the launcher) to stop: it is told in turn.
    ends_by_the_signal = child("""
        time.sleep(0.3)
        os.kill(parent, signal.SIGTERM)
        time.sleep(30)
    """)
    assert wait_passing_stops(ends_by_the_signal) == 128 + signal.SIGTERM
    stops_cleanly = child("""
        signal.signal(signal.SIGINT, lambda *_: sys.exit(0))  # as Streamlit does
        time.sleep(0.3)
        os.kill(parent, signal.SIGINT)
        time.sleep(30)
    """)
    assert wait_passing_stops(stops_cleanly) == 0
    ends_alone = child("sys.exit(3)")
    assert wait_passing_stops(ends_alone) == 3
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_a_server_that_lingers_after_a_stop_is_killed():
    lingers = child("""
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(0.3)
        os.kill(parent, signal.SIGTERM)
        time.sleep(30)
    """)
    started = time.monotonic()
    assert wait_passing_stops(lingers, grace=0.5) == 128 + signal.SIGKILL
    assert time.monotonic() - started < 5


def launcher_command(port: int) -> list[str]:
    """`kitten-mixer app --port <port>`: the installed command, else the same via -m."""
    installed = shutil.which("kitten-mixer", path=os.path.dirname(sys.executable))
    command = [installed] if installed else [sys.executable, "-m", "kitten_mixer.cli"]
    return [*command, "app", "--port", str(port)]


def gone(group: int) -> bool:
    """Whether no process of this process group is left."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["SIGTERM to the launcher", "Ctrl+C (SIGINT to the group)"])
def test_stopping_the_launcher_stops_its_server(stop, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (tmp_path / "app.log").open("wb") as out:
        launcher = subprocess.Popen(launcher_command(port), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not answers_health(url, timeout=1):
            assert launcher.poll() is None, (tmp_path / "app.log").read_text()
            assert time.monotonic() < deadline, "no answer to the health check in 60 s"
            time.sleep(0.1)
        if stop.startswith("SIGTERM"):
            launcher.send_signal(signal.SIGTERM)  # the launcher alone, as `kill PID` does
        else:
            os.killpg(launcher.pid, signal.SIGINT)  # what a terminal's Ctrl+C sends
        assert launcher.wait(timeout=15) == 0  # Streamlit's own clean stop
        deadline = time.monotonic() + 5
        while not gone(launcher.pid):  # the group: the launcher's server was in it
            assert time.monotonic() < deadline, "the server outlived its launcher"
            time.sleep(0.1)
        assert not answers_health(url, timeout=1)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(launcher.pid, signal.SIGKILL)
        launcher.wait()
