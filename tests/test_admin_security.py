"""The admin's access rules: a stored secret never follows its row to another host, providers
and HTTP tools are for superusers, and a view-only staff user cannot change anything.

Everything goes through the real admin views with Django's test Client, logged in through the
site's login form; the providers' hosts are real loopback upstreams."""

from datetime import date
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.contrib.admin.options import ActionLocation
from django.contrib.auth.models import Group, Permission
from django.test import Client

from chatsite.accounts.models import Invite
from chatsite.chat.models import Attachment, Conversation, Message, Preset
from chatsite.lib.adminaccess import ViewOnlyGuard
from chatsite.providers.models import LanguageModel, Provider
from chatsite.reports.models import AuditEntry, UsageReport
from chatsite.teams.models import Budget, Team, TeamSettings
from tests.conftest import SECRET
from tests.upstream import Upstream

TOOL_SECRET = "Bearer tool-secret-do-not-leak"


class _FormFields(HTMLParser):
    """What a browser would post from the page's form with this id (no files, no buttons)."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.fields: dict[str, list[str]] = {}
        self.select: str | None = None
        self.textarea: str | None = None
        self.text = ""

    def add(self, name: str, value: str) -> None:
        self.fields.setdefault(name, []).append(value)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
        elif not self.inside:
            return
        elif tag == "input" and attrs.get("name"):
            kind = attrs.get("type", "text")
            if kind in ("submit", "button", "image", "file") or (
                kind in ("checkbox", "radio") and "checked" not in attrs
            ):
                return
            self.add(attrs["name"], attrs.get("value") or ("on" if kind == "checkbox" else ""))
        elif tag == "select":
            self.select = attrs.get("name")
        elif tag == "option" and self.select and "selected" in attrs:
            self.add(self.select, attrs.get("value", ""))
        elif tag == "textarea":
            self.textarea, self.text = attrs.get("name"), ""

    def handle_data(self, data):
        if self.textarea:
            self.text += data

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None
        elif tag == "textarea" and self.textarea:
            self.add(self.textarea, self.text.removeprefix("\n"))
            self.textarea = None


def form_of(client: Client, url: str, form_id: str) -> dict[str, list[str]]:
    page = client.get(url)
    assert page.status_code == 200
    parser = _FormFields(form_id)
    parser.feed(page.content.decode())
    assert parser.fields, f"no form {form_id} on {url}"
    return parser.fields


def staff(user, *permissions: str):
    """user as a staff member holding these permissions ("providers.change_provider")."""
    user.is_staff = True
    user.save()
    for permission in permissions:
        app_label, codename = permission.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return user


def log_in(user, password: str = "") -> Client:
    """A client logged in through the site's login form, as a person would."""
    client = Client()
    password = password or f"{user.username}-password-123"
    assert client.post("/accounts/login/", {"username": user.username, "password": password}).status_code == 302
    return client


def log_in_admin(admin_user) -> Client:
    return log_in(admin_user, "password")  # pytest-django's superuser


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def run_action(client: Client, changelist: str, action: str, *pks: int, **extra: str):
    return client.post(
        changelist, {"action": action, "_selected_action": [str(pk) for pk in pks], "index": "0", **extra}
    )


# -- 14: a stored secret never follows its row to another host -----------------------------


@pytest.fixture
def other_host():
    """A second loopback upstream: the server a staff user would like the key sent to."""
    with Upstream() as server:
        yield server


def change_provider(client: Client, provider: Provider, **changes: str):
    url = f"/admin/providers/provider/{provider.pk}/change/"
    form = form_of(client, url, "provider_form")
    assert form["api_key"] == [""], "the stored key is never put in the page"
    form.update({name: [value] for name, value in changes.items()})
    return client.post(url, form, follow=True)


@pytest.mark.django_db
def test_a_staff_user_who_moves_a_provider_to_her_host_does_not_get_its_key(
    alice, provider, upstream, other_host, settings
):
    settings.STAFF_MANAGE_PROVIDERS = True
    client = log_in(staff(alice, "providers.change_provider"))

    changed = change_provider(client, provider, base_url=other_host.base_url)
    assert changed.status_code == 200
    refreshed = run_action(client, "/admin/providers/provider/", "refresh_model_list", provider.pk)
    assert refreshed.status_code == 302

    [listing] = [r for r in other_host.requests if r["path"].endswith("/models")]
    assert SECRET not in listing["headers"].get("authorization", "")
    assert all(SECRET not in str(r["headers"]) for r in other_host.requests)
    assert provider.models.filter(name="test/model-b").exists(), "the refresh itself ran"
    assert any("API key was cleared because the address changed" in m for m in messages_of(changed))
    provider.refresh_from_db()
    assert (provider.base_url, provider.api_key) == (other_host.base_url, "")


