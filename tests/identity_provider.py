"""node's oidc-provider on loopback (tests/oidc/provider.mjs), for the OpenID Connect tests."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.server import ROOT, free_port

SCRIPT = ROOT / "tests" / "oidc" / "provider.mjs"


class IdentityProvider:
    """One provider process. `issuer` is what it calls itself (by default its own address);
    accounts are kept in a file it reads at every use, changed with set_account()."""

    def __init__(self, accounts: dict[str, dict], *, issuer: str | None = None) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="chatsite-oidc-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.issuer = issuer or self.url
        self.accounts = dict(accounts)
        self.clients: list[dict] = []
        self.process: subprocess.Popen | None = None

    def add_client(self, client_id: str, secret: str, site: str, name: str, **tweaks) -> None:
        """A client for the site's provider `name` (its callback and login page as redirect URIs)."""
        self.clients.append(
            {
                "client_id": client_id,
                "client_secret": secret,
                "redirect_uris": [f"{site}/sso/oidc/{name}/callback/"],
                "post_logout_redirect_uris": [f"{site}/accounts/login/"],
                **tweaks,
            }
        )

    def set_account(self, username: str, **fields) -> None:
        self.accounts[username] = {**self.accounts.get(username, {}), **fields}
        self._write_accounts()

    def _write_accounts(self) -> None:
        path = self.folder / "accounts.json"
        path.with_suffix(".tmp").write_text(json.dumps(self.accounts, ensure_ascii=False))
        path.with_suffix(".tmp").replace(path)

    def start(self) -> IdentityProvider:
        node = shutil.which("node")
        if node is None or not (SCRIPT.parent / "node_modules" / "oidc-provider").exists():
            raise RuntimeError("node or tests/oidc/node_modules is missing: ./dev test installs them")
        self._write_accounts()
        config = self.folder / "config.json"
        config.write_text(
            json.dumps(
                {
                    "issuer": self.issuer,
                    "port": self.port,
                    "accounts": str(self.folder / "accounts.json"),
                    "clients": self.clients,
                }
            )
        )
        log = open(self.folder / "provider.log", "wb")
        self.process = subprocess.Popen([node, str(SCRIPT), str(config)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while b"ready" not in (self.folder / "provider.log").read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"oidc-provider did not start:\n{self.log()}")
            time.sleep(0.05)
        return self

    def log(self) -> str:
        return (self.folder / "provider.log").read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.folder, ignore_errors=True)
