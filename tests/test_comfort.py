"""The chat page's comforts in a real browser: themes, keyboard shortcuts, what a screen reader
hears (and axe-core's checks), the buttons on each message, and maths typeset by KaTeX.

Like tests/test_browser.py: the real server (`chat_server`), its loopback upstream (`up`) and
Debian's Chromium, asserting what a user sees or hears.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from tests.browser import axe_violations, new_context
from tests.test_browser import answer_id, body_text, last_answer, open_chat, send, wait_status, words

LIGHT_BG = "rgb(255, 255, 255)"  # chat.css --bg in each theme
DARK_BG = "rgb(22, 24, 29)"


def background(page: Page) -> str:
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


def stylesheet_applies(page: Page, variant: str) -> bool:
    """Whether highlight.js's light or dark stylesheet is the one in force."""
    return page.evaluate(
        "(v) => { const l = document.querySelector(`link[data-theme-variant=${v}]`);"
        " return matchMedia(l.media).matches; }",
        variant,
    )


# Runs before the page's scripts: the body's colour the moment <body> was parsed, before the
# first paint could happen (and before any module ran).
THEME_AT_BODY = """
new MutationObserver((changes, observer) => {
  if (!document.body) return;
  window.__themeAtBody = getComputedStyle(document.body).backgroundColor;
  observer.disconnect();
}).observe(document, { childList: true, subtree: true });
"""


# ---------------------------------------------------------------------------------------------
# 1. Themes
# ---------------------------------------------------------------------------------------------


def test_a_dark_system_theme_makes_the_page_dark_and_the_switch_overrides_it_across_reloads(
    browser, chat_server, alice_state, watch
):
    context = new_context(browser, chat_server, alice_state, color_scheme="dark")
    context.add_init_script(THEME_AT_BODY)
    try:
        page = watch.attach(context.new_page())
        open_chat(page)
        switch = page.locator("#theme-select")
        expect(switch).to_have_value("system")
        assert background(page) == DARK_BG
        assert stylesheet_applies(page, "dark") and not stylesheet_applies(page, "light")

        switch.select_option("light")
        assert background(page) == LIGHT_BG
        assert stylesheet_applies(page, "light") and not stylesheet_applies(page, "dark")
        page.reload()
        expect(page.locator("#theme-select")).to_have_value("light")
        assert background(page) == LIGHT_BG
        assert stylesheet_applies(page, "light") and not stylesheet_applies(page, "dark")
        # Chosen before the body was parsed: the page never showed dark first.
        assert page.evaluate("window.__themeAtBody") == LIGHT_BG

        # The login page (no chat modules) follows the same choice.
        login = watch.attach(new_context(browser, chat_server, None, color_scheme="dark").new_page())
        try:
            login.goto("/accounts/login/")
            assert background(login) == DARK_BG  # another browser profile: still the system's
        finally:
            login.context.close()
        page.goto("/accounts/login/")
        assert background(page) == LIGHT_BG

        # Back to the system's: it follows the system again, whichever it is.
        page.goto("/")
        page.locator("#theme-select").select_option("system")
        assert background(page) == DARK_BG
        page.emulate_media(color_scheme="light")
        assert background(page) == LIGHT_BG
        page.reload()
        assert page.evaluate("window.__themeAtBody") == LIGHT_BG
        page.emulate_media(color_scheme="dark")
        assert background(page) == DARK_BG
        assert watch.console_errors == [] and page.evaluate("window.__csp") == []
    finally:
        context.close()


def test_a_theme_chosen_in_one_tab_is_followed_by_the_others(context, watch):
    first, second = watch.attach(context.new_page()), watch.attach(context.new_page())
    open_chat(first)
    open_chat(second)
    first.locator("#theme-select").select_option("dark")
    expect(second.locator("#theme-select")).to_have_value("dark")
    assert background(second) == DARK_BG


