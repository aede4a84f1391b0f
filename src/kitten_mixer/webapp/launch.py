"""Starting the app: the Streamlit command line, and the environment that names the model and
the gallery it loads."""

from __future__ import annotations

import os
import subprocess
import sys
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
            "--client.showErrorDetails", "none", "--theme.base", "light",
            # A full garbage collection after every page run made the median page run at 50
            # visitors 1.4x slower (2.2 s against 1.6 s: `benchmarks/app_load.py --clients 50
            # --seconds 40`); Python's own collector still runs.
            "--runner.postScriptGC", "false"]


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