@pytest.mark.django_db
def test_a_key_entered_with_the_new_address_is_kept_and_a_new_path_keeps_the_old_one(
    admin_user, provider, upstream, other_host
):
    client = log_in_admin(admin_user)
    change_provider(client, provider, base_url=upstream.base_url.removesuffix("/v1") + "/v2")
    provider.refresh_from_db()
    assert provider.api_key == SECRET, "same scheme, host and port: the key stays"

    response = change_provider(client, provider, base_url=other_host.base_url, api_key="sk-for-the-other-host")
    assert not any("cleared" in m for m in messages_of(response))
    run_action(client, "/admin/providers/provider/", "refresh_model_list", provider.pk)
    [listing] = [r for r in other_host.requests if r["path"].endswith("/models")]
    assert listing["headers"]["authorization"] == "Bearer sk-for-the-other-host"


@pytest.mark.django_db
def test_moving_an_http_tool_to_another_port_clears_its_authorization(alice, upstream, other_host, settings):
    from chatsite.tools.models import HttpTool

    settings.STAFF_MANAGE_PROVIDERS = True
    first, second = (server.base_url.removesuffix("/v1") + "/tools/" for server in (upstream, other_host))
    settings.TOOL_ALLOWED_URLS = [first, second]
    tool = HttpTool.objects.create(name="weather", description="d", url=first + "weather", authorization=TOOL_SECRET)
    client = log_in(staff(alice, "tools.change_httptool"))
    url = f"/admin/tools/httptool/{tool.pk}/change/"

    form = form_of(client, url, "httptool_form")
    response = client.post(url, {**form, "url": [second + "weather"]}, follow=True)
    assert any("Authorization header was cleared because the address changed" in m for m in messages_of(response))
    tool.refresh_from_db()
    assert (tool.url, tool.authorization) == (second + "weather", "")


# -- 14: providers and HTTP tools are for superusers ---------------------------------------

SECRET_HOLDERS = ["/admin/providers/provider/", "/admin/tools/httptool/"]
EVERY_PERMISSION = [
    f"{app}.{action}_{model}"
    for app, model in [("providers", "provider"), ("tools", "httptool")]
    for action in ("view", "add", "change", "delete")
]


@pytest.fixture
def tool(db):
    from chatsite.tools.models import HttpTool

    return HttpTool.objects.create(
        name="weather", description="d", url="https://tools.example.com/weather", authorization=TOOL_SECRET
    )


@pytest.mark.django_db
def test_staff_with_every_permission_get_403_on_providers_and_http_tools_by_default(bob, provider, tool):
    client = log_in(staff(bob, *EVERY_PERMISSION))
    pages = [
        *SECRET_HOLDERS,
        *(f"{page}add/" for page in SECRET_HOLDERS),
        f"/admin/providers/provider/{provider.pk}/change/",
        f"/admin/tools/httptool/{tool.pk}/change/",
        f"/admin/providers/provider/{provider.pk}/delete/",
        f"/admin/tools/httptool/{tool.pk}/history/",
    ]
    assert {page: client.get(page).status_code for page in pages} == {page: 403 for page in pages}
    assert run_action(client, SECRET_HOLDERS[0], "refresh_model_list", provider.pk).status_code == 403
    index = client.get("/admin/").content.decode()
    assert "/admin/providers/provider/" not in index and "/admin/tools/httptool/" not in index


@pytest.mark.django_db
def test_superusers_and_with_the_setting_staff_manage_providers_and_http_tools(
    admin_user, bob, provider, tool, settings
):
    assert all(log_in_admin(admin_user).get(page).status_code == 200 for page in SECRET_HOLDERS)
    settings.STAFF_MANAGE_PROVIDERS = True
    client = log_in(staff(bob, *EVERY_PERMISSION))
    assert all(client.get(page).status_code == 200 for page in SECRET_HOLDERS)


# -- 17: a view-only staff user cannot change anything -------------------------------------


def changelists() -> list[tuple[str, type]]:
    return sorted((f"/admin/{m._meta.app_label}/{m._meta.model_name}/", m) for m in admin.site._registry)


@pytest.fixture
def every_kind_of_row(alice, provider, tool):
    """One row of each model the admin shows."""
    conversation = Conversation.objects.create(owner=alice, model=provider.models.get())
    message = Message.objects.create(conversation=conversation, role="user", text="hello")
    return {
        "accounts.invite": Invite.objects.create(token_digest="0" * 64),
        "accounts.user": alice,
        "auth.group": Group.objects.create(name="support"),
        "chat.attachment": Attachment.objects.create(
            owner=alice, message=message, file="attachments/x.png", content_type="image/png", size_bytes=1
        ),
        "chat.conversation": conversation,
        "chat.message": message,
        "chat.preset": Preset.objects.create(name="Terse", system_prompt="Be brief."),
        "providers.languagemodel": provider.models.get(),
        "providers.provider": provider,
        "reports.auditentry": AuditEntry.objects.create(reader=alice, owner=alice, view="change"),
        "reports.usagereport": UsageReport.objects.create(
            day=date.today(), user=alice, provider_name="Loopback", model_name="test/model-a"
        ),
        "teams.budget": Budget.objects.create(user=alice, tokens_per_day=100),
        "teams.team": Team.objects.create(group=Group.objects.create(name="research")),
        "teams.teamsettings": TeamSettings.current(),
        "tools.httptool": tool,
    }


