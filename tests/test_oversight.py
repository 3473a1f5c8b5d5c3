"""History and usage for admins: the transcript view, the reading rules (off, on, with a reason),
the record of every read, a team admin's scope, and the usage reports with their CSV.

Through the real admin views with Django's test Client, logged in through the login form. Alice
and bob are team Research (bob is its admin), charlie is team Sales; "admin" is pytest-django's
superuser."""

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chatsite.chat.models import Attachment, Conversation, Folder, Message
from chatsite.reports.models import AuditEntry
from chatsite.teams.models import DailyUsage, Team, TeamSettings
from tests.samples import png_bytes
from tests.test_admin_security import log_in, log_in_admin, run_action, staff

pytestmark = pytest.mark.django_db

SECRET_WORDS = "the quarterly numbers are in the blue folder"
ANSWER = "**Bold plan**: move the needle by Friday."


def team(name: str, *members, admins=()) -> Team:
    group = Group.objects.create(name=name)
    made = Team.objects.create(group=group)
    group.user_set.add(*members)
    made.admins.add(*admins)
    return made


@pytest.fixture
def research(alice, bob):
    return team("Research", alice, bob, admins=[bob])


@pytest.fixture
def sales(charlie):
    return team("Sales", charlie)


def conversation_of(user, title: str, question: str = SECRET_WORDS, answer: str = ANSWER, **answer_fields):
    conversation = Conversation.objects.create(owner=user, title=title, system_prompt="Speak like a pirate.")
    asked = Message.objects.create(conversation=conversation, role="user", text=question)
    Message.objects.create(
        conversation=conversation,
        role="assistant",
        text=answer,
        model_name="test/model-a",
        provider_name="Loopback",
        prompt_tokens=12,
        completion_tokens=7,
        total_tokens=19,
        first_token_ms=321,
        **answer_fields,
    )
    return conversation, asked


def set_reading(mode: str, show_readers: bool = True) -> None:
    TeamSettings.objects.update_or_create(id=1, defaults={"transcript_reading": mode, "show_readers": show_readers})


def reads(**match) -> list[tuple]:
    return list(AuditEntry.objects.filter(**match).values_list("reader__username", "owner__username", "view", "reason"))


def change_url(conversation) -> str:
    return f"/admin/chat/conversation/{conversation.pk}/change/"


def transcript_url(conversation) -> str:
    return f"/admin/chat/conversation/{conversation.pk}/transcript/"


# -- every read path writes its record ---------------------------------------------------------


def test_the_change_page_and_its_inline_show_the_messages_and_record_the_read(admin_user, alice):
    set_reading("on")
    conversation, _ = conversation_of(alice, "Budget talk")
    page = log_in_admin(admin_user).get(change_url(conversation))
    assert page.status_code == 200
    text = page.content.decode()
    assert SECRET_WORDS in text and "move the needle" in text and "Speak like a pirate." in text
    assert reads() == [("admin", "alice", "change", "")]
    entry = AuditEntry.objects.get()
    assert (entry.conversation, entry.conversation_code, entry.conversation_title) == (
        conversation,
        conversation.code,
        "Budget talk",
    )


def test_the_transcript_shows_the_conversation_as_people_read_it_and_records_the_read(admin_user, alice):
    set_reading("on")
    conversation, _ = conversation_of(
        alice,
        "Budget talk",
        reasoning="Let me think about Friday.",
        citations=[{"url": "https://example.com/plan", "title": "The plan"}],
        tool_calls=[{"id": "c1", "name": "calculator", "arguments": "{}", "result": "42", "round": 0, "at": 0}],
        status=Message.Status.ERROR,
        error="The provider went away.",
    )
    page = log_in_admin(admin_user).get(transcript_url(conversation))
    assert page.status_code == 200
    shown = {m["role"]: m for m in page.context["messages"]}
    assert shown["user"]["text"] == SECRET_WORDS
    answer = shown["assistant"]
    assert (answer["text"], answer["reasoning"], answer["status"], answer["error"]) == (
        ANSWER,
        "Let me think about Friday.",
        "error",
        "The provider went away.",
    )
    assert (answer["model"], answer["prompt_tokens"], answer["completion_tokens"], answer["first_token_ms"]) == (
        "test/model-a",
        12,
        7,
        321,
    )
    assert answer["citations"][0]["url"] == "https://example.com/plan" and answer["tool_calls"][0]["result"] == "42"
    # Rendered by the chat's own renderer (Markdown through its sanitizer), from JSON, not as HTML.
    html = page.content.decode()
    assert 'id="shared-messages"' in html and "js/shared-page.js" in html and "<strong>Bold plan" not in html
    assert reads() == [("admin", "alice", "transcript", "")]


