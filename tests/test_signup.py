"""Signing up, as the admin chose: accounts made by an admin or by invitation, sign-up with an
admin's approval, or for addresses at the site's domains, confirmed by mail.

Through the real views with Django's test Client (the admin's pages included, logged in
through the site's login form); mail goes to Django's test outbox."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from html import unescape

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone

from chatsite.accounts import invites
from chatsite.accounts.models import Invite, User
from chatsite.teams.models import Team, TeamSettings
from tests.conftest import logged_in_client
from tests.mailbox import link_in, wait_for_mail
from tests.test_admin_security import form_of, log_in, log_in_admin, run_action, staff

PASSWORD = "a-long-password-1"


def signup_mode(mode: str, domains: str = "") -> None:
    TeamSettings.objects.update_or_create(id=1, defaults={"signup": mode, "signup_domains": domains})


def sign_up(client: Client, username: str, email: str, password: str = PASSWORD, **extra):
    return client.post(
        "/accounts/signup/", {"username": username, "email": email, "password1": password, "password2": password}
    )


def login_page_error(username: str, password: str) -> str:
    response = Client().post("/accounts/login/", {"username": username, "password": password})
    assert response.status_code == 200
    return " ".join(unescape(m) for m in re.findall(r'class="form-error" role="alert">([^<]*)<', response.text))


def text_of(response) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", response.content.decode()))


WRONG_PASSWORD = "Please enter a correct username and password. Note that both fields may be case-sensitive."


# -- the login page and the closed sign-up ---------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("mode", "linked"), [("admin", False), ("approval", True), ("domains", True)])
def test_the_login_page_links_to_sign_up_only_when_the_mode_allows_it(alice, mode, linked):
    signup_mode(mode, "example.com")
    page = Client().get("/accounts/login/").content.decode()
    assert ('href="/accounts/signup/"' in page) is linked
    assert 'href="/accounts/password/reset/"' in page


@pytest.mark.django_db
def test_in_admin_mode_sign_up_is_closed_and_makes_no_account(alice):
    response = Client().get("/accounts/signup/")
    assert response.status_code == 404
    assert "Sign-up is closed" in response.content.decode()
    assert sign_up(Client(), "dora", "dora@example.com").status_code == 404
    assert not User.objects.filter(username="dora").exists()


# -- approval --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_in_approval_mode_a_new_account_waits_and_logging_in_says_so(alice):
    signup_mode("approval")
    response = sign_up(Client(), "dora", "dora@example.com")
    assert response.status_code == 200
    assert "Your account is waiting for approval" in text_of(response)
    dora = User.objects.get(username="dora")
    assert (dora.is_active, dora.waiting, dora.email) == (False, "approval", "dora@example.com")
    assert "waiting for an admin's approval" in login_page_error("dora", PASSWORD)
    # Whoever does not know her password learns nothing about the account.
    assert login_page_error("dora", "a-guess-123") == WRONG_PASSWORD


@pytest.mark.django_db
def test_a_superuser_finds_waiting_accounts_and_approves_them_which_tells_them_by_mail(admin_user, alice):
    signup_mode("approval")
    sign_up(Client(), "dora", "dora@example.com")
    sign_up(Client(), "erin", "erin@example.com")
    admin = log_in_admin(admin_user)
    waiting = admin.get("/admin/accounts/user/?waiting=approval").content.decode()
    assert ">dora<" in waiting and ">erin<" in waiting and ">alice<" not in waiting

    dora = User.objects.get(username="dora")
    response = run_action(admin, "/admin/accounts/user/", "approve", dora.pk, alice.pk)
    assert response.status_code == 302
    dora.refresh_from_db()
    assert (dora.is_active, dora.waiting) == (True, "")
    assert not User.objects.get(username="erin").is_active
    [message] = wait_for_mail(1)
    assert message.to == ["dora@example.com"] and "approved" in message.subject
    assert link_in(message) == "/accounts/login/"
    assert Client().post("/accounts/login/", {"username": "dora", "password": PASSWORD}).status_code == 302
    assert admin.get("/admin/accounts/user/?waiting=approval").content.decode().count(">dora<") == 0


@pytest.mark.django_db
def test_signing_up_with_an_address_that_has_an_account_tells_only_its_owner(alice):
    """The page says the same as for a new address; the address's owner gets a mail."""
    signup_mode("approval")
    alice.email = "alice@example.com"
    alice.save()
    fresh = sign_up(Client(), "dora", "dora@example.com")
    taken = sign_up(Client(), "mallory", "Alice@example.com")
    assert taken.status_code == fresh.status_code == 200
    assert text_of(taken).replace("Alice@example.com", "X") == text_of(fresh).replace("dora@example.com", "X")
    assert not User.objects.filter(username="mallory").exists()
    [message] = wait_for_mail(1)
    assert message.to == ["Alice@example.com"]
    assert "already" in message.subject and "alice" in message.body
    assert link_in(message) == "/accounts/password/reset/"


