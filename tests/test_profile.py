"""The profile page: a member's name, address, language and time zone; what they used today
and this month (from the daily counts); who read their conversations.

Through the real views with Django's test Client."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from html import unescape

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chatsite.chat.models import Conversation
from chatsite.reports.models import AuditEntry
from chatsite.teams.models import DailyUsage, TeamSettings
from tests.conftest import logged_in_client
from tests.test_signup import text_of

DETAILS = {"first_name": "Alice", "last_name": "Liddell", "email": "alice@example.com", "language": "", "time_zone": ""}


def save(client: Client, **changes: str):
    return client.post("/accounts/profile/", {**DETAILS, **changes})


def errors_of(response) -> list[str]:
    return [unescape(e) for e in re.findall(r'<ul class="errorlist"[^>]*><li>([^<]*)</li>', response.content.decode())]


@pytest.mark.django_db
def test_the_profile_needs_a_login_and_the_top_bar_links_to_it(alice):
    response = Client().get("/accounts/profile/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert 'href="/accounts/profile/"' in logged_in_client(alice).get("/").content.decode()


@pytest.mark.django_db
def test_a_member_saves_their_name_address_language_and_time_zone(alice):
    client = logged_in_client(alice)
    page = client.get("/accounts/profile/").content.decode()
    assert 'href="/accounts/password/"' in page
    assert '<option value="Asia/Tokyo">' in page and '<option value="zh-hant">' in page
    response = save(client, language="ja", time_zone="Asia/Tokyo")
    assert response.status_code == 302 and response["Location"] == "/accounts/profile/"
    alice.refresh_from_db()
    assert (alice.first_name, alice.last_name, alice.email, alice.language, alice.time_zone) == (
        "Alice",
        "Liddell",
        "alice@example.com",
        "ja",
        "Asia/Tokyo",
    )
    # The page after saving speaks the language just chosen.
    assert "プロフィールを保存しました。" in text_of(client.get("/accounts/profile/"))
    assert save(client, language="", time_zone="").status_code == 302
    alice.refresh_from_db()
    assert (alice.language, alice.time_zone) == ("", "")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("language", "fr", "Select a valid choice. fr is not one of the available choices."),
        (
            "time_zone",
            "Mars/Olympus_Mons",
            "Select a valid choice. Mars/Olympus_Mons is not one of the available choices.",
        ),
        (
            "time_zone",
            "../../etc/passwd",
            "Select a valid choice. ../../etc/passwd is not one of the available choices.",
        ),
        ("first_name", "Al\x07ice", "First name holds a control character (U+0007) that chatsite does not take."),
        ("email", "not an address", "Enter a valid email address."),
    ],
)
def test_the_profile_refuses_what_it_cannot_take_and_keeps_the_old_values(alice, field, value, error):
    client = logged_in_client(alice)
    response = save(client, **{field: value})
    assert response.status_code == 200
    assert errors_of(response) == [error]
    alice.refresh_from_db()
    assert (alice.first_name, alice.language, alice.time_zone) == ("", "", "")


@pytest.mark.django_db
def test_the_profile_refuses_an_address_another_account_has(alice, bob):
    bob.email = "bob@example.com"
    bob.save()
    response = save(logged_in_client(alice), email="Bob@Example.com")
    assert errors_of(response) == ["Another account has this address."]


# -- usage -----------------------------------------------------------------------------------


def usage(user, day, model: str, tokens: int, cost: str, team: str = "", provider: str = "Loopback") -> DailyUsage:
    return DailyUsage.objects.create(
        day=day,
        user=user,
        team_name=team,
        provider_name=provider,
        model_name=model,
        requests=2,
        prompt_tokens=tokens // 2,
        completion_tokens=tokens - tokens // 2,
        total_tokens=tokens,
        cost=Decimal(cost),
    )


def table(page: str, table_id: str) -> list[list[str]]:
    body = re.search(rf'<table class="usage" id="{table_id}">(.*?)</table>', page, re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [
        [
            " ".join(unescape(re.sub(r"<[^>]+>", " ", c)).split())
            for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S)
        ]
        for row in rows
    ]


@pytest.mark.django_db
def test_the_profile_shows_todays_and_this_months_usage_per_model_from_the_daily_counts(alice, bob):
    today = timezone.localdate()
    first = today.replace(day=1)
    usage(alice, today, "test/model-a", 1000, "0.010000", team="Support")
    usage(alice, today, "test/model-a", 500, "0.005000")  # the same model, billed to no team
    usage(alice, first, "test/model-b", 300, "0.300000")  # today too on the 1st of a month
    usage(alice, first - timedelta(days=1), "test/model-a", 99999, "9.000000")  # last month
    usage(bob, today, "test/model-a", 77777, "7.000000")
    client = logged_in_client(alice)
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/accounts/profile/").content.decode()
    assert not [q["sql"] for q in queries if "chat_message" in q["sql"]], "the daily counts, never the messages"

    on_the_first = first == today
    header = ["Model", "Requests", "Tokens", "Cost (USD)"]
    expected_today = [header, ["test/model-a Loopback", "4", "1500", "0.0150"]]
    if on_the_first:
        expected_today += [["test/model-b Loopback", "2", "300", "0.3000"], ["All models", "", "1800", "0.3150"]]
    assert table(page, "usage-1") == expected_today
    assert table(page, "usage-2") == [
        header,
        ["test/model-a Loopback", "4", "1500", "0.0150"],
        ["test/model-b Loopback", "2", "300", "0.3000"],
        ["All models", "", "1800", "0.3150"],
    ]
    assert f"{today:%B %Y}" in page


@pytest.mark.django_db
def test_a_member_without_usage_is_told_so(alice):
    page = logged_in_client(alice).get("/accounts/profile/").content.decode()
    assert table(page, "usage-1")[1] == ["Nothing yet."]


# -- who read my conversations ---------------------------------------------------------------


@pytest.mark.django_db
def test_the_profile_lists_who_read_the_members_conversations_when_the_site_shows_it(admin_user, alice, bob, model):
    admin_user.first_name, admin_user.last_name = "Ada", "Admin"
    admin_user.save()
    conversation = Conversation.objects.create(owner=alice, model=model, title="Alice's plan")
    AuditEntry.objects.create(
        reader=admin_user,
        owner=alice,
        conversation=conversation,
        conversation_title=conversation.title,
        view="transcript",
        reason="Ticket 42: a complaint",
    )
    AuditEntry.objects.create(reader=admin_user, owner=bob, conversation_title="Bob's secret", view="change")
    alice.time_zone = "Asia/Tokyo"
    alice.save()
    client = logged_in_client(alice)
    page = client.get("/accounts/profile/").content.decode()
    [header, read] = table(page, "reads")
    assert header == ["Who", "Conversation", "When", "Reason"]
    assert read[0] == "Ada Admin" and read[1] == "Alice's plan" and read[3] == "Ticket 42: a complaint"
    assert read[2].endswith("JST"), "in her own time zone"
    assert "Bob's secret" not in unescape(page)

    TeamSettings.objects.update_or_create(id=1, defaults={"show_readers": False})
    page = client.get("/accounts/profile/").content.decode()
    assert "Who read your conversations" not in page and "Ticket 42" not in page
