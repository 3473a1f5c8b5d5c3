"""Signing in through OpenID Connect providers: node's oidc-provider on loopback
(tests/identity_provider.py), the real server as `./dev serve` runs it, and Chromium going
through the provider's own login page.

The site has four providers: corp (groups mirrored, staff and superuser from groups), partner
(the same provider with another client: one group mapped by name, a Chinese label), slow (a
client whose ID tokens expire before the site gets them) and elsewhere (a provider that answers
as another issuer than the one configured).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser import new_context
from tests.identity_provider import IdentityProvider
from tests.server import ChatServer, free_port

ACCOUNTS = {
    "alice": {
        "password": "alice-at-idp",
        "email": "alice@example.com",
        "name": "Alice",
        "groups": ["engineering", "chat-staff"],
    },
    "bob": {"password": "bob-at-idp", "email": "bob@example.com", "name": "Bob", "groups": ["chat-admins", "研究组"]},
    "charlie": {"password": "charlie-at-idp", "email": "charlie@example.com", "name": "Charlie", "groups": []},
}
PARTNER_LABEL = "合作伙伴 ID"
ROOT_PASSWORD = "root-password-123"


class Site:
    def __init__(self, server: ChatServer, idp: IdentityProvider, elsewhere: IdentityProvider) -> None:
        self.server, self.idp, self.elsewhere = server, idp, elsewhere

    def user(self, username: str) -> dict | None:
        rows = self.server.query(
            "SELECT id, is_staff, is_superuser, is_active, email FROM accounts_user WHERE username = ?", (username,)
        )
        if not rows:
            return None
        user_id, staff, superuser, active, email = rows[0]
        groups = self.server.query(
            "SELECT g.name FROM auth_group g JOIN accounts_user_groups ug ON ug.group_id = g.id WHERE ug.user_id = ?",
            (user_id,),
        )
        return {
            "staff": bool(staff),
            "superuser": bool(superuser),
            "active": bool(active),
            "email": email,
            "groups": {name for (name,) in groups},
        }

    def shell(self, code: str) -> None:
        self.server._manage("shell", "-c", f"from chatsite.accounts.models import User; {code}")


@pytest.fixture(scope="module")
def site(request) -> Site:
    from tests.upstream import Upstream

    upstream = Upstream().start()
    request.addfinalizer(upstream.stop)
    idp = IdentityProvider(ACCOUNTS)
    elsewhere = IdentityProvider(ACCOUNTS, issuer=f"http://localhost:{free_port()}")
    env = {
        "OIDC_PROVIDERS": "corp,partner,slow,elsewhere",
        "LOCAL_PASSWORDS": "0",
        "SSO_TIMEOUT": "5",
        "OIDC_CORP_LABEL": "Corp ID",
        "OIDC_CORP_GROUPS": "*",
        "OIDC_CORP_STAFF_GROUPS": "chat-staff",
        "OIDC_CORP_SUPERUSER_GROUPS": "chat-admins",
        "OIDC_PARTNER_LABEL": PARTNER_LABEL,
        "OIDC_PARTNER_GROUPS": "Partners=engineering",
        "OIDC_SLOW_LABEL": "Slow ID",
        "OIDC_ELSEWHERE_LABEL": "Elsewhere ID",
        "OIDC_ELSEWHERE_ISSUER": elsewhere.url,  # it calls itself http://localhost:...
    }
    for name in ("corp", "partner", "slow"):
        env[f"OIDC_{name.upper()}_ISSUER"] = idp.issuer
        env[f"OIDC_{name.upper()}_SCOPES"] = "openid email profile groups"
    for name in ("corp", "partner", "slow", "elsewhere"):
        env[f"OIDC_{name.upper()}_CLIENT_ID"] = f"chatsite-{name}"
        env[f"OIDC_{name.upper()}_CLIENT_SECRET"] = f"secret-of-{name}-client"
    server = ChatServer(upstream.base_url, upstream, env=env, users=False)
    idp.add_client("chatsite-corp", "secret-of-corp-client", server.url, "corp")
    idp.add_client("chatsite-partner", "secret-of-partner-client", server.url, "partner")
    idp.add_client("chatsite-slow", "secret-of-slow-client", server.url, "slow", id_token_ttl=1, token_delay_ms=2500)
    elsewhere.add_client("chatsite-elsewhere", "secret-of-elsewhere-client", server.url, "elsewhere")
    for process in (idp, elsewhere, server):
        request.addfinalizer(process.stop)
        process.start()
    site = Site(server, idp, elsewhere)
    # The first-run admin (a password of its own), and dave, a member made with a password.
    site.shell(
        f"User.objects.create_superuser('root', password={ROOT_PASSWORD!r}); "
        "User.objects.create_user('dave', password='dave-password-123')"
    )
    return site


@pytest.fixture
def page(browser, site, watch) -> Page:
    context = new_context(browser, site.server, None)
    yield watch.attach(context.new_page())
    context.close()


def sign_in_at_provider(page: Page, label: str, username: str, password: str) -> None:
    page.goto("/")
    page.get_by_role("link", name=f"Sign in with {label}").click()
    page.fill("#login", username)
    page.fill("#password", password)
    page.click("button[type=submit]")


def expect_signed_in(page: Page, username: str) -> None:
    expect(page).to_have_url(re.compile(r"127\.0\.0\.1:\d+/$"))
    expect(page.locator(".topbar .username")).to_have_text(username)


def expect_refused(page: Page, message: str) -> None:
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    expect(page.locator("[role=alert]")).to_contain_text(message)
    expect(page.locator(".topbar .username")).to_have_count(0)


# -- the login page ----------------------------------------------------------------------------


def test_the_login_page_offers_each_configured_provider(page):
    page.goto("/")
    buttons = page.locator("a.sign-in-provider")
    expect(buttons).to_have_text(
        ["Sign in with Corp ID", f"Sign in with {PARTNER_LABEL}", "Sign in with Slow ID", "Sign in with Elsewhere ID"]
    )
    expect(page.locator(".sign-in-or")).to_have_text("Administrators sign in with their password:")


# -- signing in ----------------------------------------------------------------------------------


def test_alice_signs_in_through_the_providers_login_page_and_her_groups_map_to_chatsite(site, page):
    sign_in_at_provider(page, "Corp ID", "alice", ACCOUNTS["alice"]["password"])
    expect_signed_in(page, "alice")
    alice = site.user("alice")
    assert alice["groups"] == {"engineering", "chat-staff"}
    assert alice["staff"] and not alice["superuser"]
    assert alice["email"] == "alice@example.com"
    assert site.server.query(
        "SELECT source, subject FROM sso_identity i JOIN accounts_user u ON u.id = i.user_id WHERE u.username = 'alice'"
    ) == [("oidc:corp", "alice")]


def test_groups_and_flags_are_refreshed_at_each_sign_in(site, page, browser):
    sign_in_at_provider(page, "Corp ID", "bob", ACCOUNTS["bob"]["password"])
    expect_signed_in(page, "bob")
    assert site.user("bob")["groups"] == {"chat-admins", "研究组"}
    assert site.user("bob")["superuser"]
    site.idp.set_account("bob", groups=["研究组", "chat-staff"])
    try:
        context = new_context(browser, site.server, None)
        again = context.new_page()
        sign_in_at_provider(again, "Corp ID", "bob", ACCOUNTS["bob"]["password"])
        expect_signed_in(again, "bob")
        bob = site.user("bob")
        assert bob["groups"] == {"研究组", "chat-staff"}
        assert bob["staff"] and not bob["superuser"]
        context.close()
    finally:
        site.idp.set_account("bob", groups=ACCOUNTS["bob"]["groups"])


def test_a_second_provider_maps_only_its_named_group_and_does_not_take_over_alices_account(site, page):
    sign_in_at_provider(page, "Corp ID", "alice", ACCOUNTS["alice"]["password"])  # "alice" is corp's alice
    expect_signed_in(page, "alice")
    page.context.clear_cookies()
    sign_in_at_provider(page, PARTNER_LABEL, "alice", ACCOUNTS["alice"]["password"])
    expect_signed_in(page, "alice-partner")
    assert site.user("alice-partner")["groups"] == {"Partners"}
    assert not site.user("alice-partner")["staff"]


# -- refusals ------------------------------------------------------------------------------------


def held_callback(page: Page, label: str, username: str) -> str:
    """Sign in at the provider, but hold the browser's way back to the site: the callback URL
    it was sent to, with its code unused. (Playwright's routes do not see redirects, so this
    asks Chromium itself, through the DevTools protocol's Fetch domain.)"""
    cdp = page.context.new_cdp_session(page)
    held: list[str] = []

    def paused(event) -> None:
        held.append(event["request"]["url"])
        cdp.send("Fetch.failRequest", {"requestId": event["requestId"], "errorReason": "Aborted"})

    cdp.on("Fetch.requestPaused", paused)
    cdp.send("Fetch.enable", {"patterns": [{"urlPattern": "*/sso/oidc/*/callback/*"}]})
    try:
        sign_in_at_provider(page, label, username, ACCOUNTS[username]["password"])
        page.wait_for_timeout(100)
        deadline = 50
        while not held and deadline:
            page.wait_for_timeout(100)
            deadline -= 1
    finally:
        cdp.send("Fetch.disable")
        cdp.detach()
    assert held, "the provider did not send the browser back"
    return held[0]


def test_a_callback_with_a_state_this_browser_did_not_start_is_refused(site, page, browser):
    """Login CSRF: charlie's answer from the provider, code unused, opened in alice's browser."""
    attacker = new_context(browser, site.server, None)
    url = held_callback(attacker.new_page(), "Corp ID", "charlie")
    attacker.close()
    page.goto("/")
    page.get_by_role("link", name="Sign in with Corp ID").click()  # alice's own sign-in, begun
    page.goto(url)
    expect_refused(page, "This sign-in did not start here")
    assert site.user("charlie") is None


def test_a_code_for_one_provider_is_refused_at_another_providers_callback(site, page):
    """The mix-up attack: a sign-in begun with corp, its answer delivered to partner's callback."""
    url = held_callback(page, "Corp ID", "charlie")
    page.goto(url.replace("/sso/oidc/corp/callback/", "/sso/oidc/partner/callback/"))
    expect_refused(page, "This sign-in did not start here")
    assert site.user("charlie") is None
    assert site.user("charlie-partner") is None


def test_an_id_token_that_has_expired_is_refused(site, page):
    sign_in_at_provider(page, "Slow ID", "charlie", ACCOUNTS["charlie"]["password"])
    expect_refused(page, "The sign-in from Slow ID had expired")
    assert site.user("charlie") is None


def test_a_provider_that_answers_as_an_unknown_issuer_is_not_trusted(site, page):
    page.goto("/")
    page.get_by_role("link", name="Sign in with Elsewhere ID").click()
    expect_refused(page, "Elsewhere ID answered as an unknown issuer")
    assert "localhost" not in page.content()


def test_a_wrong_password_at_the_provider_signs_nobody_in(site, page):
    sign_in_at_provider(page, "Corp ID", "charlie", "not-his-password")
    expect(page.locator(".error")).to_have_text("Wrong username or password.")
    page.goto(site.server.url + "/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def test_disabling_an_account_at_the_provider_takes_effect_at_the_next_sign_in(site, page, browser):
    sign_in_at_provider(page, "Corp ID", "charlie", ACCOUNTS["charlie"]["password"])
    expect_signed_in(page, "charlie")
    site.idp.set_account("charlie", disabled=True)
    try:
        context = new_context(browser, site.server, None)
        again = context.new_page()
        sign_in_at_provider(again, "Corp ID", "charlie", ACCOUNTS["charlie"]["password"])
        expect(again.locator(".error")).to_have_text("This account is disabled.")
        again.goto(site.server.url + "/")
        expect(again).to_have_url(re.compile(r"/accounts/login/"))
        context.close()
    finally:
        site.idp.set_account("charlie", disabled=False)


def test_an_admins_deactivation_ends_the_session_at_once(site, page):
    sign_in_at_provider(page, "Corp ID", "charlie", ACCOUNTS["charlie"]["password"])
    expect_signed_in(page, "charlie")
    site.shell("u = User.objects.get(username='charlie'); u.is_active = False; u.save()")
    try:
        page.reload()
        expect(page).to_have_url(re.compile(r"/accounts/login/"))
    finally:
        site.shell("u = User.objects.get(username='charlie'); u.is_active = True; u.save()")


# -- logging out ---------------------------------------------------------------------------------


def test_logging_out_of_chatsite_logs_out_at_the_provider_too(site, page):
    sign_in_at_provider(page, "Corp ID", "alice", ACCOUNTS["alice"]["password"])
    expect_signed_in(page, "alice")
    at_provider = []
    page.on("request", lambda r: at_provider.append(r.url) if r.url.startswith(site.idp.url) else None)
    page.get_by_role("button", name="Log out").click()
    confirm = page.get_by_role("button", name="Yes, sign me out")
    expect(confirm.or_(page.locator("a.sign-in-provider").first)).to_be_visible()
    if confirm.is_visible():  # the provider asks first
        confirm.click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    assert any("id_token_hint=" in url for url in at_provider)
    # Signed out there as well: signing in again asks for the password.
    page.get_by_role("link", name="Sign in with Corp ID").click()
    expect(page.locator("#password")).to_be_visible()


# -- passwords and limits ------------------------------------------------------------------------


def test_with_local_passwords_off_a_member_cannot_use_one_but_the_admin_can(site, page):
    page.goto("/")
    page.fill("#id_username", "dave")
    page.fill("#id_password", "dave-password-123")
    page.click("button[type=submit]")
    expect(page.locator("[role=alert]")).to_contain_text("Please enter a correct username and password")
    page.fill("#id_username", "root")
    page.fill("#id_password", ROOT_PASSWORD)
    page.click("button[type=submit]")
    expect_signed_in(page, "root")


def test_failed_callbacks_are_rate_limited_as_failed_logins_are(site, page):
    callback = f"{site.server.url}/sso/oidc/elsewhere/callback/?code=guess&state=guess"
    for _ in range(10):  # LOGIN_RATE_LIMIT
        page.goto(callback)
        expect(page.locator("[role=alert]")).to_contain_text("This sign-in did not start here")
    page.goto(callback)
    expect_refused(page, "Too many failed sign-ins")