# ---------------------------------------------------------------------------------------------
# 2. Keyboard shortcuts
# ---------------------------------------------------------------------------------------------


def test_ctrl_shift_o_opens_a_new_chat_even_while_typing(page, up):
    up.script(tokens=["Hi."])
    open_chat(page)
    send(page, "Hello")
    wait_status(page, "complete")
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}/$"))
    page.locator("#composer-input").fill("half a thought")
    page.keyboard.press("Control+Shift+O")
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("#empty-state")).to_be_visible()
    expect(page.locator("article.message")).to_have_count(0)
    # Already on a new chat: it goes to the message box.
    page.locator(".new-chat").focus()
    page.keyboard.press("Control+Shift+O")
    expect(page.locator("#composer-input")).to_be_focused()
    expect(page).to_have_url(re.compile(r"/$"))


def test_slash_goes_to_the_message_box_unless_typing_elsewhere(page, up):
    up.script(tokens=["Fine."])
    open_chat(page)
    send(page, "Hello")
    wait_status(page, "complete")
    composer = page.locator("#composer-input")
    page.get_by_role("button", name="Regenerate answer").focus()
    page.keyboard.press("/")
    expect(composer).to_be_focused()
    expect(composer).to_have_value("")  # the key itself is not typed
    # In a text box, / is a character like any other.
    page.locator('article[data-role="user"] .edit-button').click()
    edit = page.locator(".edit-input")
    edit.press("End")
    page.keyboard.press("/")
    expect(edit).to_be_focused()
    expect(edit).to_have_value("Hello/")


def test_escape_stops_a_streaming_answer(page, up):
    up.script(tokens=words("s", 200), delay=0.05)  # 10 s if nobody stops it
    open_chat(page)
    send(page, "Talk for a long time")
    answer = last_answer(page)
    expect(answer.locator(".message-body")).to_contain_text("s5")
    expect(page.locator("#composer-input")).to_be_focused()  # where the user just typed
    page.keyboard.press("Escape")
    wait_status(page, "stopped", timeout=5_000)
    assert up.wait_disconnects(1, timeout=5), "the provider's connection stayed open after Escape"
    expect(page.locator("#send-button")).to_be_visible()
    text = body_text(answer)
    # With nothing streaming, Escape changes nothing.
    page.keyboard.press("Escape")
    page.wait_for_timeout(200)
    expect(answer).to_have_attribute("data-status", "stopped")
    assert body_text(answer) == text


def test_escape_in_an_open_edit_closes_it_and_leaves_an_answer_streaming(context, up, watch):
    up.script(tokens=["First."])
    page = watch.attach(context.new_page())
    open_chat(page)
    send(page, "One")
    wait_status(page, "complete")
    user = page.locator('article[data-role="user"]').first
    user.get_by_role("button", name="Edit message").click()
    edit = page.get_by_role("textbox", name="Edit message")
    expect(edit).to_be_focused()
    # Meanwhile another tab asks something else in this conversation: its answer streams here too.
    other = watch.attach(context.new_page())
    open_chat(other, urlsplit(page.url).path)
    up.script(tokens=words("e", 60), delay=0.05)
    send(other, "Two")
    expect(last_answer(page).locator(".message-body")).to_contain_text("e3")
    expect(page.locator("#stop-button")).to_be_visible()
    edit.press("Escape")
    expect(edit).to_have_count(0)
    expect(user.locator(".message-body")).to_have_text("One")
    page.wait_for_timeout(300)
    expect(last_answer(page)).to_have_attribute("data-status", "streaming")  # not stopped
    wait_status(page, "complete")
    assert body_text(last_answer(page)) == "".join(words("e", 60))
    # Not streaming: the focus went back to the Edit button, where the keyboard was.
    user.get_by_role("button", name="Edit message").click()
    page.get_by_role("textbox", name="Edit message").press("Escape")
    expect(user.get_by_role("button", name="Edit message")).to_be_focused()


