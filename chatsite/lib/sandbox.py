"""One of our own functions run in a child process, with a deadline and a memory cap.

For work on input a user controls that can take unbounded time or memory in a library we do not
control: reading a PDF's text with pypdf, matching a JSON Schema's regular expressions (Python's
`re` holds the GIL, so a thread would not keep the server going). The child is
`python -m chatsite.lib.sandbox <module.function>`: the input goes on its stdin, the function's
bytes come back on its stdout, and it is killed at the deadline. It sets its own memory limit
(no preexec_fn: the server has threads, and forking a threaded process to run Python in it is
unsafe) and gets none of the server's environment, so no secret is within its reach.

    result = sandbox.run("chatsite.chat.pdftext.extract", data, seconds=10, memory_mb=512)
"""

import importlib
import json
import logging
import math
import os
import resource
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import chatsite

ROOT = Path(chatsite.__file__).resolve().parent.parent
OUT_OF_MEMORY = 3  # the child's exit status when its function ran out of memory

log = logging.getLogger(__name__)


class SandboxError(Exception):
    """The child did not give a result; the message says why (fit for a log, not for a user)."""


class TooSlow(SandboxError):
    """Killed at the deadline."""


class TooLarge(SandboxError):
    """Ran out of the memory it was given."""


def run(function: str, data: bytes, *, seconds: float, memory_mb: int, options: dict | None = None) -> bytes:
    """`function(data, **options)` (a `chatsite.` module's function taking and returning bytes),
    run in a child process; raises TooSlow, TooLarge or SandboxError. Blocks: call it from a
    worker thread (asyncio.to_thread), never on the event loop."""
    command = [sys.executable, "-m", "chatsite.lib.sandbox", function, str(memory_mb), str(seconds)]
    command.append(json.dumps(options or {}))
    # A small environment of its own: the server's holds API keys and the database's password.
    env = {"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8", "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        command, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        out, err = child.communicate(data, timeout=seconds)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise TooSlow(f"{function} was stopped after {seconds:g} s") from None
    except BaseException:  # e.g. the server shutting down: never leave the child running
        child.kill()
        child.communicate()
        raise
    if child.returncode == 0:
        return out
    if child.returncode == OUT_OF_MEMORY:
        raise TooLarge(f"{function} needed more than {memory_mb} MB")
    if child.returncode == -signal.SIGXCPU:  # its own CPU-time limit, below
        raise TooSlow(f"{function} used up its CPU time")
    tail = err.decode("utf-8", "replace")[-2000:]
    log.info("%s failed in its sandbox (exit status %s): %s", function, child.returncode, tail)
    raise SandboxError(f"{function} failed (exit status {child.returncode})")


def _child() -> None:
    function, memory_mb, seconds, options = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    # The parent kills at the deadline; the CPU limit is for a parent that died first.
    cpu = math.ceil(seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    # Libraries log a warning per oddity of a hostile file (pypdf can log thousands): only our
    # own failure goes to stderr.
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    module, _, name = function.rpartition(".")
    if not module.startswith("chatsite."):
        sys.exit(f"{function} is not one of chatsite's functions")
    try:
        target = getattr(importlib.import_module(module), name)
        result = target(sys.stdin.buffer.read(), **json.loads(options))
    except MemoryError:
        os._exit(OUT_OF_MEMORY)  # at once: a traceback could need memory too
    sys.stdout.buffer.write(result)
    sys.stdout.flush()


if __name__ == "__main__":
    _child()
