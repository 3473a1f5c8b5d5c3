"""Consistent backups of a site's data, and restoring one: the database and the uploads.

SQLite is copied with its online backup API, a consistent snapshot taken while the server
keeps running and writing; PostgreSQL with pg_dump (one consistent transaction). The uploads
(MEDIA_ROOT) go into a tar file beside it. The generated DATA_DIR/secret_key is not copied: it
would decrypt the secrets in the copy (chatsite/lib/secrets.py); keep SECRET_KEY (or
SECRETS_KEYS) apart from backups.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone

MANIFEST = "manifest.json"


class BackupError(Exception):
    pass


def _database() -> dict:
    return settings.DATABASES["default"]


def _pg_env() -> tuple[list[str], dict]:
    db = _database()
    env = {**os.environ, "PGPASSWORD": str(db.get("PASSWORD") or "")}
    args = [
        "-h",
        str(db.get("HOST") or "localhost"),
        "-p",
        str(db.get("PORT") or 5432),
        "-U",
        str(db.get("USER") or ""),
    ]
    return [*args, str(db["NAME"])], env


def backup(destination: Path) -> Path:
    """Write a backup into a new folder under destination; return it."""
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    folder = Path(destination) / f"chatsite-backup-{stamp}"
    folder.mkdir(parents=True, mode=0o700)
    engine = connection.vendor
    if engine == "sqlite":
        source = sqlite3.connect(str(_database()["NAME"]))
        target = sqlite3.connect(str(folder / "db.sqlite3"))
        try:
            with target:
                source.backup(target)  # page by page, consistent, while others write
        finally:
            target.close()
            source.close()
    elif engine == "postgresql":
        args, env = _pg_env()
        if shutil.which("pg_dump") is None:
            raise BackupError("pg_dump is not installed (Debian: apt-get install postgresql-client).")
        result = subprocess.run(
            ["pg_dump", "--format=custom", "--no-owner", "--file", str(folder / "db.dump"), *args],
            env=env,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise BackupError(f"pg_dump failed: {result.stderr.strip()[:500]}")
    else:
        raise BackupError(f"chatsite backs up SQLite and PostgreSQL, not {engine}.")
    media = Path(settings.MEDIA_ROOT)
    with tarfile.open(folder / "media.tar.gz", "w:gz") as archive:
        if media.exists():
            archive.add(media, arcname="media")
    (folder / MANIFEST).write_text(json.dumps({"engine": engine, "created": timezone.now().isoformat()}, indent=2))
    for path in folder.iterdir():
        path.chmod(0o600)
    return folder


def restore(source: Path) -> None:
    """Put a backup's database and uploads in place of the site's (the server must be stopped)."""
    source = Path(source)
    try:
        manifest = json.loads((source / MANIFEST).read_text())
    except (OSError, ValueError):
        raise BackupError(f"{source} is not a chatsite backup (no {MANIFEST}).") from None
    engine = connection.vendor
    if manifest.get("engine") != engine:
        raise BackupError(f"The backup is of a {manifest.get('engine')} database; this site runs on {engine}.")
    connection.close()
    if engine == "sqlite":
        name = Path(str(_database()["NAME"]))
        for suffix in ("-wal", "-shm"):
            Path(f"{name}{suffix}").unlink(missing_ok=True)
        fd, temporary = tempfile.mkstemp(dir=name.parent)
        os.close(fd)
        shutil.copyfile(source / "db.sqlite3", temporary)
        os.chmod(temporary, 0o600)
        os.replace(temporary, name)
    else:
        args, env = _pg_env()
        result = subprocess.run(
            ["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction", "-d", args[-1], *args[:-1],
             str(source / "db.dump")],
            env=env,
            capture_output=True,
            text=True,
        )  # fmt: skip
        if result.returncode != 0:
            raise BackupError(f"pg_restore failed: {result.stderr.strip()[:500]}")
    media = Path(settings.MEDIA_ROOT)
    media.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=media.parent) as unpacked:
        with tarfile.open(source / "media.tar.gz") as archive:
            archive.extractall(unpacked, filter="data")  # no absolute paths, links out, or devices
        if media.exists():
            shutil.rmtree(media)
        restored = Path(unpacked) / "media"
        if restored.exists():
            os.replace(restored, media)
        else:
            media.mkdir(mode=0o700)
