"""Provider keys, team keys and HTTP tool headers are encrypted in the database (a leaked backup
leaks none of them), readable with any key of SECRETS_KEYS, re-encrypted by rotatesecrets."""

import os

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection

from chatsite.providers.models import Provider
from chatsite.tools.models import HttpTool

pytestmark = pytest.mark.django_db

KEY = "sk-live-0123456789-very-secret"


def raw(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        quote = connection.ops.quote_name  # ("authorization" is a keyword in PostgreSQL)
        cursor.execute(f"SELECT {quote(column)} FROM {quote(table)} WHERE id = %s", [pk])  # noqa: S608 - our names
        return cursor.fetchone()[0]


def test_a_provider_key_and_a_tool_header_are_stored_encrypted_and_read_plain(settings):
    settings.SECRETS_KEYS = [Fernet.generate_key().decode()]
    provider = Provider.objects.create(name="P", base_url="https://api.example.com/v1", api_key=KEY)
    tool = HttpTool.objects.create(
        name="t", description="d", url="https://tools.example.com/t", authorization=f"Bearer {KEY}"
    )
    for table, column, pk in [
        ("providers_provider", "api_key", provider.pk),
        ("tools_httptool", "authorization", tool.pk),
    ]:
        stored = raw(table, column, pk)
        assert stored.startswith("fernet:") and KEY not in stored
    assert Provider.objects.get(pk=provider.pk).api_key == KEY
    assert HttpTool.objects.get(pk=tool.pk).authorization == f"Bearer {KEY}"
    assert Provider.objects.values_list("api_key", flat=True).get(pk=provider.pk) == KEY


@pytest.mark.django_db(transaction=True)
def test_the_database_file_holds_no_key(settings):
    if connection.vendor != "sqlite":
        pytest.skip("reads SQLite's own file; on PostgreSQL the column test above covers it")
    settings.SECRETS_KEYS = [Fernet.generate_key().decode()]
    Provider.objects.create(name="P", base_url="https://api.example.com/v1", api_key=KEY)  # committed
    name = str(connection.settings_dict["NAME"])
    data = b"".join(open(path, "rb").read() for path in (name, f"{name}-wal") if os.path.exists(path))
    assert b"api.example.com" in data  # the row is there…
    assert KEY.encode() not in data  # …its key is not


def test_keys_rotate_with_rotatesecrets(settings, capsys):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.SECRETS_KEYS = [old]
    provider = Provider.objects.create(name="P", base_url="https://api.example.com/v1", api_key=KEY)
    settings.SECRETS_KEYS = [new, old]  # the new key first: old values still read
    assert Provider.objects.get(pk=provider.pk).api_key == KEY
    call_command("rotatesecrets")
    assert "1 secret(s) encrypted" in capsys.readouterr().out
    settings.SECRETS_KEYS = [new]  # the old key dropped
    assert Provider.objects.get(pk=provider.pk).api_key == KEY
    settings.SECRETS_KEYS = [old]  # and the new value is not readable with the old one alone
    with pytest.raises(ImproperlyConfigured, match="cannot be decrypted"):
        Provider.objects.get(pk=provider.pk)


def test_a_key_read_before_is_not_read_once_its_secrets_key_is_gone(settings):
    # Decrypted keys are remembered (every turn reads its provider's key); a value read under
    # one SECRETS_KEYS is never answered from memory under another.
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.SECRETS_KEYS = [old]
    provider = Provider.objects.create(name="P", base_url="https://api.example.com/v1", api_key=KEY)
    assert Provider.objects.get(pk=provider.pk).api_key == KEY
    assert Provider.objects.get(pk=provider.pk).api_key == KEY  # (from memory)
    settings.SECRETS_KEYS = [new]
    with pytest.raises(ImproperlyConfigured, match="cannot be decrypted"):
        Provider.objects.get(pk=provider.pk)
    settings.SECRETS_KEYS = [new, old]
    assert Provider.objects.get(pk=provider.pk).api_key == KEY


def test_a_malformed_key_says_how_to_make_one(settings):
    settings.SECRETS_KEYS = ["not-a-key"]
    with pytest.raises(ImproperlyConfigured, match="Fernet keys"):
        Provider.objects.create(name="P", base_url="https://api.example.com/v1", api_key=KEY)
