"""deploy/'s files with a test's (or a benchmark's) ports and paths put in: the command of
deploy/chatsite@.service for one instance, and nginx running deploy/nginx.conf as it is."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
VENV = Path(sys.prefix)
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")  # nginx's, in the run's folder


def unit(instance: int, port: int, metrics_port: int) -> tuple[list[str], dict[str, str]]:
    """deploy/chatsite@.service's ExecStart and Environment for one instance, with this port,
    metrics port and virtualenv."""
    text = (DEPLOY / "chatsite@.service").read_text()
    command = re.search(r"^ExecStart=(.+)$", text, re.M).group(1)
    environment = dict(re.findall(r"^Environment=([A-Z_]+)=(.+)$", text, re.M))
    assert "800%i" in command and "/opt/chatsite/.venv/" in command, command
    command = command.replace("800%i", str(port)).replace("/opt/chatsite/.venv/", f"{VENV}/")
    assert environment["METRICS_ADDRESS"] == "127.0.0.1:946%i"
    environment["METRICS_ADDRESS"] = f"127.0.0.1:{metrics_port}"
    return command.replace("%i", str(instance)).split(), environment


def nginx_site(backends: list[int], https_port: int, http_port: int, certificate: Path, key: Path) -> str:
    """deploy/nginx.conf with these ports and certificate."""
    site = (DEPLOY / "nginx.conf").read_text()
    replacements = [
        (
            "    server 127.0.0.1:8001 max_fails=0;\n    server 127.0.0.1:8002 max_fails=0;\n",
            "".join(f"    server 127.0.0.1:{p} max_fails=0;\n" for p in backends),
        ),
        (
            "    listen 443 ssl http2;\n    listen [::]:443 ssl http2;\n",
            f"    listen 127.0.0.1:{https_port} ssl http2;\n",
        ),
        ("    listen 80;\n    listen [::]:80;\n", f"    listen 127.0.0.1:{http_port};\n"),
        ("/etc/ssl/certs/chat.example.com.pem", str(certificate)),
        ("/etc/ssl/private/chat.example.com.key", str(key)),
        ("server_name chat.example.com;", "server_name 127.0.0.1;"),
    ]
    for old, new in replacements:
        assert old in site, f"deploy/nginx.conf changed: {old!r} is not in it"
        site = site.replace(old, new)
    return site


def start_nginx(folder: Path, backends: list[int], https_port: int, http_port: int, **popen) -> subprocess.Popen:
    """Debian's nginx with deploy/nginx.conf in front of `backends`, everything it writes in
    `folder` (a self-signed certificate, logs, temp files); returns once it answers /healthz."""
    certificate, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(certificate)],
        check=True, capture_output=True,
    )  # fmt: skip
    (folder / "site.conf").write_text(nginx_site(backends, https_port, http_port, certificate, key))
    (folder / "nginx.conf").write_text(
        f"pid {folder}/nginx.pid;\nerror_log {folder}/nginx-error.log;\n"
        # Debian's own nginx.conf: a worker per core, 768 connections each; a browser holds a
        # socket and the proxy another to the app, so allow more for a thousand users.
        "worker_processes auto;\nevents { worker_connections 4096; }\n"
        f"http {{\n  include /etc/nginx/mime.types;\n  access_log {folder}/nginx-access.log;\n"
        + "".join(f"  {kind}_temp_path {folder}/{kind};\n" for kind in TEMP_PATHS)
        + f"  include {folder}/site.conf;\n}}\n"
    )
    nginx = subprocess.Popen(
        ["nginx", "-p", str(folder), "-c", str(folder / "nginx.conf"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "nginx.out", "wb"),  # noqa: SIM115 - the child's
        **popen,
    )
    deadline = time.monotonic() + 15
    while True:
        try:
            if httpx.get(f"https://127.0.0.1:{https_port}/healthz", verify=False, timeout=2).status_code == 200:
                return nginx
        except httpx.HTTPError:
            pass
        if nginx.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"nginx did not start: {(folder / 'nginx-error.log').read_text()[-2000:]}")
        time.sleep(0.1)