@pytest.mark.django_db
def test_sign_up_checks_the_password_with_djangos_validators_and_the_text_at_the_edge(alice):
    signup_mode("approval")
    response = sign_up(Client(), "dora", "dora@example.com", password="12345678")
    assert "This password is too common." in response.content.decode()
    response = sign_up(Client(), "dora", '"d\x07ra"@example.com')
    assert "holds a control character (U+0007)" in response.content.decode()
    assert not User.objects.filter(username="dora").exists()


@pytest.mark.django_db
def test_sign_up_is_held_to_the_login_rate_limit(alice, settings):
    """Each sign-up may send mail: one address cannot flood an inbox or the user table."""
    signup_mode("approval")
    client = Client()
    for i in range(settings.LOGIN_RATE_LIMIT):
        assert sign_up(client, f"dora{i}", "dora@example.com").status_code == 200
    response = sign_up(client, "dora-again", "dora@example.com")
    assert response.status_code == 429 and "Too many tries from your address" in text_of(response)
    assert not User.objects.filter(username="dora-again").exists()


# -- domains ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_sign_up_by_domain_refuses_other_domains_naming_the_allowed_ones(alice):
    signup_mode("domains", "example.com, lab.example.org")
    response = sign_up(Client(), "dora", "dora@elsewhere.com")
    assert "Sign-up here is for addresses at example.com, lab.example.org only." in unescape(response.text)
    assert not User.objects.filter(username="dora").exists()
    assert "example.com, lab.example.org" in unescape(Client().get("/accounts/signup/").text)


@pytest.mark.django_db
def test_sign_up_by_domain_needs_the_mailed_link_before_the_account_logs_in(alice):
    signup_mode("domains", "example.com, lab.example.org")
    response = sign_up(Client(), "dora", "dora@Lab.Example.org")
    assert "Check your inbox" in text_of(response)
    dora = User.objects.get(username="dora")
    assert (dora.is_active, dora.waiting) == (False, "email")
    [message] = wait_for_mail(1)
    assert message.to == ["dora@lab.example.org"]
    link = link_in(message)

    # Logging in first says what is missing, and sends a new link.
    assert "Confirm your email address first" in login_page_error("dora", PASSWORD)
    assert link_in(wait_for_mail(2)[1]).startswith("/accounts/confirm/")

    visitor = Client()
    page = visitor.get(link)
    assert page.status_code == 200 and 'type="submit"' in page.text
    dora.refresh_from_db()
    assert not dora.is_active, "opening the link (as a mail scanner does) confirms nothing by itself"
    response = visitor.post(link)
    assert response.status_code == 302 and response["Location"] == "/"
    assert visitor.get("/").status_code == 200
    dora.refresh_from_db()
    assert (dora.is_active, dora.waiting) == (True, "")
    assert "confirms nothing" in text_of(Client().get(link)), "the link is spent"


@pytest.mark.django_db
def test_a_confirmation_link_expires_with_a_clear_message(alice, settings):
    signup_mode("domains", "example.com")
    sign_up(Client(), "dora", "dora@example.com")
    link = link_in(wait_for_mail(1)[0])
    settings.SIGNUP_CONFIRM_SECONDS = -1  # every link is older than that
    visitor = Client()
    for response in (visitor.get(link), visitor.post(link)):
        assert response.status_code == 404
        assert "This link has expired. Log in with your username and password" in text_of(response)
    assert not User.objects.get(username="dora").is_active