def test_on_a_phone_escape_first_closes_the_conversation_drawer_then_stops_the_answer(
    browser, chat_server, alice_state, up, watch
):
    phone = {"viewport": {"width": 390, "height": 800}, "is_mobile": True, "has_touch": True}
    context = new_context(browser, chat_server, alice_state, **phone)
    try:
        page = watch.attach(context.new_page())
        open_chat(page)
        # Hidden on a wide screen earlier: the phone's drawer is not that.
        page.evaluate("window.chatsitePreferences.setSidebarHidden(true)")
        up.script(tokens=words("p", 200), delay=0.05)
        send(page, "Talk for a long time")
        expect(last_answer(page).locator(".message-body")).to_contain_text("p3")
        toggle = page.locator("#sidebar-toggle")
        toggle.tap()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        expect(page.locator("#sidebar")).to_be_in_viewport(ratio=0.95)
        page.keyboard.press("Escape")
        expect(toggle).to_have_attribute("aria-expanded", "false")
        page.wait_for_timeout(300)
        expect(last_answer(page)).to_have_attribute("data-status", "streaming")
        page.keyboard.press("Escape")
        wait_status(page, "stopped", timeout=5_000)
    finally:
        context.close()


def test_ctrl_k_asks_for_search_and_focuses_the_search_box(page):
    open_chat(page)
    page.evaluate(
        "window.__searches = 0; document.addEventListener('chatsite:search', () => { window.__searches += 1; })"
    )
    page.locator("#composer-input").focus()
    page.keyboard.press("Control+K")
    assert page.evaluate("window.__searches") == 1
    expect(page.locator("#search-input")).to_be_focused()
    # With the conversations hidden, they are shown for it.
    page.locator("#composer-input").focus()
    page.keyboard.press("Control+Shift+S")
    expect(page.locator("#sidebar")).to_be_hidden()
    page.keyboard.press("Control+K")
    expect(page.locator("#search-input")).to_be_focused()
    assert page.evaluate("window.__searches") == 2


def test_ctrl_shift_s_hides_and_shows_the_conversations_and_it_is_remembered(page):
    open_chat(page)
    sidebar, toggle = page.locator("#sidebar"), page.locator("#sidebar-toggle")
    expect(sidebar).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("Control+Shift+S")
    expect(sidebar).to_be_hidden()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    page.reload()
    expect(sidebar).to_be_hidden()  # the next page (every conversation is one) keeps it hidden
    expect(page.locator("#sidebar-toggle")).to_have_attribute("aria-expanded", "false")
    page.locator("#composer-input").focus()  # also while typing
    page.keyboard.press("Control+Shift+S")
    expect(sidebar).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    # The menu button does the same with the mouse.
    toggle.click()
    expect(sidebar).to_be_hidden()
    toggle.click()
    expect(sidebar).to_be_visible()
    page.reload()
    expect(sidebar).to_be_visible()


def test_question_mark_lists_the_shortcuts_unless_typing(page):
    open_chat(page)
    dialog = page.locator("#shortcuts-dialog")
    composer = page.locator("#composer-input")
    composer.focus()
    page.keyboard.press("?")
    expect(composer).to_have_value("?")
    expect(dialog).to_be_hidden()

    composer.fill("")
    page.locator(".new-chat").focus()
    page.keyboard.press("?")
    expect(dialog).to_be_visible()
    for action in ("New chat", "Go to the message box", "Stop the answer", "Search", "Show or hide the conversations"):
        expect(dialog.locator("dd", has_text=action)).to_have_count(1)
    expect(dialog.locator("div", has=page.locator("dd", has_text="New chat")).locator("kbd")).to_have_text(
        ["Ctrl", "Shift", "O"]
    )
    # Other shortcuts wait while it is open; Escape closes it.
    page.keyboard.press("Control+Shift+S")
    expect(page.locator("#sidebar")).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    # Its button in the sidebar opens it too, and Close closes it.
    page.locator("#shortcuts-button").click()
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()


