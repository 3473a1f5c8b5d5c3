"""Sign-up by invitation in a real browser, against the app started as the README says.

A team admin makes the invitation in the admin, copies the link from the page, and the
invited person makes their account with it; the link then works no more.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser import log_in, new_context
from tests.server import ChatServer


@pytest.fixture(scope="module")
def server(upstream_for_module):
    with ChatServer(upstream_for_module.base_url, upstream_for_module) as server:
        # A team whose admin is alice, made as a superuser would on the team's admin page.
        server._manage(
            "shell",
            "-c",
            "from django.contrib.auth.models import Group; from chatsite.accounts.models import User; "
            "from chatsite.teams.models import Team; "
            "Team.objects.create(group=Group.objects.create(name='Support')).admins.add(User.objects.get(username='alice'))",
        )
        yield server


@pytest.fixture(scope="module")
def upstream_for_module():
    from tests.upstream import Upstream

    with Upstream() as upstream:
        yield upstream


def test_a_team_admin_invites_someone_who_signs_up_with_the_link_once(browser, server, watch):
    admins = new_context(browser, server, None)
    invited = new_context(browser, server, None)
    late = new_context(browser, server, None)
    try:
        page = admins.new_page()  # (the admin's pages ask for a favicon that is not there)
        log_in(page, "alice")
        page.click("text=Admin")
        page.click("a[href='/admin/accounts/invite/add/']")
        page.select_option("#id_team", label="Support")
        page.fill("#id_email", "charlie@example.com")
        page.click("input[name=_save]")
        expect(page.locator("#content-main")).to_contain_text("it is shown only this once")
        link = page.input_value("#invite-link")
        assert re.fullmatch(rf"{re.escape(server.url)}/accounts/invite/[\w-]{{40,}}/", link), link

        charlie = watch.attach(invited.new_page())
        charlie.goto(link)
        expect(charlie.locator("main")).to_contain_text("alice invited you to the team Support")
        expect(charlie.locator("#id_email")).to_have_value("charlie@example.com")
        charlie.fill("#id_username", "charlie")
        charlie.fill("#id_password1", "charlies-password-1")
        charlie.fill("#id_password2", "charlie")  # a typo first
        charlie.click("button[type=submit]")
        expect(charlie.locator(".errorlist")).to_contain_text("The two password fields didn’t match.")
        charlie.fill("#id_password1", "charlies-password-1")
        charlie.fill("#id_password2", "charlies-password-1")
        charlie.click("button[type=submit]")
        expect(charlie).to_have_url(re.compile(r"/$"))
        expect(charlie.locator(".topbar .username")).to_have_text("charlie")

        rows = server.query(
            "SELECT u.email, u.is_active, g.name FROM accounts_user u "
            "JOIN accounts_user_groups ug ON ug.user_id = u.id JOIN auth_group g ON g.id = ug.group_id "
            "WHERE u.username = 'charlie'"
        )
        assert [tuple(row) for row in rows] == [("charlie@example.com", True, "Support")]

        again = late.new_page()  # the page answers 404, which the console reports
        again.goto(link)
        expect(again.locator("[role=alert]")).to_have_text(
            "This invitation was used already: each one makes a single account."
        )
        expect(again.locator("#id_username")).to_have_count(0)

        page.goto("/admin/accounts/invite/")
        expect(page.locator("#result_list")).to_contain_text("used by charlie")
        assert link.rsplit("/", 2)[1] not in page.content()
        assert watch.console_errors == [] and watch.dialogs == []
    finally:
        for context in (admins, invited, late):
            context.close()