def test_the_message_change_page_records_a_read_of_that_message(admin_user, alice):
    set_reading("on")
    conversation, asked = conversation_of(alice, "Budget talk")
    page = log_in_admin(admin_user).get(f"/admin/chat/message/{asked.pk}/change/")
    assert page.status_code == 200 and SECRET_WORDS in page.content.decode()
    assert reads(message=asked) == [("admin", "alice", "message", "")]


def test_search_results_show_where_the_text_matched_and_record_each_conversation_shown(admin_user, alice, charlie):
    set_reading("on")
    found, _ = conversation_of(alice, "Budget talk")
    conversation_of(charlie, "Lunch", question="Where do we eat?", answer="At noon.")
    page = log_in_admin(admin_user).get("/admin/chat/conversation/?q=quarterly")
    assert page.status_code == 200
    listed = list(page.context["cl"].result_list)
    assert listed == [found]
    assert "the quarterly numbers are in the blue" in page.content.decode()
    assert reads() == [("admin", "alice", "search", "")]
    # Titles and usernames are searched too (and a title match shows no text: nothing is read).
    by_title = log_in_admin(admin_user).get("/admin/chat/conversation/?q=Lunch")
    assert [c.title for c in by_title.context["cl"].result_list] == ["Lunch"]
    assert AuditEntry.objects.count() == 1


def test_reading_ones_own_conversation_is_not_recorded(admin_user):
    set_reading("on")
    conversation, _ = conversation_of(admin_user, "Mine")
    client = log_in_admin(admin_user)
    assert client.get(transcript_url(conversation)).status_code == 200
    assert client.get(change_url(conversation)).status_code == 200
    assert AuditEntry.objects.count() == 0


# -- reading off: no text on any path ------------------------------------------------------------


def test_with_reading_off_no_admin_page_shows_someone_elses_messages(admin_user, alice):
    set_reading("off")
    conversation, asked = conversation_of(alice, "Budget talk")
    client = log_in_admin(admin_user)
    pages = {
        "change": client.get(change_url(conversation)),
        "message": client.get(f"/admin/chat/message/{asked.pk}/change/"),
        "messages": client.get("/admin/chat/message/"),
        "delete": client.get(f"/admin/chat/conversation/{conversation.pk}/delete/"),
        "search": client.get("/admin/chat/conversation/?q=quarterly"),
        "list": client.get("/admin/chat/conversation/"),
    }
    transcript = client.get(transcript_url(conversation))
    assert transcript.status_code == 403 and "switched off" in transcript.content.decode()
    assert {name: page.status_code for name, page in pages.items()} == dict.fromkeys(pages, 200)
    for page in [*pages.values(), transcript]:
        text = page.content.decode()
        assert "numbers are in the blue" not in text  # (the search term itself is echoed)
        assert "move the needle" not in text and "Speak like a pirate." not in text
    assert list(pages["search"].context["cl"].result_list) == [], "message text is not searched"
    assert "Budget talk" in pages["change"].content.decode(), "what is not text still shows"
    assert AuditEntry.objects.count() == 0


# -- reading with a reason: asked before each read, recorded with it -----------------------------