# ---------------------------------------------------------------------------------------------
# 3. Screen readers
# ---------------------------------------------------------------------------------------------

# Every text the live region held, in order (recorded from before the page's own scripts).
RECORD_ANNOUNCEMENTS = """
window.__announced = [];
document.addEventListener('DOMContentLoaded', () => {
  const region = document.getElementById('announcer');
  new MutationObserver(() => {
    if (region.textContent) window.__announced.push(region.textContent);
  }).observe(region, { childList: true, characterData: true, subtree: true });
});
"""


def live_ancestors(page: Page, selector: str) -> list[str]:
    """The elements around `selector` that a screen reader would read out as they change."""
    return page.evaluate(
        """(selector) => {
          const found = [];
          for (let el = document.querySelector(selector); el; el = el.parentElement) {
            const live = el.getAttribute('aria-live');
            const role = el.getAttribute('role');
            if ((live && live !== 'off') || ['log', 'status', 'alert', 'marquee', 'timer'].includes(role)) {
              found.push(el.outerHTML.slice(0, 80));
            }
          }
          return found;
        }""",
        selector,
    )


def test_a_screen_reader_hears_once_that_the_answer_finished_and_not_each_token(context, up, watch):
    context.add_init_script(RECORD_ANNOUNCEMENTS)
    page = watch.attach(context.new_page())
    tokens = ["The sky ", "is *blue* ", "on a clear day. ", *words(" more", 30)]
    up.script(tokens=tokens, delay=0.03)
    open_chat(page)
    send(page, "What colour is the sky?")
    expect(last_answer(page).locator(".message-body")).to_contain_text("blue")
    region = page.locator("#announcer")
    assert region.get_attribute("aria-live") == "polite"
    assert live_ancestors(page, 'article[data-role="assistant"] .message-body') == []
    wait_status(page, "complete")
    expect(region).to_have_text("Answer finished: The sky is blue on a clear day.")
    expect(region).to_have_class(re.compile(r"\bvisually-hidden\b"))
    page.wait_for_timeout(300)
    assert page.evaluate("window.__announced") == ["Answer finished: The sky is blue on a clear day."]

    # A second answer with the same words is said again; a failed one says why.
    up.script(tokens=tokens)
    send(page, "Again?")
    wait_status(page, "complete")
    expect(page.locator("article.message")).to_have_count(4)
    page.wait_for_function("() => window.__announced.length === 2")
    up.script(status=401)
    send(page, "And now?")
    wait_status(page, "error")
    page.wait_for_function("() => window.__announced.length === 3")
    assert re.fullmatch(r"The answer failed: .*rejected the API key.*", page.evaluate("window.__announced[2]"))
    # Copying is said too (a changed button label is not read out).
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy message").last.click()
    page.wait_for_function("() => window.__announced.length === 4")
    assert page.evaluate("window.__announced[3]") == "Copied"
    assert watch.console_errors == []


def test_axe_finds_nothing_serious_on_the_chat_page_with_a_conversation_in_either_theme(page, up):
    up.script(
        tokens=[
            "Here is **code**, a [link](https://example.com/) and maths $x^2$:\n\n",
            # Code in a few languages: every colour highlight.js gives its tokens is checked.
            "```python\nimport os\ndef f(x: int) -> str:\n",
            "    # a comment\n    return str(len([1, 'a', True, None]))\n```\n\n",
            "```js\nconst a = /re/g; let b = `t${a}`; function g() { return this; }\n```\n\n",
            '```diff\n- old\n+ new\n```\n\n```html\n<div class="a">x</div>\n```\n\n',
            "```markdown\n# Head\n> quote\n- item\n```\n\n",
            "| a | b |\n|---|---|\n| 1 | 2 |\n\n",
            "$$\\sqrt{2}$$",
        ],
        reasoning=["Thinking ", "it over."],
    )
    open_chat(page)
    send(page, "Show me some things")
    wait_status(page, "complete")
    for theme in ("light", "dark"):
        page.locator("#theme-select").select_option(theme)
        assert axe_violations(page) == [], theme
    page.locator("#theme-select").select_option("system")


