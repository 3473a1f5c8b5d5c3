"""The data directory holds sessions, provider keys and tool headers: only the server's own
user may read anything in it."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import expect

from tests.browser import log_in, new_context
from tests.samples import png_bytes
from tests.server import ROOT, ChatServer
from tests.test_browser import last_answer, open_chat, send, wait_status


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def loose_modes(data_dir: Path) -> dict[str, str]:
    """Everything under data_dir that another user could read or enter: {path: mode}."""
    loose = {}
    for path in [data_dir, *data_dir.rglob("*")]:
        relative = path.relative_to(data_dir)
        # Static files are the site's public scripts and styles, served to anyone (and out of
        # other users' reach all the same, inside the 0700 data directory).
        if relative.parts[:1] == ("static",):
            continue
        expected = 0o700 if path.is_dir() else 0o600
        if mode(path) != expected:
            loose[str(relative)] = oct(mode(path))
    return loose


def test_everything_under_data_dir_is_private_after_a_chat_with_an_upload(browser, upstream, watch, tmp_path):
    data_dir = tmp_path / "data"  # not there yet: the app creates it
    picture = tmp_path / "red.png"
    picture.write_bytes(png_bytes())
    with ChatServer(upstream.base_url, upstream, data_dir=data_dir, log_path=tmp_path / "serve.log") as server:
        upstream.script(tokens=["A red ", "square."])
        context = new_context(browser, server, None)
        try:
            page = watch.attach(context.new_page())
            log_in(page)
            open_chat(page)
            page.set_input_files("#attach-input", picture)
            expect(page.locator("#attachment-tray .attachment-pending.is-uploading")).to_have_count(0)
            send(page, "What is this?")
            wait_status(page, "complete")
            expect(last_answer(page).locator(".message-body")).to_have_text("A red square.")
        finally:
            context.close()

        written = {str(path.relative_to(data_dir)) for path in data_dir.rglob("*") if path.is_file()}
        assert "secret_key" in written
        assert any(name.startswith("media/attachments/") for name in written), written
        if server.pg_name is None:  # on SQLite, with the server still running
            assert {"db.sqlite3", "db.sqlite3-wal", "db.sqlite3-shm"} <= written
        assert loose_modes(data_dir) == {}


def test_an_older_installs_data_directory_is_tightened_at_start(tmp_path):
    data_dir = tmp_path / "data"
    attachments = data_dir / "media" / "attachments"
    attachments.mkdir(parents=True)
    (attachments / "an-old-upload").write_bytes(png_bytes())
    (data_dir / "secret_key").write_text("an-older-installs-generated-secret-key-" + "k" * 20)
    database = sqlite3.connect(data_dir / "db.sqlite3")  # kept open: its -wal and -shm stay
    try:
        database.execute("PRAGMA journal_mode=WAL")
        database.execute("CREATE TABLE t (x)")
        database.execute("INSERT INTO t VALUES (1)")
        database.commit()
        for path in [data_dir, *data_dir.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)  # as a umask of 022 made them
        env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "SECRET_KEY")}
        env.update(DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="chatsite.settings")
        subprocess.run(
            [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, timeout=60, check=True
        )
        assert mode(data_dir) == 0o700
        assert mode(data_dir / "media") == 0o700
        for name in ("secret_key", "db.sqlite3", "db.sqlite3-wal", "db.sqlite3-shm"):
            assert mode(data_dir / name) == 0o600, name
    finally:
        database.close()
