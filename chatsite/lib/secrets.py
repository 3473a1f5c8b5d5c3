"""Secrets at rest: provider keys and tool headers are encrypted in the database.

A leaked backup (or database) then leaks no key. The keys are Fernet keys (AES-128-CBC and
HMAC-SHA256, from the `cryptography` library) in SECRETS_KEYS, comma-separated: the first one
encrypts, every one decrypts, so a key is rotated by putting a new one first, running
`manage.py rotatesecrets` (which encrypts every stored secret with it), then dropping the old
one. Without SECRETS_KEYS a key is derived from SECRET_KEY, which is fine for a single machine
whose SECRET_KEY is not in its backups (the generated DATA_DIR/secret_key is left out of
`manage.py backup`), and which SECRETS_KEYS should replace in production.
"""

from __future__ import annotations

import base64
import functools
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

PREFIX = "fernet:"  # what marks a stored value as encrypted (older rows may hold plain text)


@functools.cache
def _fernet(keys: tuple[str, ...], secret_key: str) -> MultiFernet:
    if not keys:
        derived = hashlib.sha256(b"chatsite secrets at rest\0" + secret_key.encode()).digest()
        keys = (base64.urlsafe_b64encode(derived).decode(),)
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError:
        raise ImproperlyConfigured(
            "SECRETS_KEYS must be Fernet keys (44 characters each, comma-separated); "
            'make one with: python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
        ) from None


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.SECRETS_KEYS), settings.SECRET_KEY)


def encrypt(value: str) -> str:
    return PREFIX + fernet().encrypt(value.encode()).decode() if value else ""


def decrypt(stored: str) -> str:
    """The plain value of a stored one (plain text written before encryption is returned as is)."""
    if not stored or not stored.startswith(PREFIX):
        return stored or ""
    return _decrypted(stored, tuple(settings.SECRETS_KEYS), settings.SECRET_KEY)


# Every turn reads its provider's key: decrypting it cost an idle server a quarter of a
# millisecond before the request could start (OpenSSL's code gone cold), a lookup here. Keyed
# by the keys too, so a rotation is never answered from before it.
@functools.lru_cache(maxsize=1024)
def _decrypted(stored: str, keys: tuple[str, ...], secret_key: str) -> str:
    try:
        return _fernet(keys, secret_key).decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted with SECRETS_KEYS: the key it was encrypted with is missing."
        ) from None


def rotate(stored: str) -> str:
    """The stored value encrypted with the first key (plain text is encrypted)."""
    if not stored:
        return ""
    if not stored.startswith(PREFIX):
        return encrypt(stored)
    return PREFIX + fernet().rotate(stored[len(PREFIX) :].encode()).decode()


class EncryptedTextField(models.TextField):
    """A secret: encrypted when written, plain in Python. Its max_length bounds the plain value."""

    def from_db_value(self, value, expression, connection):
        return decrypt(value) if value is not None else value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return encrypt(value) if value else value