def test_axe_finds_nothing_serious_in_the_settings_and_shortcuts_dialogs(page):
    open_chat(page)
    page.locator("#settings-button").click()
    expect(page.locator("#settings-dialog")).to_be_visible()
    assert axe_violations(page) == []
    page.locator("#settings-dialog .settings-cancel").click()
    page.locator(".new-chat").focus()
    page.keyboard.press("?")
    expect(page.locator("#shortcuts-dialog")).to_be_visible()
    assert axe_violations(page) == []


def test_axe_finds_nothing_serious_on_the_login_page(browser, chat_server, watch):
    context = new_context(browser, chat_server, None)
    try:
        page = watch.attach(context.new_page())
        page.goto("/accounts/login/")
        expect(page.locator("#id_username")).to_be_visible()
        assert axe_violations(page) == []
        # And with a failed login's error shown.
        page.fill("#id_username", "alice")
        page.fill("#id_password", "not her password")
        page.click("button[type=submit]")
        expect(page.locator(".form-error")).to_be_visible()
        assert axe_violations(page) == []
    finally:
        context.close()


def focus_walk(page: Page, until: str, presses: int = 600) -> list[str]:
    """Tab from the top of the page until `until` has the focus: each control on the way as the
    accessibility tree names it (`- role "name"`)."""
    page.evaluate("document.activeElement?.blur()")
    seen = []
    for _ in range(presses):
        page.keyboard.press("Tab")
        line = page.locator(":focus").aria_snapshot().splitlines()[0]
        seen.append(re.match(r'- [\w-]+(?: ".*?")?(?: \[[^\]]+\])*', line).group(0))  # without its text
        if page.evaluate("(s) => document.activeElement.matches(s)", until):
            return seen
    raise AssertionError(f"{until} never got the focus: {seen}")


def test_tab_goes_through_the_chat_in_reading_order_and_every_stop_has_a_name(page, up):
    up.script(tokens=["Fine."])
    open_chat(page)
    send(page, "How are you?")
    wait_status(page, "complete")
    page.reload()
    expect(page.locator("article.message")).to_have_count(2)
    order = focus_walk(page, "#composer-input")
    unnamed = [stop for stop in order if not re.fullmatch(r'- \w+ ".+"( \[.+\])?', stop)]
    assert unnamed == [], order
    expected = [
        '- link "chatsite"',
        '- combobox "Theme"',
        '- button "Log out"',
        '- link "New chat"',
        '- searchbox "Search your conversations"',
        '- link "How are you?"',
        '- button "Conversation options"',
        '- button "Keyboard shortcuts"',
        '- button "Conversations" [expanded]',
        '- combobox "Model"',
        '- button "Conversation settings"',
        '- button "Copy message"',
        '- button "Edit message"',
        '- button "Copy answer"',
        '- button "Regenerate answer"',
        '- button "Attach files"',
        '- textbox "Message"',
    ]
    missing = [name for name in expected if name not in order]
    assert missing == [], order
    positions = [order.index(name) for name in expected]
    assert positions == sorted(positions), order


# ---------------------------------------------------------------------------------------------
# 4. The buttons on each message
# ---------------------------------------------------------------------------------------------


