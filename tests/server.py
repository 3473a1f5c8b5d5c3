"""The app started the way a user starts it, for tests that need the real server.

`manage.py migrate`, `collectstatic` and `serve` (daphne) run in a subprocess on a temporary
DATA_DIR (and, when the suite runs on PostgreSQL, on a database of their own), pointed at a
loopback `Upstream`. The session-wide `chat_server` and `up` fixtures in conftest.py use it;
a test that needs a server of its own (other settings, a signal) makes one.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "sk-browser-secret"
PASSWORDS = {"alice": "alice-password-123", "bob": "bob-password-123"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_servers = itertools.count(1)


class ChatServer:
    """`manage.py serve` (daphne) in a subprocess, on its own data directory and database.

    command="daphne" runs `daphne chatsite.asgi:application` instead, as the Channels docs
    serve an app; serve_args go to `manage.py serve`; env adds to the server's environment;
    users=False starts it as a fresh install (no account); data_dir and log_path put those
    elsewhere (a data directory that does not exist yet). Usable as a context manager.
    """

    def __init__(
        self,
        upstream_url: str,
        upstream=None,
        *,
        command: str = "serve",
        serve_args: tuple[str, ...] = (),
        env: dict | None = None,
        users: bool = True,
        data_dir: Path | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.upstream_url = upstream_url
        self.upstream = upstream  # the tests.upstream.Upstream behind upstream_url, if it is ours
        self.command = command
        self.serve_args = serve_args
        self.users = users
        self.number = next(_servers)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"  # exactly the origin the websocket accepts
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="chatsite-browser-"))
        self.log_path = log_path or self.data_dir / "serve.log"
        self.process: subprocess.Popen | None = None
        self.pg_admin: dict | None = None  # connection details of the PostgreSQL server, if any
        self.pg_name: str | None = None
        self.env = {**self._env(), **(env or {})}

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CHAT_", "STREAM_"))}
        for name in ("DATABASE_URL", "REDIS_URL", "MEDIA_ROOT", "DEBUG", "HTTPS", "ALLOWED_HOSTS"):
            env.pop(name, None)
        env.update(
            DATA_DIR=str(self.data_dir),
            LOCAL_MODEL="0",
            OPENAI_BASE_URL=self.upstream_url,
            OPENAI_API_KEY=API_KEY,
            OPENAI_MODEL="test/model-a",
            DJANGO_SETTINGS_MODULE="chatsite.settings",
            PYTHONUNBUFFERED="1",
        )
        database_url = os.environ.get("DATABASE_URL", "")
        if database_url.startswith(("postgres://", "postgresql://")):
            # Not the database pytest-django uses: a fresh one, dropped at the end.
            self.pg_name = f"chatsite_browser_{os.getpid()}_{self.number}"
            env["DATABASE_URL"] = urlsplit(database_url)._replace(path=f"/{self.pg_name}").geturl()
            self.pg_admin = _pg_params(database_url)
        elif database_url:
            raise RuntimeError(f"The browser tests know SQLite and PostgreSQL, not {database_url!r}")
        if os.environ.get("REDIS_URL"):
            env["REDIS_URL"] = os.environ["REDIS_URL"]
        return env

    def _manage(self, *args: str) -> None:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")

    def start(self) -> ChatServer:
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
        return self.launch()

    def launch(self) -> ChatServer:
        """Start the server process (again, after stop_process) and wait until it answers."""
        if self.command == "daphne":
            argv = [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "chatsite.asgi:application",
            ]
        else:
            argv = [sys.executable, "manage.py", "serve", "--port", str(self.port), *self.serve_args]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command} exited ({self.process.returncode}):\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            if time.monotonic() > deadline:
                raise RuntimeError(f"manage.py serve did not answer within 30 s:\n{self.log()}")
            time.sleep(0.1)

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Rows of a query on the server's own database (SQLite or PostgreSQL)."""
        if self.pg_name:
            import psycopg

            with psycopg.connect(**{**self.pg_admin, "dbname": self.pg_name}) as conn:
                return conn.execute(sql.replace("?", "%s"), params).fetchall()
        import sqlite3

        with contextlib.closing(sqlite3.connect(self.data_dir / "db.sqlite3")) as conn:
            return conn.execute(sql, params).fetchall()

    def __enter__(self) -> ChatServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.pg_name:
            with contextlib.suppress(Exception):
                self._pg(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def _pg(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(**self.pg_admin, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)


def sandbox_children(pid: int | None = None) -> list[int]:
    """The sandbox processes (chatsite/lib/sandbox.py) that process `pid` (this one by default)
    has running, from Linux's /proc."""
    pid = os.getpid() if pid is None else pid
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if parent == pid and b"chatsite.lib.sandbox" in command:
            found.append(int(entry.name))
    return found


def _pg_params(url: str) -> dict:
    import dj_database_url

    parsed = dj_database_url.parse(url)
    params = {"dbname": "postgres", "host": parsed.get("HOST") or None, "user": parsed.get("USER") or None}
    if parsed.get("PORT"):
        params["port"] = parsed["PORT"]
    if parsed.get("PASSWORD"):
        params["password"] = parsed["PASSWORD"]
    return {k: v for k, v in params.items() if v is not None}