def test_with_reasons_each_read_asks_why_first_and_records_the_answer(admin_user, alice):
    set_reading("reason")
    conversation, _ = conversation_of(alice, "Budget talk")
    client = log_in_admin(admin_user)
    asked = client.get(transcript_url(conversation))
    assert asked.status_code == 302 and asked["Location"].startswith("/admin/reports/auditentry/reason/?next=")
    form = client.get(asked["Location"])
    assert form.status_code == 200 and 'id="reason-form"' in form.content.decode()
    assert AuditEntry.objects.count() == 0
    empty = client.post(asked["Location"], {"next": transcript_url(conversation), "reason": "  "})
    assert empty.status_code == 200 and empty.context["form"].errors
    given = client.post(asked["Location"], {"next": transcript_url(conversation), "reason": "Ticket 4711"})
    assert given.status_code == 302 and given["Location"] == transcript_url(conversation)
    page = client.get(given["Location"])
    assert page.status_code == 200 and page.context["messages"][0]["text"] == SECRET_WORDS
    assert reads() == [("admin", "alice", "transcript", "Ticket 4711")]
    # The reason was for that one read: the next one asks again.
    again = client.get(transcript_url(conversation))
    assert again.status_code == 302 and "/reason/" in again["Location"]
    assert AuditEntry.objects.count() == 1


def test_with_reasons_the_change_page_and_a_search_ask_too(admin_user, alice):
    set_reading("reason")
    conversation, _ = conversation_of(alice, "Budget talk")
    client = log_in_admin(admin_user)
    for url in (change_url(conversation), "/admin/chat/conversation/?q=quarterly"):
        asked = client.get(url)
        assert asked.status_code == 302 and "/reason/" in asked["Location"], url
        client.post(asked["Location"], {"next": url, "reason": f"Audit of {url}"})
        assert client.get(url).status_code == 200
    assert sorted(reads()) == [
        ("admin", "alice", "change", f"Audit of {change_url(conversation)}"),
        ("admin", "alice", "search", "Audit of /admin/chat/conversation/?q=quarterly"),
    ]
    # The list without a search shows no text and asks nothing.
    assert client.get("/admin/chat/conversation/").status_code == 200


@pytest.mark.parametrize("next_url", ["https://elsewhere.example/admin/", "/c/1/", "//elsewhere.example/admin/"])
def test_the_reason_form_goes_on_only_to_this_sites_admin(admin_user, next_url):
    set_reading("reason")
    client = log_in_admin(admin_user)
    answer = client.post("/admin/reports/auditentry/reason/", {"next": next_url, "reason": "because"})
    assert answer.status_code == 400


# -- files the transcript shows -----------------------------------------------------------------


def test_a_transcripts_images_are_served_only_after_it_was_read(admin_user, alice):
    set_reading("on")
    conversation, asked = conversation_of(alice, "Sketch")
    image = Attachment(owner=alice, message=asked, content_type="image/png", size_bytes=10, width=8, height=6)
    image.file.save("x.png", ContentFile(png_bytes(size=(8, 6))))
    client = log_in_admin(admin_user)
    file_url = f"{transcript_url(conversation)}file/{image.code}/"
    assert client.get(file_url).status_code == 404, "not read yet"
    page = client.get(transcript_url(conversation))
    assert page.context["messages"][0]["attachments"][0]["url"] == file_url
    served = client.get(file_url)
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    set_reading("off")
    assert client.get(file_url).status_code == 404


# -- the record cannot be written in the admin ---------------------------------------------------


def test_no_one_adds_changes_or_deletes_a_read_in_the_admin(admin_user, alice):
    set_reading("on")
    conversation, _ = conversation_of(alice, "Budget talk")
    client = log_in_admin(admin_user)
    client.get(transcript_url(conversation))
    entry = AuditEntry.objects.get()
    base = "/admin/reports/auditentry/"
    assert client.get(base).status_code == 200
    assert client.get(f"{base}{entry.pk}/change/").status_code == 200, "it can be looked at"
    answers = {
        "add page": client.get(f"{base}add/").status_code,
        "add": client.post(f"{base}add/", {"reader": admin_user.pk, "owner": alice.pk, "view": "change"}).status_code,
        "change": client.post(f"{base}{entry.pk}/change/", {"reason": "nothing happened"}).status_code,
        "delete page": client.get(f"{base}{entry.pk}/delete/").status_code,
        "delete": client.post(f"{base}{entry.pk}/delete/", {"post": "yes"}).status_code,
        "delete selected": run_action(client, base, "delete_selected", entry.pk, post="yes").status_code,
    }
    assert answers == dict.fromkeys(answers, 403)
    assert list(AuditEntry.objects.values_list("pk", "reason")) == [(entry.pk, "")]


# -- a team admin sees their teams' members, and no one else -------------------------------------


