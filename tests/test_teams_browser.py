"""Budgets and kept records in a real browser, against the app started as the README says.

alice has a budget of 5 tokens a day, and the site keeps records (members may not delete). The
composer shows what is left; once it is spent, sending says which limit, what is left and when
it resets; and no Delete is offered, only Archive.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser import log_in, new_context
from tests.server import ChatServer


@pytest.fixture(scope="module")
def upstream_for_module():
    from tests.upstream import Upstream

    with Upstream() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def server(upstream_for_module):
    with ChatServer(upstream_for_module.base_url, upstream_for_module) as server:
        server._manage(
            "shell",
            "-c",
            "from chatsite.accounts.models import User; from chatsite.teams.models import Budget, TeamSettings; "
            "Budget.objects.create(user=User.objects.get(username='alice'), tokens_per_day=5); "
            "TeamSettings.objects.update_or_create(id=1, defaults={'members_may_delete': False})",
        )
        yield server


def test_the_composer_shows_the_budget_and_a_spent_one_says_which_limit_and_when_it_resets(browser, server, watch):
    context = new_context(browser, server, None)
    try:
        page = watch.attach(context.new_page())
        log_in(page, "alice")
        page.wait_for_function("() => window.__sockets.some((s) => s.readyState === WebSocket.OPEN)")
        left = page.locator("#budget-left")
        expect(left).to_be_visible()
        expect(left).to_have_text("You: tokens today: 5 of 5 left")

        page.fill("#composer-input", "Hi there")
        page.press("#composer-input", "Enter")  # nothing spent yet: admitted
        expect(page.locator('article[data-role="assistant"]').last).to_have_attribute("data-status", "complete")
        expect(left).to_have_text("You: tokens today: 0 of 5 left")  # it took 6
        expect(left.locator(".budget-item--low")).to_have_count(1)

        page.fill("#composer-input", "More")
        page.press("#composer-input", "Enter")
        banner = page.locator("#error-banner")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text(
            re.compile(r"Your budget of 5 tokens for today is used up \(6 used, 0 left\); it resets on .+ at .+\.")
        )
        chats = [r for r in server.upstream.requests if r["path"].endswith("/chat/completions")]
        assert len(chats) == 1, "the provider was not called for the refused turn"

        # The site keeps records: the conversation's menu offers Archive and no Delete.
        item = page.locator("#conversation-list .conversation-item").first
        item.hover()
        item.locator(".menu-button").click()
        menu = page.locator(".popup-menu:not([hidden])")
        expect(menu.get_by_role("menuitem", name="Archive")).to_be_visible()
        expect(menu.get_by_role("menuitem", name="Delete")).to_have_count(0)
        menu.get_by_role("menuitem", name="Archive").click()
        page.click("#archived-button")
        archived = page.locator("#archived-dialog .archived-item")
        expect(archived).to_have_count(1)
        expect(archived.locator(".archived-unarchive")).to_be_visible()
        expect(archived.locator(".archived-delete")).to_have_count(0)
        assert watch.dialogs == [] and watch.console_errors == []
    finally:
        context.close()
