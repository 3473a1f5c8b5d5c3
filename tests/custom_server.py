"""A ChatServer (tests/server.py) with what some tests need of their own: other `serve`
options, a data directory that does not exist yet, or no users at all (a fresh install).

(start() repeats ChatServer.start with these options; they could move into ChatServer.)
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.server import PASSWORDS, ROOT, ChatServer


class CustomServer(ChatServer):
    def __init__(
        self,
        upstream_url: str,
        upstream=None,
        *,
        serve_args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        users: bool = True,
        data_dir: Path | None = None,
        log_path: Path | None = None,
    ) -> None:
        super().__init__(upstream_url, upstream)
        self.serve_args = serve_args
        self.users = users
        if data_dir is not None:
            self.data_dir.rmdir()  # mkdtemp's, unused
            self.data_dir = data_dir
            self.env["DATA_DIR"] = str(data_dir)
        if log_path is not None:
            self.log_path = log_path
        self.env.update(env or {})

    def start(self) -> CustomServer:
        if self.pg_name:
            self._pg(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)', f'CREATE DATABASE "{self.pg_name}"')
        self._manage("migrate", "--noinput", "-v", "0")
        self._manage("collectstatic", "--noinput", "-v", "0")
        if self.users:
            users = "; ".join(
                f"U.objects.create_user({name!r}, password={password!r})" for name, password in PASSWORDS.items()
            )
            self._manage(
                "shell", "-c", f"from django.contrib.auth import get_user_model; U = get_user_model(); {users}"
            )
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "serve", "--port", str(self.port), *self.serve_args],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"manage.py serve exited ({self.process.returncode}):\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                # Without users the login page sends visitors on to the first-run form.
                if httpx.get(f"{self.url}/accounts/login/", timeout=2).status_code in (200, 302):
                    return self
            if time.monotonic() > deadline:
                raise RuntimeError(f"manage.py serve did not answer within 30 s:\n{self.log()}")
            time.sleep(0.1)

    def __enter__(self) -> CustomServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info) -> None:
        self.stop()