def test_a_team_admin_reads_only_their_teams_members_conversations(bob, alice, charlie, research, sales):
    set_reading("on")
    alices, alices_question = conversation_of(alice, "Research notes")
    charlies, charlies_question = conversation_of(charlie, "Sales notes")
    client = log_in(bob)
    listed = client.get("/admin/chat/conversation/")
    assert listed.status_code == 200
    assert list(listed.context["cl"].result_list) == [alices]
    searched = client.get("/admin/chat/conversation/?q=quarterly")
    assert list(searched.context["cl"].result_list) == [alices]
    for url in (
        change_url(charlies),
        transcript_url(charlies),
        f"/admin/chat/message/{charlies_question.pk}/change/",
        f"{transcript_url(charlies)}file/{charlies.code}/",
    ):
        assert client.get(url).status_code == 404, url
    assert client.get(transcript_url(alices)).status_code == 200
    assert client.get(f"/admin/chat/message/{alices_question.pk}/change/").status_code == 200
    assert list(client.get("/admin/chat/message/").context["cl"].result_list) == list(alices.messages.all())
    # The record of reads: their members' and their own, not the reads of other teams' members.
    AuditEntry.objects.create(reader=bob, owner=charlie, view="change")  # as if read before a move
    Group.objects.get(name="Sales").user_set.add(bob)
    entries = client.get("/admin/reports/auditentry/").context["cl"].result_list
    assert sorted((e.owner.username, e.view) for e in entries) == sorted(
        [("alice", "search"), ("alice", "transcript"), ("alice", "message"), ("charlie", "change")]
    )
    assert charlie.pk not in [e.owner_id for e in entries if e.reader_id != bob.pk]
    assert AuditEntry.objects.filter(owner=charlie, view="transcript").count() == 0