def test_every_model_admin_refuses_view_only_writes():
    """New admins too: each one is built on the one guard (chatsite.lib.adminaccess)."""
    assert all(isinstance(model_admin, ViewOnlyGuard) for model_admin in admin.site._registry.values())


@pytest.mark.django_db
def test_a_view_only_staff_users_actions_on_every_change_list_are_403(bob, every_kind_of_row, settings):
    settings.STAFF_MANAGE_PROVIDERS = True  # so that providers and tools answer on the view permission
    labels = sorted(every_kind_of_row)
    assert labels == sorted(m._meta.label_lower for _, m in changelists()), "a row for every admin"
    client = log_in(staff(bob, *(f"{label.split('.')[0]}.view_{label.split('.')[1]}" for label in labels)))
    answers = {}
    for changelist, model in changelists():
        assert client.get(changelist).status_code == 200
        row = every_kind_of_row[model._meta.label_lower]
        model_admin = admin.site._registry[model]
        for action in [*(model_admin.actions or []), "delete_selected"]:
            name = action if isinstance(action, str) else action.__name__
            answers[changelist, name] = run_action(client, changelist, name, row.pk).status_code
        # A list_editable save, or any other POST, too.
        answers[changelist, "_save"] = client.post(changelist, {"_save": "Save", "form-TOTAL_FORMS": "0"}).status_code
    assert answers == dict.fromkeys(answers, 403)
    model = every_kind_of_row["providers.languagemodel"]
    model.refresh_from_db()
    assert not model.hidden, "the view-only user's 'hide' did not run"
    assert all(type(row).objects.filter(pk=row.pk).exists() for row in every_kind_of_row.values())


@pytest.mark.django_db
def test_a_superuser_still_opens_every_change_list_and_change_page(admin_user, every_kind_of_row):
    client = log_in_admin(admin_user)
    for changelist, model in changelists():
        row = every_kind_of_row[model._meta.label_lower]
        assert client.get(changelist).status_code == 200, changelist
        assert client.get(f"{changelist}{row.pk}/change/").status_code == 200, changelist


@pytest.mark.django_db
def test_a_view_only_user_is_offered_no_actions(bob, provider):
    client = log_in(staff(bob, "providers.view_languagemodel"))
    page = client.get("/admin/providers/languagemodel/").content.decode()
    assert 'name="action"' not in page and "Hide from users" not in page


@pytest.mark.django_db
def test_a_view_only_users_post_of_a_change_form_action_is_403(bob, provider, monkeypatch):
    """Django 6.1's change-form actions run before that view checks the change permission."""

    @admin.action(description="Hide from users", location=ActionLocation.CHANGE_FORM)
    def hide_here(modeladmin, request, queryset):
        queryset.update(hidden=True)

    model = provider.models.get()
    monkeypatch.setattr(admin.site._registry[LanguageModel], "actions", [hide_here])
    client = log_in(staff(bob, "providers.view_languagemodel"))
    url = f"/admin/providers/languagemodel/{model.pk}/change/"
    answer = client.post(url, {"CHANGE_FORM-action": "hide_here", "_selected_action": str(model.pk)})
    assert answer.status_code == 403
    model.refresh_from_db()
    assert not model.hidden


@pytest.mark.django_db
def test_a_user_who_may_change_still_runs_actions_and_one_who_may_delete_deletes(bob, charlie, provider, alice):
    model = provider.models.get()
    client = log_in(staff(bob, "providers.change_languagemodel"))
    response = run_action(client, "/admin/providers/languagemodel/", "hide", model.pk)
    assert response.status_code == 302
    model.refresh_from_db()
    assert model.hidden

    conversation = Conversation.objects.create(owner=alice, model=model)
    client = log_in(staff(charlie, "chat.view_conversation", "chat.delete_conversation"))
    confirm = run_action(client, "/admin/chat/conversation/", "delete_selected", conversation.pk)
    assert confirm.status_code == 200 and b"Delete multiple objects" in confirm.content
    done = run_action(client, "/admin/chat/conversation/", "delete_selected", conversation.pk, post="yes")
    assert done.status_code == 302
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    # Deleting is all charlie may do: the actions that change rows are not his.
    charlie.user_permissions.add(Permission.objects.get(codename="view_languagemodel"))
    charlie.user_permissions.add(Permission.objects.get(codename="delete_languagemodel"))
    run_action(client, "/admin/providers/languagemodel/", "show", model.pk)
    model.refresh_from_db()
    assert model.hidden
