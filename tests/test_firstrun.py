"""The first run: the admin account is created only with the setup code the server printed."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from playwright.sync_api import expect

from chatsite.accounts import firstrun
from chatsite.accounts.firstrun import setup_code
from tests.browser import new_context
from tests.server import ROOT, ChatServer

FORM = {"username": "admin", "password1": "a-long-password-1", "password2": "a-long-password-1"}
CODE_IN_LOG = re.compile(r"setup code ([A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4})")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("code", "error"),
    [
        (None, "This field is required."),
        ("", "This field is required."),
        ("AAAA-BBBB-CCCC", "That is not the setup code the server printed when it started."),
    ],
)
def test_the_first_run_form_refuses_a_missing_or_wrong_setup_code(code, error):
    data = FORM if code is None else {**FORM, "setup_code": code}
    response = Client().post("/accounts/setup/", data)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not get_user_model().objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("typed", [lambda code: code, lambda code: f" {code.lower().replace('-', ' ')} "])
def test_the_setup_code_creates_the_admin_and_logs_them_in(typed):
    client = Client()
    response = client.post("/accounts/setup/", {**FORM, "setup_code": typed(setup_code())})
    assert response.status_code == 302 and response["Location"] == "/"
    admin = get_user_model().objects.get()
    assert (admin.username, admin.is_superuser, admin.is_staff) == ("admin", True, True)
    assert client.get("/").status_code == 200
    assert Client().get("/accounts/setup/").status_code == 302  # closed for good


@pytest.mark.django_db
def test_the_code_is_announced_once_while_no_account_exists(caplog, monkeypatch):
    monkeypatch.setattr(firstrun, "_announced", False)
    with caplog.at_level(logging.WARNING, logger="chatsite.accounts.firstrun"):
        firstrun.announce_setup_code()
        firstrun.announce_setup_code()  # a second start-up path in the same process
    announced = [record.getMessage() for record in caplog.records if setup_code() in record.getMessage()]
    assert len(announced) == 1
    assert "/accounts/setup/" in announced[0]


@pytest.mark.django_db
def test_no_code_is_announced_once_an_account_exists(alice, caplog, monkeypatch):
    monkeypatch.setattr(firstrun, "_announced", False)
    with caplog.at_level(logging.DEBUG, logger="chatsite.accounts.firstrun"):
        firstrun.announce_setup_code()
    assert setup_code() not in caplog.text


def _code_in_a_process(secret_key: str, data_dir) -> str:
    script = "import django; django.setup(); from chatsite.accounts.firstrun import setup_code; print(setup_code())"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "chatsite.settings", "SECRET_KEY": secret_key}
    env["DATA_DIR"] = str(data_dir)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout.strip()


def test_every_process_of_a_site_has_the_same_code_and_another_site_another(tmp_path):
    """The code comes from SECRET_KEY, which a site's processes share: any of them accepts the
    code another printed."""
    first = _code_in_a_process("the-sites-secret-key-" + "x" * 40, tmp_path)
    assert CODE_IN_LOG.fullmatch(f"setup code {first}")
    assert _code_in_a_process("the-sites-secret-key-" + "x" * 40, tmp_path) == first
    assert _code_in_a_process("another-sites-secret-key-" + "y" * 40, tmp_path) != first


@pytest.mark.django_db
def test_createsuperuser_from_the_environment_still_works_and_closes_the_form(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "root")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "root-password-123")
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "root@example.com")
    call_command("createsuperuser", interactive=False, verbosity=0)
    assert get_user_model().objects.get().is_superuser
    response = Client().get("/accounts/setup/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"


def test_the_first_admin_is_made_in_a_browser_with_the_code_from_the_servers_log(browser, upstream, watch):
    with ChatServer(upstream.base_url, upstream, users=False) as server:
        found = CODE_IN_LOG.search(server.log())
        assert found, server.log()
        context = new_context(browser, server, None)
        try:
            page = watch.attach(context.new_page())
            page.goto("/")
            expect(page).to_have_url(re.compile(r"/accounts/setup/$"))
            expect(page.locator("main")).to_contain_text("setup code")

            def submit(code: str) -> None:
                page.fill("#id_setup_code", code)
                page.fill("#id_username", "admin")
                page.fill("#id_password1", "a-long-password-1")
                page.fill("#id_password2", "a-long-password-1")
                page.click("button[type=submit]")

            submit("AAAA-BBBB-CCCC")
            expect(page.locator(".errorlist")).to_have_text(
                "That is not the setup code the server printed when it started."
            )
            expect(page).to_have_url(re.compile(r"/accounts/setup/$"))

            submit(found.group(1))
            expect(page).to_have_url(re.compile(r"/$"))
            expect(page.locator(".topbar .username")).to_have_text("admin")
            page.goto("/accounts/setup/")
            expect(page).not_to_have_url(re.compile(r"/accounts/setup/$"))
            assert watch.console_errors == [] and watch.dialogs == []
        finally:
            context.close()
