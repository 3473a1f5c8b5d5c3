"""Signing in with directory accounts: Debian's slapd on loopback (tests/directory.py), through
the login form, as the site's LDAP_* settings configure it."""

from __future__ import annotations

import re

import ldap
import pytest
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from playwright.sync_api import expect

from chatsite.sso import config
from chatsite.sso.models import Identity
from tests.directory import PASSWORDS, RESEARCH, Directory, dn, group_dn
from tests.server import ChatServer, free_port


@pytest.fixture(scope="module")
def directory():
    with Directory() as server:
        yield server


ROOT_PASSWORD = "root-password-123"


def use_directory(settings, monkeypatch, directory: Directory, **overrides: str) -> None:
    """The site's settings as settings.py makes them from these LDAP_* variables, on a site
    past its first run (its admin, root, exists)."""
    from chatsite.accounts.models import User

    User.objects.get_or_create(username="root", defaults={"is_superuser": True, "is_staff": True})
    User.objects.filter(username="root").update(password=make_password(ROOT_PASSWORD))
    for name, value in directory.env(**overrides).items():
        monkeypatch.setenv(name, value)
    for name, value in config.ldap_settings().items():
        setattr(settings, name, value)
    settings.SSO_TIMEOUT = config.timeout()
    settings.AUTHENTICATION_BACKENDS = config.backends(ldap_on=True, oidc_on=False)


@pytest.fixture
def ldap_site(settings, monkeypatch, directory, db):
    use_directory(settings, monkeypatch, directory)
    return directory


def sign_in(username: str, password: str, client: Client | None = None):
    client = client or Client()
    response = client.post("/accounts/login/", {"username": username, "password": password})
    return client, response


def signed_in_as(client: Client) -> str | None:
    response = client.get("/")
    if response.status_code != 200:
        return None
    return re.search(r'class="username"[^>]*>([^<]*)<', response.content.decode()).group(1)


