"""``dlc lab``: JupyterLab on a hand-out folder, reachable from this machine only.

``dlc lab [DIR]`` writes the student hand-out into DIR on first use (the notebooks and
lab modules of ``dlc exercise``), then starts JupyterLab there and prints its address.
Secure by default, unlike a notebook server left open on a course's virtual machine:

- it listens on 127.0.0.1 only: other machines cannot connect, whatever the firewall;
- it asks for a fresh random token (``secrets.token_urlsafe``), given to the server in
  its environment (not on its command line, which other users of the machine can read);
  before printing the address, dlc checks that a request without the token is refused;
- JupyterLab does not fetch news or look for updates on the Internet.

The notebooks are jupytext percent files (``notebooks/<lab>.py``): jupytext's contents
manager serves them as notebooks, and JupyterLab's default viewer for Python files is
set to "Jupytext Notebook" (a default setting layered under the user's own, in a
temporary configuration folder), so a double click opens a ``.py`` notebook as a
notebook; saving writes the ``.py`` back. Ctrl-C (or SIGTERM) stops dlc, which stops the
server with SIGTERM: its clean shutdown, kernels included.

JupyterLab and jupytext are an optional extra: ``pip install 'dlc[lab]'``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from dlc.errors import DlcError, UsageError

DEFAULT_DIR = "dlc-lab"
INSTALL_HINT = "pip install 'dlc[lab]'"
HOST = "127.0.0.1"
START_TIMEOUT = 120.0  # seconds JupyterLab may take to answer (a first start on a busy machine is slow)
STOP_TIMEOUT = 45.0  # seconds its clean shutdown may take (it stops each kernel first) before a SIGKILL

# JupyterLab settings given as defaults (the user's own settings still win)
LAB_DEFAULTS = {
    # a double click on a .py notebook opens it as a notebook, not in the text editor
    "@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"python": "Jupytext Notebook"}},
    # no request to the Internet for news or updates
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}


def require_lab() -> None:
    """Fail with the install line when the ``lab`` extra is missing."""
    try:
        import jupyterlab  # noqa: F401
        import jupytext  # noqa: F401
    except ImportError as e:
        missing = getattr(e, "name", None) or "jupyterlab"
        raise UsageError(
            f"`dlc lab` needs JupyterLab and jupytext ({missing} is not installed): {INSTALL_HINT}"
        ) from None


def _lab_files(lab_id: str) -> list[str]:
    from dlc.labs import catalog

    info = catalog().get(lab_id)
    if info is None:
        raise UsageError(f"no lab called {lab_id!r} (see `dlc list`)")
    return [f"labs/{info.module.rsplit('.', 1)[1]}.py", f"notebooks/{lab_id}.py"]


def prepare_handout(folder: Path, labs: list[str] | None = None) -> list[str]:
    """Write the student files into ``folder`` where they are missing; the lab ids written.

    Without ``labs``: every lab with tasks, on first use only (``folder`` holds neither
    ``labs/`` nor ``notebooks/``), so a teacher's trimmed hand-out stays as it is. With
    ``labs``: each of those labs none of whose files is there yet. A student's file is
    never overwritten."""
    from dlc.exercise.handout import labs_with_tasks, write_exercise

    if labs is None:
        if (folder / "labs").exists() or (folder / "notebooks").exists():
            return []
        ids, strict = labs_with_tasks(), False
    else:
        ids = [i for i in labs if not any((folder / f).exists() for f in _lab_files(i))]
        strict = True
    written = []
    for lab_id in ids:
        try:
            write_exercise(lab_id, folder)
        except (DlcError, RuntimeError) as e:
            if strict:
                raise
            print(f"dlc lab: left out {lab_id}: {e}", file=sys.stderr, flush=True)
            continue
        written.append(lab_id)
    return written


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def choose_port(port: int | None) -> int:
    """The given port if it is free on 127.0.0.1; without one, 8888 or the next free up to
    8899, else any free port."""
    if port is not None:
        if not 0 < port < 65536:
            raise UsageError(f"--port {port}: a port is a number from 1 to 65535")
        if not _port_is_free(port):
            raise UsageError(f"port {port} is already in use on {HOST}: choose another with --port, or leave it out")
        return port
    for p in range(8888, 8900):
        if _port_is_free(p):
            return p
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def server_command(folder: Path, port: int, open_browser: bool) -> list[str]:
    """The JupyterLab command line (no secret on it: the token goes in the environment)."""
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.ip={HOST}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",  # the printed address must be the real one
        f"--ServerApp.root_dir={folder}",
        f"--ServerApp.open_browser={open_browser}",
        "--ServerApp.log_level=WARN",  # dlc prints the address; Jupyter's own log is for problems
        "--LabApp.log_level=WARN",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--ServerApp.allow_root=True")  # a container's root: the server is still local-only
    return cmd


def server_env(token: str, config_dir: Path) -> dict[str, str]:
    """The server's environment: the token, and a configuration folder holding dlc's
    JupyterLab defaults (searched after the user's own ~/.jupyter)."""
    (config_dir / "labconfig").mkdir(parents=True, exist_ok=True)
    (config_dir / "labconfig" / "default_setting_overrides.json").write_text(json.dumps(LAB_DEFAULTS, indent=1))
    env = dict(os.environ)
    env.pop("JUPYTER_TOKEN_FILE", None)
    env["JUPYTER_TOKEN"] = token
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(p for p in [str(config_dir), env.get("JUPYTER_CONFIG_PATH")] if p)
    return env


def _status(url: str, token: str | None = None) -> int | None:
    """The HTTP status of a GET (redirects not followed); None if nothing answers."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"} if token else {})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (OSError, ValueError):
        return None


def wait_until_ready(proc: subprocess.Popen, base: str, token: str, timeout: float = START_TIMEOUT) -> None:
    """Wait until the server answers; then check that it refuses a request without the
    token and accepts one with it."""
    deadline = time.monotonic() + timeout
    while _status(f"{base}/api") != 200:
        if proc.poll() is not None:
            raise DlcError(
                f"JupyterLab stopped before it answered (exit code {proc.returncode}; its messages are above)"
            )
        if time.monotonic() > deadline:
            raise DlcError(f"JupyterLab did not answer on {base} within {timeout:.0f} s")
        time.sleep(0.25)
    refused, accepted = _status(f"{base}/api/contents"), _status(f"{base}/api/contents", token)
    if refused not in (401, 403) or accepted != 200:
        raise DlcError(
            f"JupyterLab's token check is not in force (without the token: HTTP {refused}, with it: HTTP "
            f"{accepted}); a Jupyter configuration file may disable it (IdentityProvider.token, "
            f"ServerApp.token): dlc stopped the server rather than leave it open"
        )


def stop(proc: subprocess.Popen, timeout: float = STOP_TIMEOUT) -> int:
    """Stop the server: SIGTERM, its clean shutdown (kernels stopped, its runtime file
    removed; a SIGINT would skip that), then SIGKILL as a last resort."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
        try:
            return proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        except KeyboardInterrupt:  # another Ctrl-C: go on to the next, harder, step
            continue
    return proc.wait()


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def cli_lab(folder: str | None, port: int | None, no_browser: bool, labs: str | None) -> int:
    require_lab()
    root = Path(folder or DEFAULT_DIR).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} is a file, not a folder: give `dlc lab` a folder for the notebooks")
    wanted = [i.strip() for i in labs.split(",") if i.strip()] if labs else None
    for lab_id in wanted or []:
        _lab_files(lab_id)  # an unknown lab id: said before anything is written
    port = choose_port(port)

    if wanted is not None or not root.exists() or not ((root / "labs").exists() or (root / "notebooks").exists()):
        print(f"dlc lab: writing the student hand-out into {root} (as `dlc exercise`) ...", flush=True)
        written = prepare_handout(root, wanted)
        if written:
            print(
                f"dlc lab: wrote {len(written)} lab(s) into {root}: labs/<module>.py and notebooks/<lab>.py", flush=True
            )
        else:
            print("dlc lab: nothing to write: those labs are there already", flush=True)
    root.mkdir(parents=True, exist_ok=True)

    token = secrets.token_urlsafe(32)
    base = f"http://{HOST}:{port}"
    with tempfile.TemporaryDirectory(prefix="dlc-lab-config-") as config_dir:
        env = server_env(token, Path(config_dir))
        print(f"dlc lab: starting JupyterLab in {root} on {HOST}:{port} (this machine only) ...", flush=True)
        # a session of its own: Ctrl-C in the terminal reaches dlc only, which stops the server cleanly
        proc = subprocess.Popen(
            server_command(root, port, not no_browser),
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            wait_until_ready(proc, base, token)
            print(
                "dlc lab: checked: a request without the token is refused (the 403 logged above)\n"
                f"dlc lab: JupyterLab is ready (process {proc.pid}); open this address, the token is its password:\n"
                f"    {base}/lab?token={token}\n"
                f"dlc lab: the notebooks are in notebooks/ (a double click opens one); Ctrl-C stops the server",
                flush=True,
            )
            code = proc.wait()
            print(f"dlc lab: JupyterLab exited (code {code})", file=sys.stderr, flush=True)
            return 0 if code == 0 else 1
        except KeyboardInterrupt:
            print("\ndlc lab: stopping JupyterLab ...", flush=True)
            code = stop(proc)
            print(f"dlc lab: stopped (exit code {code})", flush=True)
            return 0
        except BaseException:
            stop(proc)
            raise
        finally:
            signal.signal(signal.SIGTERM, previous)
