"""Debian's Chromium driven by Playwright, and what a page showed that a user would notice.

The fixtures here (`browser`, `alice_state`, `watch`, `context`, `page`) are offered to every
test module through conftest.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.server import PASSWORDS, ChatServer

CHROMIUM = "/usr/bin/chromium"
AXE = Path(__file__).resolve().parent.parent / "static/vendor/axe-core-4.14.1/axe.min.js"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Runs in every page before its own scripts: records websocket frames, every text the last
# answer showed, anything active that ever appeared in a message, and CSP violations.
INSTRUMENT = r"""
(() => {
  const Native = window.WebSocket;
  window.__frames = [];
  window.__sockets = [];
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      window.__sockets.push(this);
      this.addEventListener('message', (e) => {
        try { window.__frames.push(JSON.parse(e.data)); } catch (err) { /* not JSON */ }
      });
    }
  };
  window.__samples = [];   // [message id, text] each time an answer's visible text changed
  window.__unsafe = [];    // outerHTML of any active element that appeared in a message
  window.__csp = [];
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
  });
  const last = new Map();
  const check = () => {
    for (const body of document.querySelectorAll('article[data-role="assistant"] .message-body')) {
      const id = body.closest('article').dataset.messageId;
      const text = body.textContent;
      if (last.get(id) !== text) {
        last.set(id, text);
        window.__samples.push([id, text]);
      }
    }
    for (const el of document.querySelectorAll(
      '.message-body img, .message-body script, .message-body iframe, .message-body svg, .message-body [onerror]')) {
      window.__unsafe.push(el.outerHTML);
    }
    for (const a of document.querySelectorAll('a[href]')) {
      if (/^\s*javascript:/i.test(a.getAttribute('href'))) window.__unsafe.push(a.outerHTML);
    }
  };
  document.addEventListener('DOMContentLoaded', () => {
    new MutationObserver(check).observe(document.body, {
      subtree: true, childList: true, characterData: true, attributes: true,
    });
    check();
  });
})();
"""


@pytest.fixture(scope="module")
def browser() -> Browser:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def log_in(page: Page, username: str = "alice") -> None:
    """Log in through the login form, as a person does."""
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORDS[username])
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/$"))


@pytest.fixture(scope="module")
def alice_state(browser, chat_server) -> dict:
    """Alice's logged-in cookies, for tests that are not about logging in."""
    context = browser.new_context(base_url=chat_server.url)
    log_in(context.new_page())
    state = context.storage_state()
    context.close()
    return state


class Watch:
    """What a page showed that a user would notice: dialogs, console errors, crashes."""

    def __init__(self) -> None:
        self.dialogs: list[str] = []
        self.console_errors: list[str] = []

    def attach(self, page: Page) -> Page:
        def on_dialog(dialog) -> None:
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.console_errors.append(f"uncaught: {e}"))
        return page


@pytest.fixture
def watch() -> Watch:
    return Watch()


def new_context(browser: Browser, server: ChatServer, state: dict | None, **options) -> BrowserContext:
    context = browser.new_context(base_url=server.url, storage_state=state, **options)
    context.set_default_timeout(10_000)
    context.add_init_script(INSTRUMENT)
    return context


@pytest.fixture
def context(browser, chat_server, alice_state) -> BrowserContext:
    context = new_context(browser, chat_server, alice_state)
    yield context
    context.close()


@pytest.fixture
def page(context, watch) -> Page:
    return watch.attach(context.new_page())


def axe_violations(page: Page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """What axe-core finds wrong with the page as it is now, at these impacts: one line per
    rule and element. axe is not part of the site: it is evaluated into the page through the
    DevTools protocol (the page's CSP would refuse a script tag)."""
    if not page.evaluate("() => Boolean(window.axe)"):
        page.evaluate(f"() => {{ {AXE.read_text()}\n}}")
    found = page.evaluate(
        """async (impacts) => {
          const { violations } = await window.axe.run(document, { resultTypes: ['violations'] });
          return violations.filter((v) => impacts.includes(v.impact)).flatMap((v) =>
            v.nodes.map((n) => `${v.id} (${v.impact}): ${n.target.join(' ')}: ${n.failureSummary}`));
        }""",
        list(impacts),
    )
    return found