def test_each_message_shows_its_buttons_and_model_and_they_work_from_the_keyboard(context, up, watch):
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = watch.attach(context.new_page())
    up.script(tokens=["The first ", "answer."])
    open_chat(page)
    send(page, "First question")
    wait_status(page, "complete")
    up.script(tokens=["The second ", "answer."])
    send(page, "Second question")
    wait_status(page, "complete")
    page.mouse.move(0, 0)  # nothing hovered: they are shown all the same

    users = page.locator('article[data-role="user"]')
    answers = page.locator('article[data-role="assistant"]')
    for user in (users.first, users.last):
        for name in ("Copy message", "Edit message"):
            button = user.get_by_role("button", name=name)
            expect(button).to_be_visible()
            expect(button).to_have_css("opacity", "1")
        expect(user.get_by_role("button", name="Edit message")).to_have_text("Edit")
    for answer in (answers.first, answers.last):
        expect(answer.get_by_role("button", name="Copy answer")).to_be_visible()
        expect(answer.locator(".meta-model")).to_be_visible()
        expect(answer.locator(".meta-model")).to_have_text("test/model-a")
    # Regenerate is offered on the last answer only.
    expect(answers.first.get_by_role("button", name="Regenerate answer")).to_be_hidden()
    regenerate = answers.last.get_by_role("button", name="Regenerate answer")
    expect(regenerate).to_be_visible()
    expect(regenerate).to_have_text("Regenerate")

    # Copy, from the keyboard.
    answers.first.get_by_role("button", name="Copy answer").focus()
    page.keyboard.press("Enter")
    expect(answers.first.get_by_role("button", name="Copy answer")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == "The first answer."
    users.last.get_by_role("button", name="Copy message").focus()
    page.keyboard.press("Space")
    page.wait_for_function("async () => (await navigator.clipboard.readText()) === 'Second question'")

    # Regenerate: Tab from the last message's Copy reaches it.
    answers.last.get_by_role("button", name="Copy answer").focus()
    page.keyboard.press("Tab")
    expect(regenerate).to_be_focused()
    up.script(tokens=["Another ", "take."])
    page.keyboard.press("Enter")
    expect(answers.last.locator(".message-body")).to_have_text("Another take.", timeout=15_000)
    wait_status(page, "complete")
    expect(answers).to_have_count(2)

    # Edit: Enter opens it, Ctrl+Enter saves, a new answer follows.
    users.last.get_by_role("button", name="Edit message").focus()
    page.keyboard.press("Enter")
    edit = page.get_by_role("textbox", name="Edit message")
    expect(edit).to_be_focused()
    edit.fill("Second question, rephrased")
    up.script(tokens=["A rephrased ", "answer."])
    page.keyboard.press("Control+Enter")
    expect(users.last.locator(".message-body")).to_have_text("Second question, rephrased")
    expect(answers.last.locator(".message-body")).to_have_text("A rephrased answer.", timeout=15_000)
    assert watch.console_errors == []


# ---------------------------------------------------------------------------------------------
# 5. Maths
# ---------------------------------------------------------------------------------------------


def test_display_and_inline_maths_are_typeset_by_katex_with_its_own_fonts(page, up, watch):
    fonts: list[str] = []
    page.on("response", lambda r: fonts.append(f"{r.status} {urlsplit(r.url).path}") if "/fonts/" in r.url else None)
    # Split across deltas: the formula shows once it is whole.
    up.script(tokens=["The area is\n\n$$\\int_0^1 x", "\\,dx$$\n\nand ", "\\(\\sqrt{2}\\) is $x^2$ at $x=\\sqrt{2}$."])
    open_chat(page)
    send(page, "Integrate x from 0 to 1")
    wait_status(page, "complete")
    body = last_answer(page).locator(".message-body")
    display = body.locator(".katex-display")
    expect(display).to_have_count(1)
    expect(display.locator(".katex-html")).to_be_visible()
    expect(display.locator("annotation")).to_have_text("\\int_0^1 x\\,dx")  # what a screen reader gets
    expect(display.locator(".katex-html")).to_have_attribute("aria-hidden", "true")
    expect(body.locator(".katex")).to_have_count(4)
    assert "$" not in body.locator("p").last.inner_text()
    # KaTeX's layout is in its styles (set through the CSSOM: the CSP allows no style
    # attributes): the integral stands taller than a line of text, in KaTeX's font.
    assert display.locator(".katex-html").bounding_box()["height"] > 40
    assert "KaTeX" in display.locator(".mop").first.evaluate("e => getComputedStyle(e).fontFamily")
    page.wait_for_function("() => document.fonts.status === 'loaded'")
    assert fonts and all(f.startswith("200 /static/vendor/katex-0.19.1/fonts/KaTeX_") for f in fonts), fonts
    # The square root's sign is KaTeX's SVG drawn as a mask: a shape in the text colour, no SVG.
    root = body.locator(".sqrt .katex-svg").first
    assert root.evaluate("e => getComputedStyle(e).maskImage").startswith('url("data:image/svg+xml')
    box = root.bounding_box()
    assert box["width"] > 5 and box["height"] > 5
    assert body.locator("svg").count() == 0
    assert page.evaluate("window.__unsafe") == [] and page.evaluate("window.__csp") == []
    assert watch.console_errors == []
    # The same after a reload, from the saved text.
    page.reload()
    expect(last_answer(page).locator(".message-body .katex")).to_have_count(4)


def test_dollar_signs_in_prices_and_code_stay_text(page, up):
    up.script(
        tokens=[
            "It costs $5 and $6, or $5-$10 with US$20 to spare. ",
            "Escaped: \\$x\\$. Code: `$x$` and\n\n```sh\necho $HOME $PATH\n```\n",
        ]
    )
    open_chat(page)
    send(page, "How much?")
    wait_status(page, "complete")
    answer = last_answer(page)
    expect(answer.locator(".katex")).to_have_count(0)
    expect(answer.locator(".message-body p").first).to_have_text(
        "It costs $5 and $6, or $5-$10 with US$20 to spare. Escaped: $x$. Code: $x$ and"
    )
    expect(answer.locator("pre code")).to_have_text("echo $HOME $PATH")


HOSTILE_TEX = [
    "Links: $\\href{javascript:alert(1)}{click}$ and $\\url{javascript:alert(2)}$. ",
    "Pictures: $\\includegraphics{/static/chat.css}$. ",
    "HTML: $\\htmlClass{message-body}{a}$ $\\htmlId{send-button}{b}$ ",
    "$\\htmlStyle{position:fixed;inset:0;background:red}{c}$ $\\htmlData{onclick=alert(3)}{d}$. ",
    "Text: $\\text{<img src=x onerror=alert(4)>}$. ",
    "Huge: $$\\rule{5000em}{5000em}$$",
]


def test_hostile_tex_produces_no_active_element(page, up, watch):
    up.script(tokens=HOSTILE_TEX, delay=0.02)
    open_chat(page)
    send(page, "Do your worst")
    wait_status(page, "complete")
    answer = last_answer(page)
    body = answer.locator(".message-body")
    expect(body.locator(".katex")).to_have_count(9)  # each rendered, the refused commands as text
    expect(body).to_contain_text("\\href")
    expect(body).to_contain_text("<img src=x onerror=alert(4)>")
    assert body.locator("a, img, [onclick], [id], [data-onclick]").count() == 0
    assert page.locator("#send-button").count() == 1
    assert page.locator(".message-body").count() == page.locator("article.message").count()
    positioned = body.evaluate(
        "b => [...b.querySelectorAll('*')].filter((e) => ['fixed', 'absolute', 'sticky']"
        ".includes(getComputedStyle(e).position) && !e.closest('.katex-mathml, .katex-svg')).length"
    )
    assert positioned == 0
    # \rule is capped: the answer stays within the chat's column.
    assert body.bounding_box()["height"] < 1000
    assert page.evaluate("window.__unsafe") == []
    page.wait_for_timeout(300)
    assert watch.dialogs == [] and page.evaluate("window.__csp") == []
    assert answer_id(page)
