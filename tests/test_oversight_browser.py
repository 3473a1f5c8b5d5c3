"""The admin's transcript view and usage chart in a real browser (Debian's Chromium), against the
app started as the README says, on a server of this module's own: root is the superuser, alice
a member whose conversation has Markdown, thinking, a tool call, a citation, an error and an
image; the daily counts cover the last week."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser import new_context
from tests.server import ChatServer
from tests.upstream import Upstream

ROOT_PASSWORD = "root-password-123"

SEED = r"""
import io
from datetime import timedelta
from decimal import Decimal
from PIL import Image
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.utils import timezone
from chatsite.chat.models import Attachment, Conversation, Message
from chatsite.teams.models import DailyUsage

U = get_user_model()
U.objects.create_superuser('root', password=%(password)r)
alice = U.objects.get(username='alice')
c = Conversation.objects.create(owner=alice, title='Launch plan')
q = Message.objects.create(conversation=c, role='user', text='What about <img src=x onerror=alert(1)> this sketch?')
out = io.BytesIO()
Image.new('RGB', (40, 30), (200, 30, 30)).save(out, 'PNG')
a = Attachment(owner=alice, message=q, kind='image', content_type='image/png', size_bytes=len(out.getvalue()),
               width=40, height=30, original_name='sketch.png')
a.file.save('sketch.png', ContentFile(out.getvalue()))
Message.objects.create(
    conversation=c, role='assistant', model_name='test/model-a', provider_name='Loopback',
    text='**Ship it** on *Friday*.\n\n```python\nprint(42)\n```\n\n<script>window.__pwned = 1</script>',
    reasoning='Fridays are quiet.', prompt_tokens=12, completion_tokens=34, total_tokens=46, first_token_ms=250,
    tool_calls=[{'id': 'c1', 'name': 'calculator', 'arguments': '{"expression": "6*7"}', 'result': '42',
                 'status': 'done', 'round': 0, 'at': 0}],
    citations=[{'url': 'https://example.com/launch', 'title': 'Launch notes'}],
    status='error', error='The provider went away.')
today = timezone.localdate()
bob = U.objects.get(username='bob')
for n in range(7):
    for user, model, tokens in ((alice, 'test/model-a', 1000 * (n + 1)), (bob, 'test/model-b', 500)):
        DailyUsage.objects.create(day=today - timedelta(days=n), user=user, provider_name='Loopback', model_name=model,
                                  requests=n + 1, prompt_tokens=tokens, total_tokens=tokens, cost=Decimal('0.01'))
"""


@pytest.fixture(scope="module")
def server():
    upstream = Upstream().start()
    chat = ChatServer(upstream.base_url, upstream)
    try:
        chat.start()
        chat._manage("shell", "-c", SEED % {"password": ROOT_PASSWORD})
        yield chat
    finally:
        chat.stop()
        upstream.stop()


@pytest.fixture(scope="module")
def root_state(browser, server) -> dict:
    context = browser.new_context(base_url=server.url)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", ROOT_PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/$"))
    state = context.storage_state()
    context.close()
    return state


@pytest.fixture
def admin_page(browser, server, root_state, watch) -> Page:
    context = new_context(browser, server, root_state, accept_downloads=True)
    # Django's admin pages name no icon, so the browser asks for /favicon.ico (a 404).
    context.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    yield watch.attach(context.new_page())
    context.close()


def test_the_admin_reads_a_transcript_as_the_member_saw_it_and_the_read_is_recorded(admin_page, server, watch):
    page = admin_page
    page.goto("/admin/chat/conversation/")
    row = page.locator("#result_list tbody tr", has_text="Launch plan")
    row.locator("a.transcript-link").click()
    expect(page.locator("#transcript-title")).to_have_text("Launch plan")
    expect(page.locator("#transcript-owner")).to_have_text("alice")
    answer = page.locator('article[data-role="assistant"]')
    # Markdown rendered and sanitized by the chat's own renderer.
    expect(answer.locator(".message-body strong")).to_have_text("Ship it")
    expect(answer.locator(".message-body .code-block code")).to_contain_text("print(42)")
    expect(answer.locator(".message-body")).to_contain_text("<script>window.__pwned = 1</script>")
    expect(answer.locator(".thinking summary")).to_have_text("Thought")
    expect(answer.locator(".tool-call-name")).to_have_text("calculator")
    expect(answer.locator(".citations a")).to_have_attribute("href", "https://example.com/launch")
    expect(answer.locator(".meta-model")).to_have_text("test/model-a")
    expect(answer.locator(".meta-status")).to_have_text("Error: The provider went away.")
    expect(answer.locator(".meta-usage")).to_contain_text("12 prompt + 34 completion tokens")
    expect(answer.locator(".meta-timing")).to_contain_text("first token 250 ms")
    question = page.locator('article[data-role="user"]')
    expect(question.locator(".message-body")).to_have_text("What about <img src=x onerror=alert(1)> this sketch?")
    thumb = question.locator("img.attachment-thumb")
    expect(thumb).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth === 40", arg=thumb.element_handle())
    assert page.evaluate("window.__unsafe") == [] and page.evaluate("window.__pwned") is None
    assert watch.dialogs == [] and watch.console_errors == [] and page.evaluate("window.__csp") == []
    assert server.query(
        "SELECT r.username, o.username, e.view, e.conversation_title FROM reports_auditentry e "
        "JOIN accounts_user r ON r.id = e.reader_id JOIN accounts_user o ON o.id = e.owner_id"
    ) == [("root", "alice", "transcript", "Launch plan")]


def test_the_usage_report_draws_a_chart_per_day_and_per_model_and_exports_csv(admin_page, watch):
    page = admin_page
    page.goto("/admin/")
    page.get_by_role("link", name="Usage reports").click()
    page.select_option("#id_period", "7")
    page.select_option("#id_by", "model")
    page.get_by_role("button", name="Show").click()
    days = page.locator("#chart-days")
    expect(days).to_be_visible()
    expect(days.locator("rect")).to_have_count(7)
    heights = days.locator("rect").evaluate_all("bars => bars.map(b => b.getBBox().height)")
    # alice's tokens grow with age (1000 × (days ago + 1)), bob's are 500 a day: the oldest bar is the tallest.
    assert heights[0] == max(heights) and heights[-1] == min(heights) and min(heights) > 0
    by = page.locator("#chart-by")
    expect(by.locator("rect")).to_have_count(2)
    expect(by).to_contain_text("test/model-a")
    widths = by.locator("rect").evaluate_all("bars => bars.map(b => b.getBBox().width)")
    assert widths[0] > widths[1] > 0  # 28,000 tokens against 3,500
    expect(page.locator("#usage-table tbody tr")).to_have_count(2)
    with page.expect_download() as download:
        page.click("#csv-link")
    lines = open(download.value.path()).read().splitlines()
    assert lines[0].startswith("model,requests") and lines[1].startswith("test/model-a,28,28000")
    assert watch.console_errors == [] and page.evaluate("window.__csp") == []