@pytest.mark.django_db
def test_a_changed_confirmation_link_confirms_nothing(alice):
    signup_mode("domains", "example.com")
    sign_up(Client(), "dora", "dora@example.com")
    link = link_in(wait_for_mail(1)[0])
    token = link.split("/")[3]
    forged = link.replace(token, token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert Client().post(forged).status_code == 404
    assert not User.objects.get(username="dora").is_active


# -- the site settings in the admin ----------------------------------------------------------


@pytest.mark.django_db
def test_a_superuser_chooses_the_sign_up_mode_in_the_admin(admin_user):
    admin = log_in_admin(admin_user)
    url = "/admin/teams/teamsettings/1/change/"
    form = form_of(admin, url, "teamsettings_form")
    form.update(signup=["domains"], signup_domains=[""])
    response = admin.post(url, form)
    assert "Sign-up by domain needs at least one domain." in unescape(response.content.decode())
    form.update(signup_domains=["exa mple.com"])
    assert "is not a domain name" in unescape(admin.post(url, form).content.decode())
    form.update(signup_domains=[" Example.com, @lab.example.org "])
    assert admin.post(url, form).status_code == 302
    site = TeamSettings.current()
    assert (site.signup, site.domains()) == ("domains", ["example.com", "lab.example.org"])
    assert Client().get("/accounts/signup/").status_code == 200


@pytest.mark.django_db
def test_staff_cannot_change_the_site_settings_even_with_the_permission(admin_user, bob):
    TeamSettings.current()
    client = log_in(staff(bob, "teams.view_teamsettings", "teams.change_teamsettings"))
    url = "/admin/teams/teamsettings/1/change/"
    assert client.get(url).status_code == 200  # shown, read-only
    assert client.post(url, {"signup": "approval"}).status_code == 403
    assert TeamSettings.current().signup == "admin"


# -- invitations -----------------------------------------------------------------------------


def make_invite(admin: Client, **fields) -> str:
    """An invitation made in the admin; the path of its link, read from the page."""
    form = form_of(admin, "/admin/accounts/invite/add/", "invite_form")
    form.update({name: [str(value)] for name, value in fields.items()})
    response = admin.post("/admin/accounts/invite/add/", form)
    assert response.status_code == 200, response.content.decode()[:3000]
    found = re.search(r'id="invite-link" [^>]*value="http://testserver(/accounts/invite/[^"]+/)"', response.text)
    assert found, response.text
    return found.group(1)


def accept(client: Client, link: str, username: str, email: str = "", password: str = PASSWORD):
    return client.post(link, {"username": username, "email": email, "password1": password, "password2": password})


@pytest.fixture
def support():
    return Team.objects.create(group=Group.objects.create(name="Support"))


@pytest.mark.django_db
def test_an_invitation_makes_one_account_in_its_team_and_its_link_is_shown_only_once(admin_user, alice, support):
    admin = log_in_admin(admin_user)
    link = make_invite(admin, team=support.pk)
    token = link.split("/")[3]
    invite = Invite.objects.get()
    assert invite.token_digest == invites.digest(token) and token not in invite.token_digest
    for page in ("/admin/accounts/invite/", f"/admin/accounts/invite/{invite.pk}/change/"):
        assert token not in admin.get(page).content.decode()

    charlie = Client()
    form = charlie.get(link)
    assert form.status_code == 200 and "Support" in form.text
    response = accept(charlie, link, "charlie", "charlie@example.com")
    assert response.status_code == 302 and response["Location"] == "/"
    assert ">charlie<" in charlie.get("/").content.decode()
    user = User.objects.get(username="charlie")
    assert user.is_active and list(user.groups.values_list("name", flat=True)) == ["Support"]
    invite.refresh_from_db()
    assert invite.used_by == user and invite.used_at is not None

    again = accept(Client(), link, "dora", "dora@example.com")
    assert again.status_code == 404
    assert "This invitation was used already" in text_of(again)
    assert not User.objects.filter(username="dora").exists()


@pytest.mark.django_db
def test_an_expired_invitation_says_when_it_expired(admin_user, alice):
    link = make_invite(log_in_admin(admin_user))
    Invite.objects.update(expires=timezone.now() - timedelta(minutes=1))
    for response in (Client().get(link), accept(Client(), link, "charlie", "charlie@example.com")):
        assert response.status_code == 404
        assert re.search(r"This invitation expired on .+\. Ask whoever sent it", text_of(response))
    assert not User.objects.filter(username="charlie").exists()
    assert "not valid" in text_of(Client().get("/accounts/invite/" + "x" * 43 + "/"))


@pytest.mark.django_db
def test_an_invitation_for_an_address_makes_the_account_with_that_address(admin_user, alice):
    link = make_invite(log_in_admin(admin_user), email="charlie@example.com")
    assert accept(Client(), link, "charlie", "mallory@example.com").status_code == 302
    assert User.objects.get(username="charlie").email == "charlie@example.com"


@pytest.mark.django_db
def test_a_refused_invitation_form_leaves_the_link_working(admin_user, alice):
    link = make_invite(log_in_admin(admin_user))
    response = accept(Client(), link, "alice", "charlie@example.com")
    assert "A user with that username already exists." in response.content.decode()
    assert accept(Client(), link, "charlie", "charlie@example.com", password="short").status_code == 200
    assert accept(Client(), link, "charlie", "charlie@example.com").status_code == 302


@pytest.mark.django_db(transaction=True)
def test_two_people_sending_the_same_invitation_at_once_make_one_account(admin_user, alice):
    link = make_invite(log_in_admin(admin_user))
    start = threading.Barrier(6)
    statuses = []

    def send(i: int) -> None:
        client = Client()
        client.get(link)
        start.wait()
        statuses.append(accept(client, link, f"person{i}", f"person{i}@example.com").status_code)
        connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [302] + [404] * 5
    assert User.objects.filter(username__startswith="person").count() == 1
    assert Invite.objects.get().used_by.username.startswith("person")


@pytest.mark.django_db
def test_a_team_admin_gets_into_the_admin_when_made_one_and_invites_only_to_their_teams(admin_user, alice, support):
    research = Team.objects.create(group=Group.objects.create(name="Research"))
    assert not alice.is_staff
    support.admins.add(alice)  # as a superuser does on the team's admin page
    alice.refresh_from_db()
    assert alice.is_staff and not alice.user_permissions.exists()

    theirs = make_invite(log_in_admin(admin_user), team=research.pk)
    client = log_in(alice)
    assert "/admin/accounts/invite/" in client.get("/admin/").content.decode()
    form = form_of(client, "/admin/accounts/invite/add/", "invite_form")
    options = re.findall(r'<option value="(\d+)"', client.get("/admin/accounts/invite/add/").content.decode())
    assert options == [str(support.pk)]
    for team in ("", str(research.pk)):
        form.update(team=[team])
        assert client.post("/admin/accounts/invite/add/", form).status_code == 200
    assert Invite.objects.count() == 1, "no invitation to Research or to no team"
    mine = make_invite(client, team=support.pk)

    listed = client.get("/admin/accounts/invite/").content.decode()
    research_invite = Invite.objects.get(team=research)
    assert re.findall(r">Invitation \d+ to (\w+)<", listed) == ["Support"] and "Research" not in listed
    for page in (
        f"/admin/accounts/invite/{research_invite.pk}/change/",
        f"/admin/accounts/invite/{research_invite.pk}/delete/",
    ):
        assert client.post(page, {"post": "yes"}).status_code == 302  # "doesn't exist": back to the index
    assert Invite.objects.filter(pk=research_invite.pk).exists()
    assert accept(Client(), mine, "charlie", "charlie@example.com").status_code == 302
    assert User.objects.get(username="charlie").groups.get().name == "Support"
    assert accept(Client(), theirs, "dora", "dora@example.com").status_code == 302


@pytest.mark.django_db
def test_a_staff_user_who_administers_no_team_cannot_make_invitations(bob):
    client = log_in(staff(bob))
    assert client.get("/admin/accounts/invite/add/").status_code == 403
    assert "/admin/accounts/invite/" not in client.get("/admin/").content.decode()


@pytest.mark.django_db
def test_a_logged_in_member_opening_an_invitation_is_told_to_log_out_first(admin_user, alice):
    link = make_invite(log_in_admin(admin_user))
    page = logged_in_client(alice).get(link)
    assert "Log out first" in text_of(page) and "password1" not in page.text
    assert not mail.outbox