def test_a_team_admin_may_not_change_or_delete_a_conversation(bob, alice, research):
    conversation, _ = conversation_of(alice, "Research notes")
    client = log_in(bob)
    assert client.post(change_url(conversation), {"title": "Renamed"}).status_code == 403
    assert client.post(f"/admin/chat/conversation/{conversation.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Conversation.objects.get(pk=conversation.pk).title == "Research notes"


def test_staff_without_permissions_or_teams_see_no_conversations(charlie, alice):
    conversation, _ = conversation_of(alice, "Budget talk")
    client = log_in(staff(charlie))
    assert client.get("/admin/chat/conversation/").status_code == 403
    assert client.get(transcript_url(conversation)).status_code in (403, 404)
    assert client.get("/admin/reports/usagereport/").status_code == 403


def test_staff_with_the_view_permission_read_everyones_under_the_rules(charlie, alice):
    set_reading("on")
    conversation, _ = conversation_of(alice, "Budget talk")
    client = log_in(staff(charlie, "chat.view_conversation"))
    assert client.get(transcript_url(conversation)).status_code == 200
    assert reads() == [("charlie", "alice", "transcript", "")]


# -- the list's filters ---------------------------------------------------------------------------


def test_the_conversation_list_filters_by_user_group_model_provider_status_attachments_and_errors(
    admin_user, alice, charlie, research, sales, model
):
    plain, _ = conversation_of(alice, "Plain")
    failed, _ = conversation_of(charlie, "Failed", status=Message.Status.ERROR, error="boom")
    with_file, asked = conversation_of(alice, "With a file")
    Attachment.objects.create(
        owner=alice, message=asked, file="attachments/x.png", content_type="image/png", size_bytes=1
    )
    Conversation.objects.filter(pk=with_file.pk).update(model=model)
    client = log_in_admin(admin_user)

    def titles(query: str) -> list[str]:
        page = client.get(f"/admin/chat/conversation/?{query}")
        assert page.status_code == 200, query
        return sorted(c.title for c in page.context["cl"].result_list)

    assert titles(f"owner__id__exact={charlie.pk}") == ["Failed"]
    assert titles(f"group={research.pk}") == ["Plain", "With a file"]
    assert titles(f"model__id__exact={model.pk}") == ["With a file"]
    assert titles(f"provider={model.provider_id}") == ["With a file"]
    assert titles("status=error") == ["Failed"]
    assert titles("errored=yes") == ["Failed"]
    assert titles("errored=no") == ["Plain", "With a file"]
    assert titles("attachments=yes") == ["With a file"]
    assert titles("attachments=no") == ["Failed", "Plain"]
    today = timezone.localdate()
    day = f"updated__year={today.year}&updated__month={today.month}&updated__day={today.day}"
    assert titles(day) == ["Failed", "Plain", "With a file"]


def test_pinned_at_and_folder_are_not_edited_in_the_admin(admin_user, alice):
    conversation, _ = conversation_of(alice, "Budget talk")
    Folder.objects.create(owner=alice, name="Work", name_key="work")
    page = log_in_admin(admin_user).get(change_url(conversation)).content.decode()
    assert 'name="folder"' not in page and 'name="pinned_at' not in page and 'name="title"' in page


# -- who read: on the owner's profile ------------------------------------------------------------


def test_the_owner_sees_who_read_their_conversation_unless_the_site_hides_it(admin_user, alice):
    set_reading("on")
    conversation, _ = conversation_of(alice, "Budget talk")
    log_in_admin(admin_user).get(transcript_url(conversation))
    profile = log_in(alice).get("/accounts/profile/")
    assert [(r.reader.username, r.conversation_title, r.view) for r in profile.context["reads"]] == [
        ("admin", "Budget talk", "transcript")
    ]
    set_reading("on", show_readers=False)
    assert log_in(alice).get("/accounts/profile/").context["reads"] is None


# -- usage reports ----------------------------------------------------------------------------------


@pytest.fixture
def usage_rows(alice, bob, charlie, research, sales):
    """Known daily counts over three days and two teams (and one day outside the period)."""
    today = timezone.localdate()
    rows = [
        # day offset, user, team, provider, model, requests, prompt, completion, cost
        (0, alice, research, "OpenAI", "gpt-4o", 3, 300, 100, "0.0300"),
        (0, bob, research, "OpenAI", "gpt-4o-mini", 5, 500, 50, "0.0010"),
        (1, alice, research, "Local", "=HYPERLINK(1)", 2, 20, 10, "0"),
        (2, charlie, sales, "OpenAI", "gpt-4o", 7, 700, 300, "0.1000"),
        (40, alice, research, "OpenAI", "gpt-4o", 100, 9000, 1000, "9.0000"),  # outside the last 30 days
    ]
    made = []
    for offset, user, owner_team, provider, model, requests, prompt, completion, cost in rows:
        made.append(
            DailyUsage.objects.create(
                day=today - timedelta(days=offset),
                user=user,
                team=owner_team,
                team_name=owner_team.group.name,
                provider_name=provider,
                model_name=model,
                requests=requests,
                prompt_tokens=prompt,
                completion_tokens=completion,
                total_tokens=prompt + completion,
                cost=Decimal(cost),
            )
        )
    return made


def expected(rows, key, start: date, end: date) -> dict:
    sums: dict = {}
    for row in rows:
        if start <= row.day <= end:
            line = sums.setdefault(key(row), [0, 0, Decimal(0)])
            line[0] += row.requests
            line[1] += row.total_tokens
            line[2] += row.cost
    return {k: (v[0], v[1], v[2]) for k, v in sums.items()}


@pytest.mark.parametrize(
    "by, key",
    [
        ("user", lambda row: row.user.username),
        ("group", lambda row: row.team_name),
        ("model", lambda row: row.model_name),
        ("provider", lambda row: row.provider_name),
        ("day", lambda row: row.day),
    ],
)
def test_the_usage_report_sums_the_daily_counts_by_each_grouping(admin_user, usage_rows, by, key):
    today = timezone.localdate()
    page = log_in_admin(admin_user).get(f"/admin/reports/usagereport/?period=30&by={by}")
    assert page.status_code == 200
    lines = {line.key: (line.requests, line.total_tokens, line.cost) for line in page.context["lines"]}
    assert lines == expected(usage_rows, key, today - timedelta(days=29), today)
    assert page.context["total"].requests == 17  # 3 + 5 + 2 + 7: the 40-day-old row is out


def test_the_period_is_chosen_by_dates_too(admin_user, usage_rows):
    today = timezone.localdate()
    start = today - timedelta(days=45)
    page = log_in_admin(admin_user).get(
        f"/admin/reports/usagereport/?start={start}&end={today - timedelta(days=1)}&by=user"
    )
    lines = {line.key: line.requests for line in page.context["lines"]}
    assert lines == {"alice": 102, "charlie": 7}
    backwards = log_in_admin(admin_user).get(f"/admin/reports/usagereport/?start={today}&end={start}")
    assert backwards.status_code == 200 and "ends before it starts" in backwards.content.decode()


def test_the_usage_report_draws_its_charts_as_svg(admin_user, usage_rows):
    page = log_in_admin(admin_user).get("/admin/reports/usagereport/?period=7&by=model&metric=requests")
    html = page.content.decode()
    days = html.split('id="chart-days"')[1].split("</svg>")[0]
    assert days.count("<rect") == 7
    assert f"{timezone.localdate().isoformat()}: 8</title>" in days  # 3 + 5 requests today
    by = html.split('id="chart-by"')[1].split("</svg>")[0]
    assert by.count("<rect") == 3 and "gpt-4o: 10</title>" in by
    assert "=HYPERLINK(1)" in by and "<script" not in html.split('id="chart-days"')[1]


def test_the_usage_report_never_reads_the_messages(admin_user, usage_rows, alice):
    conversation_of(alice, "Budget talk")
    client = log_in_admin(admin_user)
    with CaptureQueriesContext(connection) as queries:
        for url in (
            "/admin/reports/usagereport/?by=user",
            "/admin/reports/usagereport/csv/?by=model",
            "/admin/reports/usagereport/csv/?rows=1",
        ):
            response = client.get(url)
            assert response.status_code == 200
            b"".join(response.streaming_content if response.streaming else [response.content])
    assert not [q["sql"] for q in queries.captured_queries if "chat_message" in q["sql"]]
    assert any("teams_dailyusage" in q["sql"] for q in queries.captured_queries)


def read_csv(response) -> list[list[str]]:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_usage_csv_has_the_tables_lines_and_every_daily_count(admin_user, usage_rows):
    client = log_in_admin(admin_user)
    table = read_csv(client.get("/admin/reports/usagereport/csv/?period=30&by=model"))
    assert table[0] == [
        "model",
        "requests",
        "prompt_tokens",
        "cached_tokens",
        "completion_tokens",
        "total_tokens",
        "cost",
    ]
    assert {line[0]: line[1:] for line in table[1:]} == {
        "gpt-4o": ["10", "1000", "0", "400", "1400", "0.130000"],
        "gpt-4o-mini": ["5", "500", "0", "50", "550", "0.001000"],
        "'=HYPERLINK(1)": ["2", "20", "0", "10", "30", "0.000000"],  # not a formula in a spreadsheet
    }
    every = read_csv(client.get("/admin/reports/usagereport/csv/?period=30&rows=1"))
    assert every[0][:5] == ["day", "user", "group", "provider", "model"]
    assert sorted((line[1], line[4], line[5]) for line in every[1:]) == [
        ("alice", "'=HYPERLINK(1)", "2"),
        ("alice", "gpt-4o", "3"),
        ("bob", "gpt-4o-mini", "5"),
        ("charlie", "gpt-4o", "7"),
    ]


def test_a_team_admin_sees_only_their_teams_usage(bob, usage_rows):
    client = log_in(bob)
    page = client.get("/admin/reports/usagereport/?period=30&by=group")
    assert page.status_code == 200
    assert [line.key for line in page.context["lines"]] == ["Research"]
    users = {line.key for line in client.get("/admin/reports/usagereport/?period=365&by=user").context["lines"]}
    assert users == {"alice", "bob"}
    every = read_csv(client.get("/admin/reports/usagereport/csv/?period=365&rows=1"))
    assert {line[2] for line in every[1:]} == {"Research"}
    other = usage_rows[3]  # charlie's, team Sales
    assert client.get(f"/admin/reports/usagereport/{other.pk}/change/").status_code in (302, 404)


def test_the_usage_report_refuses_posts(admin_user):
    assert (
        log_in_admin(admin_user).post("/admin/reports/usagereport/", {"action": "delete_selected"}).status_code == 403
    )