def groups_of(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


# -- signing in, groups, staff and superuser -------------------------------------------------


def test_alice_signs_in_with_her_directory_password_and_her_nested_groups_become_hers(ldap_site, django_user_model):
    client, response = sign_in("alice", PASSWORDS["alice"])
    assert response.status_code == 302
    assert signed_in_as(client) == "alice"
    alice = django_user_model.objects.get(username="alice")
    # engineering directly; all-staff through engineering; company through all-staff.
    assert groups_of(alice) == {"engineering", "all-staff", "company"}
    assert (alice.email, alice.first_name, alice.last_name) == ("alice@example.com", "Alice", "Liddell")
    assert alice.is_staff and not alice.is_superuser  # staff: company, two groups down
    assert not alice.has_usable_password()  # her password stays the directory's
    assert Identity.objects.filter(user=alice, source="ldap", subject="alice").exists()


def test_bob_in_chat_admins_becomes_a_superuser_and_keeps_his_chinese_group_name(ldap_site, django_user_model):
    client, response = sign_in("bob", PASSWORDS["bob"])
    assert response.status_code == 302
    bob = django_user_model.objects.get(username="bob")
    assert groups_of(bob) == {RESEARCH, "all-staff", "company", "chat-admins"}
    assert bob.is_superuser and bob.is_staff
    assert bob.last_name == "王"
    assert Group.objects.filter(name=RESEARCH).exists()


def test_groups_and_staff_are_refreshed_at_each_sign_in(ldap_site, django_user_model):
    sign_in("alice", PASSWORDS["alice"])
    ldap_site.modify(group_dn("engineering"), [(ldap.MOD_DELETE, "member", [dn("alice").encode()])])
    ldap_site.modify(group_dn("chat-admins"), [(ldap.MOD_ADD, "member", [dn("alice").encode()])])
    try:
        client, response = sign_in("alice", PASSWORDS["alice"])
        assert response.status_code == 302
        alice = django_user_model.objects.get(username="alice")
        assert groups_of(alice) == {"chat-admins"}
        assert alice.is_superuser and not alice.is_staff
    finally:
        ldap_site.modify(group_dn("engineering"), [(ldap.MOD_ADD, "member", [dn("alice").encode()])])
        ldap_site.modify(group_dn("chat-admins"), [(ldap.MOD_DELETE, "member", [dn("alice").encode()])])


def test_only_the_listed_directory_groups_are_mirrored_and_an_admins_own_groups_stay(
    settings, monkeypatch, directory, db, django_user_model
):
    use_directory(settings, monkeypatch, directory, LDAP_GROUPS="engineering,company")
    alice = django_user_model.objects.create_user("alice")  # made by an admin, no password yet
    alice.groups.add(Group.objects.create(name="Pilot users"))
    client, response = sign_in("alice", PASSWORDS["alice"])
    assert response.status_code == 302
    assert groups_of(alice) == {"engineering", "company", "Pilot users"}


# -- refusals --------------------------------------------------------------------------------


def test_a_wrong_directory_password_is_refused(ldap_site, django_user_model):
    client, response = sign_in("alice", "not-her-password")
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert signed_in_as(client) is None
    assert not django_user_model.objects.filter(username="alice").exists()


def test_a_disabled_directory_account_cannot_sign_in(ldap_site, django_user_model):
    client, response = sign_in("charlie", PASSWORDS["charlie"])
    assert response.status_code == 200
    assert signed_in_as(client) is None
    assert not django_user_model.objects.filter(username="charlie").exists()


def test_disabling_alice_in_the_directory_takes_effect_at_her_next_sign_in(ldap_site):
    assert sign_in("alice", PASSWORDS["alice"])[1].status_code == 302
    ldap_site.modify(dn("alice"), [(ldap.MOD_ADD, "pwdAccountLockedTime", [b"000001010000Z"])])
    try:
        client, response = sign_in("alice", PASSWORDS["alice"])
        assert response.status_code == 200
        assert signed_in_as(client) is None
    finally:
        ldap_site.modify(dn("alice"), [(ldap.MOD_DELETE, "pwdAccountLockedTime", None)])
    assert sign_in("alice", PASSWORDS["alice"])[1].status_code == 302


# "al*" would match alice in an unescaped filter (uid=al*), and her password would then sign
# the attacker in; the others widen or close the filter.
INJECTIONS = ["al*", "*", "*)(uid=*", "alice)(|(uid=*", "*)(|(objectClass=*)", "alice)(uid=bob", "\\2a", "alice\x00"]


@pytest.mark.parametrize("username", INJECTIONS)
def test_ldap_filter_syntax_in_the_username_signs_nobody_in(ldap_site, django_user_model, username):
    client, response = sign_in(username, PASSWORDS["alice"])
    assert response.status_code == 200
    assert signed_in_as(client) is None
    assert list(django_user_model.objects.values_list("username", flat=True)) == ["root"]


def test_failed_directory_sign_ins_are_rate_limited_as_local_ones_are(ldap_site, settings):
    for _ in range(settings.LOGIN_RATE_LIMIT):
        assert sign_in("alice", "guess")[1].status_code == 200
    client, response = sign_in("alice", PASSWORDS["alice"])
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert signed_in_as(client) is None


def test_a_directory_user_does_not_take_over_a_local_account_of_the_same_name(ldap_site, alice):
    client, response = sign_in("alice", PASSWORDS["alice"])
    assert response.status_code == 200
    assert signed_in_as(client) is None
    alice.refresh_from_db()
    assert not alice.groups.exists() and not alice.is_staff
    assert sign_in("alice", "alice-password-123")[1].status_code == 302  # her own password


def test_an_unreachable_directory_is_said_so_and_local_accounts_still_sign_in(
    settings, monkeypatch, directory, bob, db
):
    use_directory(settings, monkeypatch, directory, LDAP_SERVER_URI=f"ldap://127.0.0.1:{free_port()}")
    client, response = sign_in("alice", PASSWORDS["alice"])
    assert response.status_code == 200
    assert "The company directory cannot be reached just now" in response.content.decode()
    assert signed_in_as(client) is None
    client, response = sign_in("bob", "bob-password-123")
    assert response.status_code == 302
    assert signed_in_as(client) == "bob"


def test_an_admins_deactivation_ends_a_directory_users_session_at_once(ldap_site, django_user_model):
    client, _ = sign_in("alice", PASSWORDS["alice"])
    assert signed_in_as(client) == "alice"
    django_user_model.objects.filter(username="alice").update(is_active=False)
    assert signed_in_as(client) is None
    assert client.get("/").status_code == 302  # to the login page


# -- TLS ---------------------------------------------------------------------------------------


def test_ldaps_and_starttls_sign_in_with_the_sites_ca_and_not_without_it(settings, monkeypatch, directory, db):
    ca = str(directory.ca_file)
    use_directory(settings, monkeypatch, directory, LDAP_SERVER_URI=directory.ldaps_uri, LDAP_CA_FILE=ca)
    assert signed_in_as(sign_in("alice", PASSWORDS["alice"])[0]) == "alice"
    use_directory(settings, monkeypatch, directory, LDAP_START_TLS="1", LDAP_CA_FILE=ca)
    assert signed_in_as(sign_in("bob", PASSWORDS["bob"])[0]) == "bob"
    # Without the CA, the directory's certificate is not trusted: nobody signs in over it.
    monkeypatch.delenv("LDAP_CA_FILE")
    use_directory(settings, monkeypatch, directory, LDAP_SERVER_URI=directory.ldaps_uri)
    client, response = sign_in("alice", PASSWORDS["alice"])
    assert signed_in_as(client) is None
    assert "cannot be reached" in response.content.decode()


# -- local passwords off -----------------------------------------------------------------------


def test_with_local_passwords_off_only_superusers_keep_theirs(ldap_site, settings, bob, django_user_model):
    settings.LOCAL_PASSWORDS = False
    assert sign_in("bob", "bob-password-123")[1].status_code == 200
    assert signed_in_as(sign_in("root", ROOT_PASSWORD)[0]) == "root"
    assert signed_in_as(sign_in("alice", PASSWORDS["alice"])[0]) == "alice"


# -- settings ----------------------------------------------------------------------------------


def test_ldap_settings_that_cannot_work_stop_the_site_with_a_reason(monkeypatch, directory, db):
    for name, value in directory.env(LDAP_USER_BASE="").items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match="LDAP_USER_BASE"):
        config.ldap_settings()
    monkeypatch.setenv("LDAP_USER_BASE", "ou=people,dc=example,dc=com")
    monkeypatch.setenv("LDAP_GROUP_TYPE", "nisNetgroup")
    with pytest.raises(ImproperlyConfigured, match="LDAP_GROUP_TYPE"):
        config.ldap_settings()


# -- the real server, in the browser ------------------------------------------------------------


def test_alice_signs_in_on_the_login_page_of_the_real_server_with_her_directory_account(browser, directory, upstream):
    with ChatServer(upstream.base_url, upstream, env=directory.env(), users=False) as server:
        server._manage(
            "shell", "-c", "from chatsite.accounts.models import User; User.objects.create_superuser('root')"
        )
        context = browser.new_context(base_url=server.url)
        page = context.new_page()
        page.goto("/")
        expect(page.locator(".sign-in-or")).to_contain_text("company account")
        page.fill("#id_username", "alice")
        page.fill("#id_password", PASSWORDS["alice"])
        page.click("button[type=submit]")
        expect(page).to_have_url(re.compile(r"/$"))
        expect(page.locator(".topbar .username")).to_have_text("alice")
        assert server.query("SELECT is_staff FROM accounts_user WHERE username = 'alice'") == [(1,)]
        context.close()
