"""Teams and budgets in the admin, over HTTP through the real admin: what a superuser sets up,
and what a team admin may do (their own teams' members, models and budgets) and may not (other
teams, providers, keys, users outside their teams).

alice administers Support (alice, bob); charlie is in Research, which has its own model, key
and budget; dora is in no team.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group

from chatsite.providers.models import LanguageModel
from chatsite.teams.models import Budget, Team, TeamProviderKey
from tests.conftest import make_user
from tests.test_admin_security import form_of, log_in, log_in_admin

pytestmark = pytest.mark.django_db

RESEARCH_KEY = "sk-research-team-key-do-not-leak"


def make_team(name: str, *members, models=(), admins=()) -> Team:
    team = Team.objects.create(group=Group.objects.create(name=name))
    team.group.user_set.add(*members)
    team.allowed_models.add(*models)
    team.admins.add(*admins)
    return team


@pytest.fixture
def dora(django_user_model):
    return make_user(django_user_model, "dora")


@pytest.fixture
def teams(alice, bob, charlie, dora, provider, model):
    model_b = LanguageModel.objects.create(provider=provider, name="test/model-b")  # Research's
    model_c = LanguageModel.objects.create(provider=provider, name="test/model-c")  # Support's
    support = make_team("Support", alice, bob, models=[model_c], admins=[alice])
    research = make_team("Research", charlie, models=[model_b])
    TeamProviderKey.objects.create(team=research, provider=provider, api_key=RESEARCH_KEY)
    Budget.objects.create(team=research, tokens_per_day=777)
    charlies = Budget.objects.create(user=charlie, tokens_per_day=555)
    return {"support": support, "research": research, "b": model_b, "c": model_c, "charlies": charlies}


def change_url(team: Team) -> str:
    return f"/admin/teams/team/{team.pk}/change/"


def post_form(client, url: str, form_id: str, **changes):
    form = form_of(client, url, form_id)
    form.update({name: value if isinstance(value, list) else [value] for name, value in changes.items()})
    return client.post(url, form)


def options(html: str, name: str) -> list[str]:
    """The labels a select (or a list of checkboxes) named name offers."""
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S)
    if select:
        return re.findall(r"<option[^>]*>([^<]*)</option>", select.group(1))
    return re.findall(rf'<label[^>]*><input type="checkbox" name="{name}"[^>]*>\s*([^<]*)</label>', html)


# -- a team admin sees their own teams only ------------------------------------------------------


def test_a_team_admin_lists_and_opens_only_their_own_teams(alice, teams):
    client = log_in(alice)
    listed = client.get("/admin/teams/team/").content.decode()
    assert "Support" in listed and "Research" not in listed
    research = teams["research"]
    assert change_url(research) not in client.get("/admin/teams/team/?q=Research").content.decode()
    for url in (change_url(research), f"/admin/teams/team/{research.pk}/history/"):
        answer = client.get(url, follow=True)
        # Django's answer for an object that does not exist: back to the index, naming nothing.
        assert answer.redirect_chain[0][1] == 302 and "charlie" not in answer.content.decode(), url
    answer = client.post(change_url(research), {"add_members": "alice", "allowed_models": [str(teams["c"].pk)]})
    assert answer.status_code == 302
    assert list(research.group.user_set.values_list("username", flat=True)) == ["charlie"]
    assert list(research.allowed_models.all()) == [teams["b"]]
    # Teams are made and deleted by superusers only.
    assert client.get("/admin/teams/team/add/").status_code == 403
    assert client.post(f"/admin/teams/team/{teams['support'].pk}/delete/", {"post": "yes"}).status_code == 403
    assert Team.objects.count() == 2


def test_a_team_admin_never_sees_providers_keys_users_or_groups(alice, teams, provider):
    client = log_in(alice)
    index = client.get("/admin/").content.decode()
    assert "/admin/teams/team/" in index and "/admin/teams/budget/" in index
    for hidden in ("/admin/providers/", "/admin/auth/group/", "/admin/accounts/user/", "/admin/tools/"):
        assert hidden not in index, hidden
    for page in (
        "/admin/providers/provider/",
        f"/admin/providers/provider/{provider.pk}/change/",
        "/admin/auth/group/",
        f"/admin/auth/group/{teams['research'].pk}/change/",
        "/admin/accounts/user/",
        "/admin/autocomplete/?app_label=teams&model_name=budget&field_name=user&term=c",
        "/admin/autocomplete/?app_label=teams&model_name=team&field_name=admins&term=c",
    ):
        assert client.get(page).status_code == 403, page

    page = client.get(change_url(teams["support"])).content.decode()
    assert "allowed_providers" not in page and "provider_keys-TOTAL_FORMS" not in page
    assert RESEARCH_KEY not in page and "sk-" not in page
    # Sent by hand, the fields a superuser's page has change nothing.
    answer = post_form(
        client,
        change_url(teams["support"]),
        "team_form",
        allowed_providers=str(provider.pk),
        admins=[str(alice.pk), "3"],
        name="Renamed",
        retention_days="1",
        **{
            "provider_keys-TOTAL_FORMS": "1",
            "provider_keys-INITIAL_FORMS": "0",
            "provider_keys-0-provider": str(provider.pk),
            "provider_keys-0-api_key": "sk-hers",
        },
    )
    assert answer.status_code == 302
    support = Team.objects.get(pk=teams["support"].pk)
    assert support.group.name == "Support" and support.retention_days is None
    assert not support.allowed_providers.exists() and list(support.admins.all()) == [alice]
    assert not TeamProviderKey.objects.filter(team=support).exists()


def test_a_team_admin_adds_members_by_username_takes_them_out_and_sees_who_they_are(alice, bob, charlie, dora, teams):
    dora.email, dora.first_name = "dora@example.com", "Dora"
    dora.save()
    client = log_in(alice)
    url = change_url(teams["support"])
    page = client.get(url).content.decode()
    assert options(page, "members") == ["alice", "bob"]  # the members only: no list of the site's users
    assert "charlie" not in page and "dora" not in page

    answer = post_form(client, url, "team_form", add_members="nobody, dora")
    assert answer.status_code == 200 and "There is no account named nobody." in answer.content.decode()
    answer = post_form(client, url, "team_form", add_members="dora", members=[str(alice.pk)])
    assert answer.status_code == 302
    assert set(teams["support"].group.user_set.values_list("username", flat=True)) == {"alice", "dora"}
    page = client.get(url).content.decode()
    assert re.search(r"<td>dora</td><td>Dora</td><td>dora@example.com</td><td>active</td>", page)
    assert list(charlie.groups.values_list("name", flat=True)) == ["Research"]  # untouched


def test_a_team_admin_moves_models_among_their_teams_and_cannot_open_one_to_everyone(alice, teams, model):
    client = log_in(alice)
    support, url = teams["support"], change_url(teams["support"])
    # Neither Research's model nor the open one (listing it would close it to everyone else).
    assert options(client.get(url).content.decode(), "allowed_models") == ["test/model-c (Loopback)"]
    for other in (teams["b"], model):
        answer = post_form(client, url, "team_form", allowed_models=[str(teams["c"].pk), str(other.pk)])
        assert answer.status_code == 200 and "Select a valid choice" in answer.content.decode()
    answer = post_form(client, url, "team_form", allowed_models=[])
    assert answer.status_code == 200
    assert "No other team lists test/model-c: taken from this team, it would be open to everyone." in (
        answer.content.decode()
    )
    assert list(support.allowed_models.all()) == [teams["c"]]

    # With a second team of hers, she moves it from one to the other.
    sales = make_team("Sales", admins=[alice])
    assert options(client.get(change_url(sales)).content.decode(), "allowed_models") == ["test/model-c (Loopback)"]
    assert post_form(client, change_url(sales), "team_form", allowed_models=[str(teams["c"].pk)]).status_code == 302
    assert post_form(client, url, "team_form", allowed_models=[]).status_code == 302
    assert not support.allowed_models.exists() and list(sales.allowed_models.all()) == [teams["c"]]


def test_a_team_admin_sets_their_teams_budget_and_their_members_budgets_only(alice, bob, charlie, teams):
    client = log_in(alice)
    url = change_url(teams["support"])
    answer = post_form(client, url, "team_form", **{"budgets-0-tokens_per_day": "1000"})
    assert answer.status_code == 302
    assert Budget.objects.get(team=teams["support"]).tokens_per_day == 1000
    page = client.get(url).content.decode()
    assert 'name="budgets-0-tokens_per_day" value="1000"' in page and "777" not in page
    answer = post_form(client, url, "team_form", **{"budgets-0-tokens_per_day": "2000"})  # the same row again
    assert answer.status_code == 302
    assert Budget.objects.get(team=teams["support"]).tokens_per_day == 2000

    assert options(client.get("/admin/teams/budget/add/").content.decode(), "user")[1:] == ["alice", "bob"]
    answer = post_form(client, "/admin/teams/budget/add/", "budget_form", user=str(charlie.pk), tokens_per_day="1")
    assert answer.status_code == 200 and "Select a valid choice" in answer.content.decode()
    answer = post_form(client, "/admin/teams/budget/add/", "budget_form", user=str(bob.pk), tokens_per_day="50")
    assert answer.status_code == 302 and Budget.objects.get(user=bob).tokens_per_day == 50

    listed = client.get("/admin/teams/budget/").content.decode()
    assert "bob" in listed and "charlie" not in listed and "555" not in listed
    # Filtering by another team's id shows nothing, rather than which of her members are in it.
    bob.groups.add(teams["research"].group)
    assert "bob" not in client.get(f"/admin/teams/budget/?team={teams['research'].pk}").content.decode()
    assert "bob" in client.get(f"/admin/teams/budget/?team={teams['support'].pk}").content.decode()

    charlies = teams["charlies"]
    for page in (f"/admin/teams/budget/{charlies.pk}/change/", f"/admin/teams/budget/{charlies.pk}/delete/"):
        assert client.post(page, {"user": str(charlie.pk), "tokens_per_day": "1", "post": "yes"}).status_code == 302
    charlies.refresh_from_db()
    assert charlies.tokens_per_day == 555


def test_a_staff_user_who_administers_no_team_sees_no_team_or_budget(bob, teams):
    from tests.test_admin_security import staff

    client = log_in(staff(bob, "teams.view_team", "teams.change_team", "teams.view_budget"))
    assert "Support" not in client.get("/admin/teams/team/").content.decode()
    assert "charlie" not in client.get("/admin/teams/budget/").content.decode()
    assert client.get(change_url(teams["research"]), follow=True).redirect_chain[0][1] == 302


# -- a superuser sets a team up ----------------------------------------------------------------


def test_a_superuser_makes_a_team_of_a_group_and_gives_it_members_a_key_and_a_budget(
    admin_user, alice, bob, dora, provider, teams
):
    directory = Group.objects.create(name="Sales")  # e.g. made by the directory
    directory.user_set.add(dora)
    client = log_in_admin(admin_user)
    answer = post_form(client, "/admin/teams/team/add/", "team_form", name="Sales", members=[str(alice.pk)])
    assert answer.status_code == 302
    sales = Team.objects.get(group=directory)
    assert set(directory.user_set.values_list("username", flat=True)) == {"alice", "dora"}  # hers kept
    answer = post_form(client, "/admin/teams/team/add/", "team_form", name="Sales")
    assert "There is a team named “Sales” already." in answer.content.decode()

    url = change_url(sales)
    page = client.get(url).content.decode()
    assert "allowed_providers" in page and "provider_keys-TOTAL_FORMS" in page
    answer = post_form(
        client,
        url,
        "team_form",
        name="Sales EMEA",
        admins=[str(bob.pk)],
        allowed_providers=[str(provider.pk)],
        retention_days="30",
        **{
            "provider_keys-TOTAL_FORMS": "1",
            "provider_keys-0-provider": str(provider.pk),
            "provider_keys-0-api_key": "sk-sales-key",
            "budgets-0-tokens_per_month": "100000",
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:3000]
    sales.refresh_from_db()
    bob.refresh_from_db()
    assert sales.group.name == "Sales EMEA" and sales.retention_days == 30
    assert list(sales.admins.all()) == [bob] and bob.is_staff
    assert list(sales.allowed_providers.all()) == [provider]
    assert TeamProviderKey.objects.get(team=sales).api_key == "sk-sales-key"
    assert Budget.objects.get(team=sales).tokens_per_month == 100000

    # The key is never shown again; saving without one keeps it, and another provider cannot take it.
    page = client.get(url).content.decode()
    assert "sk-sales-key" not in page and RESEARCH_KEY not in client.get(change_url(teams["research"])).content.decode()
    assert post_form(client, url, "team_form").status_code == 302
    assert TeamProviderKey.objects.get(team=sales).api_key == "sk-sales-key"
    answer = post_form(client, url, "team_form", **{"provider_keys-0-api_key": "sk-sales-new"})
    assert answer.status_code == 302 and TeamProviderKey.objects.get(team=sales).api_key == "sk-sales-new"


def test_a_new_key_row_needs_its_key(admin_user, provider, teams):
    client = log_in_admin(admin_user)
    url = change_url(teams["support"])
    answer = post_form(
        client,
        url,
        "team_form",
        **{"provider_keys-TOTAL_FORMS": "1", "provider_keys-0-provider": str(provider.pk)},
    )
    assert answer.status_code == 200 and "Enter the team’s key for this provider." in answer.content.decode()
    assert not TeamProviderKey.objects.filter(team=teams["support"]).exists()


def test_a_user_has_one_budget_said_plainly(admin_user, charlie, teams):
    client = log_in_admin(admin_user)
    answer = post_form(client, "/admin/teams/budget/add/", "budget_form", user=str(charlie.pk), tokens_per_day="9")
    assert answer.status_code == 200 and "charlie has a budget already: change that one." in answer.content.decode()


def test_a_groups_page_links_to_its_team(admin_user, teams):
    client = log_in_admin(admin_user)
    support = teams["support"]
    assert f'href="{change_url(support)}"' in client.get("/admin/auth/group/").content.decode()
    assert f'href="{change_url(support)}"' in client.get(f"/admin/auth/group/{support.pk}/change/").content.decode()
