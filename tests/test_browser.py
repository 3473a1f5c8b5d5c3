"""The chat in a real browser, against the app started the way a user starts it.

A loopback `Upstream` plays the provider; the `chat_server` fixture (tests/server.py) runs
`manage.py serve` (daphne), and Debian's Chromium, driven by Playwright, uses the site.
Everything is asserted on what a user sees: the DOM, the screen, dialogs and the console.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from PIL import Image
from playwright.sync_api import Page, expect

from tests.browser import log_in, new_context
from tests.samples import png_bytes
from tests.server import API_KEY
from tests.upstream import Upstream

STREAM_TIMEOUT = 15_000  # ms: the longest scripted answer here takes about 3 s

# ---------------------------------------------------------------------------------------------
# What a user does and sees
# ---------------------------------------------------------------------------------------------


def open_chat(page: Page, path: str = "/") -> None:
    page.goto(path)
    # The composer refuses to send until the websocket is open ("Not connected…").
    page.wait_for_function("() => window.__sockets.some((s) => s.readyState === WebSocket.OPEN)")


def send(page: Page, text: str) -> None:
    page.fill("#composer-input", text)
    page.press("#composer-input", "Enter")


def last_answer(page: Page):
    return page.locator('article[data-role="assistant"]').last


def answer_id(page: Page) -> str:
    answer = last_answer(page)
    expect(answer).to_have_attribute("data-message-id", re.compile(r".+"))
    return answer.get_attribute("data-message-id")


def wait_status(page: Page, status: str, timeout: int = STREAM_TIMEOUT) -> None:
    expect(last_answer(page)).to_have_attribute("data-status", status, timeout=timeout)


def body_text(locator) -> str:
    return locator.locator(".message-body").text_content().strip()


def samples(page: Page, message_id: str) -> list[str]:
    """Every text the answer showed, in order (whitespace at the ends trimmed)."""
    return [text.strip() for mid, text in page.evaluate("window.__samples") if mid == message_id]


def words(prefix: str, count: int) -> list[str]:
    """Tokens "w0", " w1", " w2"…: any repeated or missing token shows in the text."""
    return [f"{prefix}0"] + [f" {prefix}{i}" for i in range(1, count)]


def image_urls(request: dict) -> list[str]:
    """The image URLs in the last user message of an upstream chat request."""
    user = [m for m in request["json"]["messages"] if m["role"] == "user"][-1]
    content = user["content"] if isinstance(user["content"], list) else []
    return [part["image_url"]["url"] for part in content if part.get("type") == "image_url"]


def chat_requests(upstream: Upstream) -> list[dict]:
    return [r for r in upstream.requests if r["path"].rstrip("/").endswith("/chat/completions")]


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


def test_logging_in_and_pressing_enter_streams_the_answer_in_token_by_token(browser, chat_server, up, watch):
    tokens = words("t", 30)
    up.script(tokens=tokens, delay=0.05)
    context = new_context(browser, chat_server, None)
    try:
        page = watch.attach(context.new_page())
        log_in(page)
        expect(page.locator(".topbar .username")).to_have_text("alice")
        open_chat(page)
        send(page, "Count for me, please")

        user = page.locator('article[data-role="user"]').last
        expect(user.locator(".message-body")).to_have_text("Count for me, please")
        expect(page.locator("#composer-input")).to_have_value("")
        ident = answer_id(page)
        expect(page.locator("#stop-button")).to_be_visible()
        wait_status(page, "complete")

        final = "".join(tokens)
        answer = last_answer(page)
        assert body_text(answer) == final
        expect(answer).to_have_class(re.compile(r"\bmsg--complete\b"))
        seen = samples(page, ident)
        partial = {len(text) for text in seen if 0 < len(text) < len(final)}
        assert len(partial) >= 2, f"the answer did not stream in: {seen}"
        assert all(final.startswith(text) for text in seen), seen
        expect(answer.locator(".meta-usage")).to_have_text(re.compile(r"^\d+ prompt \+ 30 completion tokens$"))
        expect(answer.locator(".meta-model")).to_have_text("test/model-a")
        expect(page.locator("#send-button")).to_be_visible()
        expect(page.locator("#stop-button")).to_be_hidden()
        # The new conversation has its own address and is listed, titled by the question.
        expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}/$"))
        expect(page.locator(".conversation-item.is-current .conversation-title")).to_have_text(
            re.compile("Count for me")
        )
        assert up.requests[-1]["headers"]["authorization"] == f"Bearer {API_KEY}"
        assert API_KEY not in page.content()
        assert watch.console_errors == [] and watch.dialogs == []
    finally:
        context.close()


def test_stop_ends_a_long_answer_keeps_its_text_and_closes_the_upstream_request(page, up):
    tokens = words("s", 200)  # 10 s if nobody stops it
    up.script(tokens=tokens, delay=0.05)
    open_chat(page)
    send(page, "Talk for a long time")
    answer = last_answer(page)
    expect(answer.locator(".message-body")).to_contain_text("s5")
    page.click("#stop-button")

    wait_status(page, "stopped", timeout=5_000)
    expect(answer).to_have_class(re.compile(r"\bmsg--stopped\b"))
    expect(answer.locator(".meta-status")).to_have_text("Stopped")
    expect(answer.locator(".meta-status")).to_be_visible()
    text = body_text(answer)
    final = "".join(tokens)
    assert text.startswith("s0 s1 s2 s3 s4 s5") and final.startswith(text) and len(text) < len(final)
    assert up.wait_disconnects(1, timeout=5), "the provider's connection stayed open after Stop"
    expect(page.locator("#send-button")).to_be_visible()
    expect(page.locator("#stop-button")).to_be_hidden()
    # The partial answer is what was saved: a reload shows the same.
    page.reload()
    expect(last_answer(page)).to_have_attribute("data-status", "stopped")
    assert body_text(last_answer(page)) == text


def test_an_image_picked_with_the_file_picker_is_previewed_sent_shown_and_reaches_the_provider(page, up, tmp_path):
    picture = tmp_path / "red.png"
    picture.write_bytes(png_bytes())
    up.script(tokens=["A red ", "rectangle."])
    open_chat(page)
    page.set_input_files("#attach-input", picture)

    tray = page.locator("#attachment-tray")
    expect(tray).to_be_visible()
    expect(tray.locator("img.attachment-thumb")).to_have_count(1)
    expect(tray.locator(".attachment-pending.is-uploading")).to_have_count(0)  # uploaded
    expect(tray.locator(".attachment-error")).to_have_text("")
    send(page, "What is this?")

    user = page.locator('article[data-role="user"]').last
    thumb = user.locator("img.attachment-thumb")
    expect(thumb).to_have_count(1)
    expect(thumb).to_be_visible()
    thumb.evaluate("img => img.decode ? img.decode() : null")
    assert thumb.evaluate("img => img.complete && img.naturalWidth") == 40
    assert thumb.evaluate("img => new URL(img.currentSrc).origin === location.origin")
    assert re.fullmatch(r"/media/attachments/[0-9a-f-]{36}", thumb.evaluate("img => new URL(img.src).pathname"))
    expect(tray).to_be_hidden()
    wait_status(page, "complete")
    assert body_text(last_answer(page)) == "A red rectangle."

    urls = image_urls(chat_requests(up)[-1])
    assert len(urls) == 1 and urls[0].startswith("data:image/png;base64,")
    sent = Image.open(io.BytesIO(base64.b64decode(urls[0].split(",", 1)[1])))
    assert sent.size == (40, 30)
    # After a reload the image still shows, loaded from the server.
    page.reload()
    thumb = page.locator('article[data-role="user"] img.attachment-thumb')
    expect(thumb).to_have_count(1)
    page.wait_for_function(
        "() => { const i = document.querySelector('article[data-role=user] img.attachment-thumb');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )


def test_images_dropped_on_the_page_or_pasted_into_the_composer_are_attached(page, up):
    up.script(tokens=["Two ", "pictures."])
    open_chat(page)
    green = base64.b64encode(png_bytes((20, 160, 20), (24, 24))).decode()
    blue = base64.b64encode(png_bytes((20, 20, 160), (16, 12))).decode()
    page.evaluate(
        """([green, blue]) => {
          const file = (b64, name) => new File(
            [Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name, { type: 'image/png' });
          const dropped = new DataTransfer();
          dropped.items.add(file(green, 'green.png'));
          const target = document.querySelector('#messages');
          for (const type of ['dragenter', 'dragover', 'drop']) {
            target.dispatchEvent(new DragEvent(type, { dataTransfer: dropped, bubbles: true, cancelable: true }));
          }
          const pasted = new DataTransfer();
          pasted.items.add(file(blue, 'blue.png'));
          document.querySelector('#composer-input').dispatchEvent(
            new ClipboardEvent('paste', { clipboardData: pasted, bubbles: true, cancelable: true }));
        }""",
        [green, blue],
    )
    tray = page.locator("#attachment-tray")
    expect(tray.locator("img.attachment-thumb")).to_have_count(2)
    expect(tray.locator(".attachment-pending.is-uploading")).to_have_count(0)
    expect(page.locator("body")).not_to_have_class(re.compile(r"\bis-dragging\b"))
    send(page, "And these?")

    thumbs = page.locator('article[data-role="user"]').last.locator("img.attachment-thumb")
    expect(thumbs).to_have_count(2)
    page.wait_for_function(
        "() => [...document.querySelectorAll('article[data-role=user] img.attachment-thumb')]"
        ".every((i) => i.complete && i.naturalWidth > 0)"
    )
    wait_status(page, "complete")
    urls = image_urls(chat_requests(up)[-1])
    assert len(urls) == 2 and all(url.startswith("data:image/png;base64,") for url in urls)


def test_reloading_mid_stream_shows_the_text_so_far_and_keeps_streaming_without_losing_a_token(page, up):
    tokens = words("w", 60)
    final = "".join(tokens)
    up.script(tokens=tokens, delay=0.05)  # about 3 s
    open_chat(page)
    send(page, "Count slowly")
    expect(last_answer(page).locator(".message-body")).to_contain_text("w12")
    before = body_text(last_answer(page))
    page.reload()

    answer = last_answer(page)
    ident = answer_id(page)
    expect(answer).to_have_attribute("data-status", "streaming")
    expect(answer.locator(".message-body")).to_contain_text("w0 w1 w2")  # the text so far, at once
    wait_status(page, "complete")
    assert body_text(answer) == final

    seen = samples(page, ident)
    assert seen, "nothing was shown after the reload"
    bad = [text for text in seen if not final.startswith(text)]
    assert not bad, f"the page showed repeated or missing tokens: {bad}"
    grew = {len(text) for text in seen if len(before) <= len(text) < len(final)}
    assert len(grew) >= 2, f"the answer did not keep streaming after the reload: {seen}"
    # The socket asked for (or was given) a snapshot and then applied deltas in order.
    frames = page.evaluate("window.__frames")
    deltas = [f["seq"] for f in frames if f["type"] == "delta" and f["message"] == ident]
    snapshots = [f["seq"] for f in frames if f["type"] == "snapshot"]
    assert snapshots, frames[:5]
    assert deltas == sorted(set(deltas)), deltas


XSS_TOKENS = [
    "<im",
    "g src=x onerr",
    "or=alert(1)>",
    " and <scr",
    "ipt>alert(2)</scr",
    "ipt> and [link](javascript:alert(3))",
]


def test_html_and_script_split_across_deltas_never_run_or_become_elements(page, up, watch):
    up.script(tokens=XSS_TOKENS, delay=0.03)
    open_chat(page)
    send(page, "Say something nasty")
    wait_status(page, "complete")
    answer = last_answer(page)

    def assert_inert() -> None:
        expect(answer.locator(".message-body")).to_contain_text("alert(1)")  # shown as text
        assert answer.locator(".message-body img, .message-body script").count() == 0
        assert page.locator('a[href^="javascript:" i]').count() == 0
        assert page.evaluate("window.__unsafe") == []  # not even for a moment while streaming
        assert watch.dialogs == []

    assert_inert()
    text = body_text(answer)
    assert "<img src=x onerror=alert(1)>" in text and "<script>alert(2)</script>" in text
    page.reload()
    answer = last_answer(page)
    expect(answer).to_have_attribute("data-status", "complete")
    assert_inert()
    assert body_text(answer) == text
    page.wait_for_timeout(300)  # an onerror or a late script would have fired by now
    assert watch.dialogs == []


def test_a_provider_error_is_shown_in_the_answer_and_keeps_the_partial_text(page, up):
    up.script(status=401)
    open_chat(page)
    send(page, "Hello?")
    wait_status(page, "error")
    answer = last_answer(page)
    expect(answer).to_have_class(re.compile(r"\bmsg--error\b"))
    status = answer.locator(".meta-status")
    expect(status).to_be_visible()
    expect(status).to_contain_text("Error:")
    expect(status).to_contain_text("rejected the API key")

    # A stream cut off half way: the words that came are kept, with the error.
    up.script(tokens=words("p", 10), delay=0.02, drop_after=4)
    send(page, "Try again")
    expect(page.locator('article[data-role="assistant"]')).to_have_count(2)
    wait_status(page, "error")
    answer = last_answer(page)
    assert body_text(answer) == "p0 p1 p2 p3"
    expect(answer.locator(".meta-status")).to_contain_text(re.compile(r"^Error: .+"))
    assert API_KEY not in page.content()
    # The composer still works after an error.
    expect(page.locator("#send-button")).to_be_visible()
    expect(page.locator("#send-button")).to_be_enabled()


def test_on_a_phone_the_composer_works_and_the_menu_button_opens_the_conversation_list(
    browser, chat_server, alice_state, up, watch, tmp_path
):
    width, height = 390, 800
    context = new_context(
        browser, chat_server, alice_state, viewport={"width": width, "height": height}, is_mobile=True, has_touch=True
    )
    shots = Path(os.environ.get("CHATSITE_SCREENSHOTS", tmp_path))
    try:
        page = watch.attach(context.new_page())
        up.script(tokens=["Sure, ", "here is **a list**:\n\n", "- one\n- two\n\n", "```python\nprint('hi')\n```"])
        open_chat(page)
        composer, send_button = page.locator("#composer-input"), page.locator("#send-button")
        for element in (composer, send_button, page.locator("#sidebar-toggle")):
            expect(element).to_be_visible()
            expect(element).to_be_in_viewport(ratio=1)
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling
        sidebar = page.locator("#sidebar")
        expect(sidebar).not_to_be_in_viewport()

        composer.tap()
        composer.fill("Give me a short list")
        send_button.tap()
        wait_status(page, "complete")
        expect(last_answer(page).locator(".message-body li")).to_have_count(2)
        expect(composer).to_be_in_viewport(ratio=1)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot(path=str(shots / "phone-chat.png"))

        page.locator("#sidebar-toggle").tap()
        expect(page.locator("#sidebar-toggle")).to_have_attribute("aria-expanded", "true")
        expect(sidebar).to_be_in_viewport(ratio=0.95)
        current = page.locator(".conversation-item.is-current")
        expect(current).to_be_visible()
        expect(current).to_contain_text("Give me a short list")
        page.wait_for_function(
            "() => { const r = document.getElementById('sidebar').getBoundingClientRect(); return r.left === 0; }"
        )
        page.screenshot(path=str(shots / "phone-sidebar.png"))
        # Tapping the dimmed chat beside the list closes it.
        page.mouse.click(width - 10, height // 2)
        expect(page.locator("#sidebar-toggle")).to_have_attribute("aria-expanded", "false")
        expect(sidebar).not_to_be_in_viewport()
        assert watch.console_errors == []
    finally:
        context.close()


def test_a_second_tab_on_the_same_conversation_sees_the_same_stream(context, up, watch):
    first = watch.attach(context.new_page())
    up.script(tokens=["Ready."])
    open_chat(first)
    send(first, "Are you there?")
    wait_status(first, "complete")
    address = urlsplit(first.url).path

    second = watch.attach(context.new_page())
    open_chat(second, address)
    second.wait_for_function("() => window.__frames.some((f) => f.type === 'done')")  # subscribed
    expect(second.locator("article.message")).to_have_count(2)

    tokens = words("x", 30)
    final = "".join(tokens)
    up.script(tokens=tokens, delay=0.05)
    send(first, "Now count")
    expect(second.locator('article[data-role="user"]').last.locator(".message-body")).to_have_text("Now count")
    expect(second.locator('article[data-role="assistant"]')).to_have_count(2)
    ident = answer_id(second)
    assert answer_id(first) == ident
    expect(second.locator("#stop-button")).to_be_visible()  # either tab can stop it
    wait_status(second, "complete")
    wait_status(first, "complete")
    assert body_text(last_answer(second)) == body_text(last_answer(first)) == final
    seen = samples(second, ident)
    assert len({len(t) for t in seen if 0 < len(t) < len(final)}) >= 2, seen
    assert all(final.startswith(t) for t in seen), seen
    assert watch.console_errors == []


def test_a_normal_chat_logs_no_console_errors_and_no_csp_violations(browser, chat_server, up, watch, tmp_path):
    context = new_context(browser, chat_server, None)
    try:
        page = watch.attach(context.new_page())
        violations: list[str] = []
        log_in(page)
        violations += page.evaluate("window.__csp")
        open_chat(page)
        picture = tmp_path / "pic.png"
        picture.write_bytes(png_bytes())
        page.set_input_files("#attach-input", picture)
        expect(page.locator("#attachment-tray .attachment-pending.is-uploading")).to_have_count(0)
        up.script(
            tokens=["Here ", "is *code*:\n\n", "```python\n", "def f(x):\n", "    return x * 2\n", "```\n", "Done."],
            delay=0.02,
        )
        send(page, "Show me some code")
        wait_status(page, "complete")
        expect(last_answer(page).locator(".code-block .copy-code")).to_have_count(1)
        expect(last_answer(page).locator("code.hljs, code .hljs-keyword").first).to_be_visible()  # highlighted
        page.wait_for_function(
            "() => [...document.querySelectorAll('img.attachment-thumb')].every((i) => i.complete && i.naturalWidth)"
        )
        # Switch the model, and come back to the conversation with a reload.
        with page.expect_response(lambda r: r.url.endswith("/model/")) as response:
            page.select_option("#model-select", label="test/model-b")
        assert response.value.ok
        violations += page.evaluate("window.__csp")
        page.reload()
        expect(page.locator("article.message")).to_have_count(2)
        expect(page.locator("#model-select option:checked")).to_have_text("test/model-b")
        page.wait_for_function(
            "() => [...document.querySelectorAll('img.attachment-thumb')].every((i) => i.complete && i.naturalWidth)"
        )
        violations += page.evaluate("window.__csp")
        assert violations == []
        assert watch.console_errors == []
        assert watch.dialogs == []
    finally:
        context.close()


def test_thinking_streams_into_a_collapsed_block_above_the_answer_and_stays_after_a_reload(page, up, watch):
    thoughts = ["The user ", "greets me. ", "<img src=x onerror=alert(1)>", " I will greet back."]
    up.script(reasoning=thoughts, tokens=words("w", 8), delay=0.05)
    open_chat(page)
    send(page, "Hello")
    answer = last_answer(page)
    thinking = answer.locator("details.thinking")
    # While the model thinks, the block says so before any answer text.
    expect(thinking.locator("summary")).to_have_text("Thinking…")
    expect(thinking).not_to_have_attribute("open", "")
    wait_status(page, "complete")

    def check() -> None:
        expect(thinking.locator("summary")).to_have_text("Thought for 4 tokens")
        thinking.locator("summary").click()
        expect(thinking.locator(".thinking-body")).to_have_text("".join(thoughts))  # inert text
        assert thinking.locator("img").count() == 0
        assert body_text(answer) == "".join(words("w", 8))  # the answer holds no thinking
        expect(answer.locator(".meta-usage")).to_contain_text("(4 reasoning)")

    check()
    page.reload()
    answer = last_answer(page)
    thinking = answer.locator("details.thinking")
    check()
    assert watch.dialogs == []


def test_an_answer_cut_off_at_its_length_limit_offers_continue_which_grows_it(page, up):
    up.script(tokens=words("a", 4), finish_reason="length", delay=0.02)
    open_chat(page)
    send(page, "Count for me")
    wait_status(page, "complete")
    answer = last_answer(page)
    expect(answer.locator(".meta-status")).to_have_text("Cut off (length)")
    more = answer.locator(".continue-button")
    expect(more).to_be_visible()

    up.script(tokens=[" a4", " a5"], delay=0.02)
    more.click()
    expect(answer).to_have_attribute("data-status", "complete", timeout=STREAM_TIMEOUT)
    expect(answer.locator(".message-body")).to_have_text("a0 a1 a2 a3 a4 a5")
    expect(page.locator('article[data-role="assistant"]')).to_have_count(1)  # the same answer grew
    expect(more).to_be_hidden()


def test_a_refusal_is_shown_as_the_models_words_not_as_an_empty_answer(page, up, watch):
    up.script(tokens=[], refusal=["I won't do ", "<b>that</b>."])
    open_chat(page)
    send(page, "Do something bad")
    wait_status(page, "complete")
    answer = last_answer(page)
    refusal = answer.locator(".refusal")
    expect(refusal).to_be_visible()
    expect(refusal.locator(".refusal-text")).to_have_text("I won't do <b>that</b>.")
    assert refusal.locator("b").count() == 0
    expect(answer.locator(".meta-status")).to_have_text("Refused")


def test_the_settings_panel_saves_checks_and_sends_the_conversations_parameters(page, up):
    open_chat(page)
    page.locator("#settings-button").click()  # a new chat: the conversation is made first
    dialog = page.locator("#settings-dialog")
    expect(dialog).to_be_visible()
    form = dialog.locator("form")
    form.locator("[name=system_prompt]").fill("You are terse.")
    form.locator("[name=temperature]").fill("3")
    form.locator("[name=response_format]").select_option("json_schema")
    schema = form.locator("[name=schema]")
    expect(schema).to_be_visible()
    schema.fill('{"type": "objekt"}')
    dialog.locator(".settings-save").click()
    # The server's checks come back in the panel, which stays open.
    expect(dialog.locator(".settings-error")).to_contain_text("temperature must be between 0 and 2")
    form.locator("[name=temperature]").fill("0.2")
    dialog.locator(".settings-save").click()
    expect(dialog.locator(".settings-error")).to_contain_text("not valid JSON Schema")
    schema.fill('{"type": "object", "properties": {"n": {"type": "integer"}}}')
    form.locator("[name=stop]").fill("END\nSTOP")
    form.locator("[name=extra_body]").fill('{"provider": {"sort": "price"}}')
    dialog.locator(".settings-save").click()
    expect(dialog).to_be_hidden()

    send(page, "A number please")
    wait_status(page, "complete")
    sent = chat_requests(up)[-1]["json"]
    assert sent["messages"][0] == {"role": "system", "content": "You are terse."}
    assert (sent["temperature"], sent["stop"], sent["provider"]) == (0.2, ["END", "STOP"], {"sort": "price"})
    assert sent["response_format"]["json_schema"]["schema"]["properties"] == {"n": {"type": "integer"}}

    # After a reload the panel shows what was saved.
    page.reload()
    page.locator("#settings-button").click()
    expect(form.locator("[name=system_prompt]")).to_have_value("You are terse.")
    expect(form.locator("[name=temperature]")).to_have_value("0.2")
    expect(form.locator("[name=stop]")).to_have_value("END\nSTOP")
    expect(form.locator("[name=response_format]")).to_have_value("json_schema")


def test_a_preset_saved_in_one_chat_fills_the_settings_of_another(page, up):
    open_chat(page)
    page.locator("#settings-button").click()
    dialog = page.locator("#settings-dialog")
    form = dialog.locator("form")
    form.locator("[name=system_prompt]").fill("Reply like a pirate.")
    form.locator("[name=temperature]").fill("1.2")
    form.locator("[name=preset_name]").fill("Pirate")
    dialog.locator(".preset-save").click()
    expect(form.locator("[name=preset]")).to_have_value(re.compile(r"^\d+$"))  # saved and selected
    dialog.locator(".settings-cancel").click()

    # A new chat: pick the preset, save, send.
    page.goto("/")
    page.locator("#settings-button").click()
    expect(form.locator("[name=system_prompt]")).to_have_value("")
    form.locator("[name=preset]").select_option(label="Pirate")
    expect(form.locator("[name=system_prompt]")).to_have_value("Reply like a pirate.")
    expect(form.locator("[name=temperature]")).to_have_value("1.2")
    dialog.locator(".settings-save").click()
    expect(dialog).to_be_hidden()
    send(page, "Hello")
    wait_status(page, "complete")
    sent = chat_requests(up)[-1]["json"]
    assert sent["messages"][0] == {"role": "system", "content": "Reply like a pirate."}
    assert sent["temperature"] == 1.2


def test_a_json_answer_is_pretty_printed_and_its_check_shown(page, up):
    open_chat(page)
    page.locator("#settings-button").click()
    form = page.locator("#settings-dialog form")
    form.locator("[name=response_format]").select_option("json_object")
    page.locator("#settings-dialog .settings-save").click()
    expect(page.locator("#settings-dialog")).to_be_hidden()  # saved: the modal no longer blocks the page
    up.script(tokens=['{"a": 1, ', '"b": [true]}'])
    send(page, "JSON please")
    wait_status(page, "complete")
    answer = last_answer(page)
    expect(answer.locator(".message-body pre code")).to_have_text('{\n  "a": 1,\n  "b": [\n    true\n  ]\n}')
    expect(answer.locator(".json-check")).to_have_text("Valid JSON, as asked")


def test_a_tool_call_streams_into_the_chat_runs_and_its_result_shows(page, up, watch):
    open_chat(page)
    page.locator("#settings-button").click()
    dialog = page.locator("#settings-dialog")
    dialog.locator(".tool-switch[value=calculator]").check()
    dialog.locator(".settings-save").click()
    expect(dialog).to_be_hidden()
    call = {"id": "call_9", "name": "calculator", "arguments": '{"expression": "<b>6</b> * 7"}'}
    up.script(tokens=["Let me compute."], tool_calls=[call], delay=0.05)
    up.script(tokens=["It is ", "42."], first_delay=0.5)
    send(page, "What is 6 times 7?")
    answer = last_answer(page)
    block = answer.locator("details.tool-call")
    # The call shows, failed (markup is no arithmetic), while the model goes on with the result.
    expect(block.locator(".tool-call-name")).to_have_text("calculator")
    expect(block.locator(".tool-call-status")).to_have_text(re.compile(r"^failed in \d+ ms$"))
    wait_status(page, "complete")
    # Each round's text is its own paragraph, and the call sits between them, where it was made.
    expect(answer.locator(".message-body p")).to_have_text(["Let me compute.", "It is 42."])
    order = answer.locator(".message-body").evaluate(
        "(body) => [...body.querySelectorAll('p, details.tool-call')].map((el) => el.tagName)"
    )
    assert order == ["P", "DETAILS", "P"]
    expect(block).not_to_have_attribute("open", "")
    block.locator("summary").click()
    # Arguments and result are plain text: the model's markup stays inert.
    expect(block.locator(".tool-call-arguments pre")).to_have_text('{\n  "expression": "<b>6</b> * 7"\n}')
    expect(block.locator(".tool-call-result pre")).to_have_text("Error: This is not an arithmetic expression.")
    assert block.locator("b").count() == 0
    sent = chat_requests(up)
    assert [tool["function"]["name"] for tool in sent[0]["json"]["tools"]] == ["calculator"]
    assert sent[1]["json"]["messages"][-1]["tool_call_id"] == "call_9"

    page.reload()
    block = last_answer(page).locator("details.tool-call")
    expect(block.locator(".tool-call-status")).to_have_text(re.compile(r"^failed in \d+ ms$"))
    assert watch.dialogs == []


def url_citation(url: str, title: str) -> dict:
    return {"type": "url_citation", "url_citation": {"url": url, "title": title, "start_index": 0, "end_index": 5}}


def test_citations_are_numbered_links_under_the_answer_and_a_javascript_url_is_never_a_link(page, up, watch):
    notes = [
        url_citation("https://example.com/a", "Example <b>A</b>"),
        url_citation("javascript:alert(document.cookie)", "Click me"),
        url_citation("http://example.org/b?q=1", ""),
        url_citation("https://example.com/a", "A again"),  # the same page: listed once
    ]
    up.script(tokens=words("w", 6), annotations=notes, delay=0.02)
    open_chat(page)
    send(page, "Search the web")
    wait_status(page, "complete")

    def check() -> None:
        answer = last_answer(page)
        items = answer.locator(".citations li")
        expect(items).to_have_count(3)
        assert [items.nth(i).get_attribute("value") for i in range(3)] == ["1", "2", "3"]
        first = items.nth(0).locator("a")
        expect(first).to_have_text("Example <b>A</b>")  # the title as text, not markup
        expect(first).to_have_attribute("href", "https://example.com/a")
        expect(first).to_have_attribute("target", "_blank")
        expect(first).to_have_attribute("rel", "noopener noreferrer")
        assert items.locator("b").count() == 0
        # The javascript: URL is shown as text and is no link at all.
        expect(items.nth(1)).to_contain_text("javascript:alert(document.cookie)")
        assert items.nth(1).locator("a").count() == 0
        # A citation without a title shows its URL.
        expect(items.nth(2).locator("a")).to_have_text("http://example.org/b?q=1")
        assert answer.locator("a[href^='javascript']").count() == 0

    check()
    page.reload()  # the same from the saved answer
    check()
    assert page.evaluate("window.__unsafe") == []
    assert watch.dialogs == []


def switch_on_logprobs(page: Page, top: str = "2") -> None:
    page.locator("#settings-button").click()
    form = page.locator("#settings-dialog form")
    form.locator("[name=logprobs]").check()
    form.locator("[name=top_logprobs]").fill(top)
    page.locator("#settings-dialog .settings-save").click()
    expect(page.locator("#settings-dialog")).to_be_hidden()


def test_the_token_view_shows_each_tokens_probability_and_alternatives_on_hover_and_tap(page, up, watch):
    open_chat(page)
    switch_on_logprobs(page)
    tokens = ["The", " sky", " is", " <b>green</b>", "."]
    logprobs = [(-0.01, [("A", -5.0)]), (-0.3, []), (-0.9, [(" was", -0.7)]), (-2.5, [(" blue", -0.1)]), (0, [])]
    up.script(tokens=tokens, logprobs=logprobs, delay=0.02)
    send(page, "Colour of the sky?")
    wait_status(page, "complete")
    sent = chat_requests(up)[-1]["json"]
    assert (sent["logprobs"], sent["top_logprobs"]) == (True, 2)

    answer = last_answer(page)
    toggle = answer.locator(".tokens-button")
    view = answer.locator(".token-view")
    expect(view).to_be_hidden()  # Markdown stays the default view
    toggle.click()
    expect(view).to_be_visible()
    expect(answer.locator(".message-body")).to_be_hidden()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    spans = view.locator(".token-text > .tok")
    expect(spans).to_have_count(5)
    assert view.locator(".token-text b").count() == 0  # model text, never markup
    expect(spans.nth(3)).to_have_text(" <b>green</b>")
    # Tinted by probability: e^-2.5 ≈ 8 % red, e^-0.9 ≈ 41 % amber, the rest plain; a legend says so.
    expect(spans.nth(3)).to_have_class(re.compile(r"\btok--red\b"))
    expect(spans.nth(2)).to_have_class(re.compile(r"\btok--amber\b"))
    expect(spans.nth(1)).not_to_have_class(re.compile(r"tok--"))
    expect(view.locator(".token-legend")).to_contain_text("p < 0.5")

    spans.nth(3).hover()
    popup = view.locator(".tok-popup")
    expect(popup).to_have_count(1)
    expect(popup).to_be_visible()
    expect(popup.locator(".tok-chosen")).to_have_text('" <b>green</b>" 8.2 %')
    expect(popup.locator(".tok-alternative")).to_have_text(['" blue" 90.5 %'])
    # A tap (or keyboard focus) opens it too, for touch screens.
    spans.nth(0).dispatch_event("click")
    spans.nth(0).focus()
    expect(popup).to_have_count(1)
    expect(popup.locator(".tok-chosen")).to_have_text('"The" 99.0 %')
    expect(popup.locator(".tok-alternative")).to_have_text(['"A" 0.7 %'])
    page.keyboard.press("Escape")
    expect(popup).to_have_count(0)

    toggle.click()  # back to the Markdown view
    expect(view).to_be_hidden()
    expect(answer.locator(".message-body")).to_have_text("The sky is <b>green</b>.")
    assert watch.console_errors == []


def test_a_token_popup_at_the_bottom_of_the_list_opens_upwards_in_full_view(page, up):
    open_chat(page)
    switch_on_logprobs(page, "5")
    alternatives = [(" grey", -1.0), (" red", -2.0), (" pink", -3.0), (" gold", -4.0)]
    # A long answer: its last token ends up at the bottom edge of the list.
    up.script(tokens=["Sky\n" * 30, " blue"], logprobs=[(-0.1, []), (-0.5, alternatives)])
    send(page, "Colour?")
    wait_status(page, "complete")
    answer = last_answer(page)
    answer.locator(".tokens-button").click()
    # A short window scrolled to the end: the answer's last line sits just above the composer.
    page.set_viewport_size({"width": 900, "height": 460})
    page.evaluate("() => { const list = document.querySelector('.messages'); list.scrollTop = list.scrollHeight; }")
    answer.locator(".token-text .tok").nth(1).hover()
    popup = answer.locator(".tok-popup")
    expect(popup.locator(".tok-alternative")).to_have_count(4)
    box, list_box = popup.bounding_box(), page.locator("#messages").bounding_box()
    assert box["y"] >= list_box["y"] and box["y"] + box["height"] <= list_box["y"] + list_box["height"]


def test_the_token_view_grows_by_appending_while_the_answer_streams(page, up):
    open_chat(page)
    switch_on_logprobs(page, "0")
    up.script(tokens=words("t", 40), logprobs=[(-0.1, [])] * 40, delay=0.06)
    send(page, "Count")
    answer = last_answer(page)
    toggle = answer.locator(".tokens-button")
    expect(toggle).to_be_visible()  # offered as soon as probabilities arrive
    toggle.click()
    first = answer.locator(".token-text > .tok").first
    expect(first).to_have_text("t0")
    first.evaluate("(span) => { span.dataset.mark = 'kept'; }")
    wait_status(page, "complete")
    expect(answer.locator(".token-text > .tok")).to_have_count(40)
    # The first span is the same element: tokens were appended, not re-rendered.
    expect(answer.locator(".token-text > .tok[data-mark=kept]")).to_have_text("t0")


def test_web_search_is_offered_only_where_the_model_can_search_and_reaches_the_provider(page, up):
    open_chat(page)
    # test/model-b's /models entry names neither web_search_options nor logprobs.
    page.select_option("#model-select", label="test/model-b")
    page.locator("#settings-button").click()
    form = page.locator("#settings-dialog form")
    expect(form.locator("[name=web_search]")).to_be_disabled()
    expect(form.locator("[name=search_context_size]")).to_be_disabled()
    expect(form.locator("[name=logprobs]")).to_be_disabled()
    expect(form.locator('.ability-note[data-ability="web_search"]')).to_have_text("test/model-b cannot search the web.")
    expect(form.locator('.ability-note[data-ability="logprobs"]')).to_be_visible()
    expect(form.locator("[name=reasoning_effort]")).to_be_enabled()  # it does take reasoning effort
    page.locator("#settings-dialog .settings-cancel").click()

    # test/model-a's says it searches: offered, saved and sent.
    page.select_option("#model-select", label="test/model-a")
    page.locator("#settings-button").click()
    expect(form.locator("[name=logprobs]")).to_be_enabled()
    expect(form.locator('.ability-note[data-ability="web_search"]')).to_be_hidden()
    expect(form.locator('.ability-note[data-ability="reasoning"]')).to_have_text(
        "test/model-a takes no reasoning effort."
    )
    form.locator("[name=web_search]").check()
    form.locator("[name=search_context_size]").select_option("high")
    page.locator("#settings-dialog .settings-save").click()
    expect(page.locator("#settings-dialog")).to_be_hidden()
    send(page, "News?")
    wait_status(page, "complete")
    assert chat_requests(up)[-1]["json"]["web_search_options"] == {"search_context_size": "high"}


def test_the_composer_refuses_an_image_for_a_model_that_cannot_see_and_says_why(page, up, tmp_path):
    picture = tmp_path / "red.png"
    picture.write_bytes(png_bytes())
    open_chat(page)
    uploads: list[str] = []
    page.on("request", lambda r: uploads.append(r.url) if r.url.endswith("/uploads/") else None)
    page.select_option("#model-select", label="test/model-b")  # its /models entry: text only
    page.set_input_files("#attach-input", picture)
    tray = page.locator("#attachment-tray")
    expect(tray.locator(".attachment-error")).to_have_text("red.png: test/model-b does not take images")
    assert uploads == []  # refused before any upload
    tray.locator(".attachment-remove").click()
    expect(tray).to_be_hidden()

    # Attached for a model that sees, then a switch to one that does not: the tray says so and
    # the send is held with the reason.
    page.select_option("#model-select", label="test/model-a")
    page.set_input_files("#attach-input", picture)
    expect(tray.locator(".attachment-pending.is-uploading")).to_have_count(0)
    expect(tray.locator(".attachment-error")).to_have_text("")
    page.select_option("#model-select", label="test/model-b")
    expect(tray.locator(".attachment-error")).to_have_text("red.png: test/model-b does not take images")
    send(page, "What is this?")
    expect(page.locator("#error-banner .error-text")).to_have_text(
        "test/model-b does not take images: pick another model or remove it."
    )
    expect(page.locator('article[data-role="user"]')).to_have_count(0)
    assert chat_requests(up) == []
    page.select_option("#model-select", label="test/model-a")
    expect(tray.locator(".attachment-error")).to_have_text("")


def test_a_pdf_and_a_recording_are_attached_shown_and_reach_the_provider(page, up, tmp_path):
    from tests.samples import pdf_bytes, wav_bytes

    pdf, wav = tmp_path / "report.pdf", tmp_path / "voice.wav"
    pdf.write_bytes(pdf_bytes("Quarterly revenue grew"))
    wav.write_bytes(wav_bytes())
    up.script(tokens=["Read ", "and heard."])
    open_chat(page)
    page.set_input_files("#attach-input", [pdf, wav])
    tray = page.locator("#attachment-tray")
    expect(tray.locator(".attachment-chip")).to_have_count(2)
    expect(tray.locator(".attachment-pending.is-uploading")).to_have_count(0)
    expect(tray.locator(".attachment-error")).to_have_text(["", ""])
    send(page, "Summarise both")

    user = page.locator('article[data-role="user"]').last
    chips = user.locator(".attachment-chip")
    expect(chips).to_have_count(2)
    # Files are in the order their uploads finished, as the server keeps them.
    report = chips.filter(has_text="report.pdf")
    expect(report.locator(".attachment-info")).to_have_text(re.compile(r"^PDF · \d+ KB$"))
    expect(chips.filter(has_text="voice.wav").locator(".attachment-info")).to_have_text(re.compile(r"^Audio · "))
    expect(user.locator("audio[controls]")).to_have_count(1)
    wait_status(page, "complete")
    content = chat_requests(up)[-1]["json"]["messages"][-1]["content"]
    parts = {part["type"]: part for part in content}
    assert sorted(parts) == ["file", "input_audio", "text"]
    assert parts["file"]["file"]["filename"] == "report.pdf"
    assert base64.b64decode(parts["file"]["file"]["file_data"].split(",", 1)[1]) == pdf.read_bytes()
    assert parts["input_audio"]["input_audio"]["format"] == "wav"
    # The file downloads from the site, under its name.
    href = report.get_attribute("href")
    response = page.request.get(href)
    assert response.status == 200 and response.body() == pdf.read_bytes()
    assert "attachment" in response.headers["content-disposition"]
    page.reload()
    expect(page.locator('article[data-role="user"] .attachment-chip')).to_have_count(2)


def test_the_tokens_the_conversation_carries_are_shown_against_the_context_length(page, up):
    up.script(tokens=["Fine."], usage={"prompt_tokens": 1000, "completion_tokens": 234, "total_tokens": 1234})
    open_chat(page)
    usage = page.locator("#context-usage")
    expect(usage).to_be_hidden()
    send(page, "How are you?")
    wait_status(page, "complete")
    expect(usage).to_have_text("1,234 / 32,768 tokens")  # test/model-a's context_length in /models
    expect(usage).not_to_have_class(re.compile("context-usage--high"))
    assert "context length of 32,768" in usage.get_attribute("title")
    # Against a smaller context (test/model-b: 8,192) the same is still fine; a long answer is not.
    page.select_option("#model-select", label="test/model-b")
    expect(usage).to_have_text("1,234 / 8,192 tokens")
    up.script(tokens=["Long."], usage={"prompt_tokens": 6000, "completion_tokens": 1000, "total_tokens": 7000})
    send(page, "Tell me everything")
    wait_status(page, "complete")
    expect(usage).to_have_text("7,000 / 8,192 tokens")
    expect(usage).to_have_class(re.compile("context-usage--high"))
    page.reload()
    expect(usage).to_have_text("7,000 / 8,192 tokens")


def record_sent_frames(page: Page) -> list[dict]:
    """The JSON frames the page sends on its websockets, as they cross the wire."""
    sent: list[dict] = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(json.loads(payload))))
    return sent


def socket_states(page: Page) -> list[int]:
    return page.evaluate("window.__sockets.map((s) => s.readyState)")


def test_a_message_too_large_for_a_frame_is_refused_in_the_page_and_stays_in_the_composer(page, up, watch):
    sent = record_sent_frames(page)
    missing: list[str] = []
    page.on("response", lambda r: missing.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    open_chat(page)
    chats = page.locator(".conversation-item").count()
    # 25,000 characters, within the 32,000-character limit, but 75,000 bytes of UTF-8.
    text = "€" * 25_000
    send(page, text)

    banner = page.locator("#error-banner")
    expect(banner).to_be_visible()
    expect(banner.locator(".error-text")).to_have_text(
        re.compile(r"^That message is too long to send \(7\d KB; the limit is 64 KB\)\.$")
    )
    expect(page.locator("#composer-input")).to_have_value(text)
    # No empty chat was made for it, and the socket was not dropped.
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator(".conversation-item")).to_have_count(chats)
    expect(page.locator("#connection-status")).to_be_hidden()

    # The same socket still carries a message of a size it takes.
    up.script(tokens=["Short ", "is fine."])
    send(page, "Then a short one")
    wait_status(page, "complete")
    assert body_text(last_answer(page)) == "Short is fine."
    expect(banner).to_be_hidden()
    assert socket_states(page) == [1]  # one socket, open: never closed and reopened
    assert [f["text"] for f in sent if f["type"] == "send"] == ["Then a short one"]
    assert len(chat_requests(up)) == 1
    assert missing == [] and watch.console_errors == []


def test_a_message_over_the_character_limit_is_refused_in_the_composer_and_in_an_edit(page, up, watch):
    sent = record_sent_frames(page)
    open_chat(page)
    text = "x" * 100_000  # 100 KB: over both the 32,000-character and the 64 KB frame limit
    send(page, text)
    error = page.locator("#error-banner .error-text")
    expect(error).to_have_text("That message is too long (100,000 characters; the limit is 32,000).")
    expect(page.locator("#composer-input")).to_have_value(text)

    up.script(tokens=["Fine."])
    send(page, "Something short")
    wait_status(page, "complete")
    # An edit to a text too long is refused the same way, and the edit stays open with it.
    user = page.locator('article[data-role="user"]').last
    user.locator(".edit-button").click()
    user.locator(".edit-input").fill(text)
    user.locator(".edit-save").click()
    expect(error).to_have_text("That message is too long (100,000 characters; the limit is 32,000).")
    expect(user.locator(".edit-input")).to_have_value(text)
    expect(user.locator(".message-body")).to_have_text("Something short")
    page.wait_for_timeout(300)  # a frame sent would have been reported by now
    assert [f["type"] for f in sent if f["type"] in ("send", "edit")] == ["send"]
    assert socket_states(page) == [1]
    assert len(chat_requests(up)) == 1
    assert watch.console_errors == []
