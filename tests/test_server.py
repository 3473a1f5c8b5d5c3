"""The pieces of `./dev serve` as a user's browser and an attacker meet them, over real sockets:
daphne started by `manage.py serve` (the `chat_server` fixture, tests/server.py)."""

from __future__ import annotations

import base64
import os
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from tests.samples import pdf_that_reads_slowly, png_bytes
from tests.server import API_KEY, PASSWORDS, ChatServer, sandbox_children
from tests.wsclient import Closed, WebSocket

MB = 1024 * 1024


def logged_in(server: ChatServer, username: str = "alice") -> httpx.Client:
    """An HTTP client with a session from the login form."""
    client = httpx.Client(base_url=server.url, follow_redirects=False, timeout=10)
    page = client.get("/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = client.post(
        "/accounts/login/", data={"username": username, "password": PASSWORDS[username], "csrfmiddlewaretoken": token}
    )
    assert answer.status_code == 302 and "sessionid" in client.cookies, answer.text[:500]
    return client


def connect(server: ChatServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_head(sock: socket.socket, timeout: float = 5) -> bytes:
    """The response's status line and headers (whatever arrived up to the blank line)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def status_of(head: bytes) -> int:
    match = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    assert match, head[:200]
    return int(match.group(1))


@pytest.mark.parametrize("served_by", ["chat_server", "daphne_server"])
def test_an_upload_declaring_500_mb_is_refused_with_413_before_its_body_is_sent(request, served_by):
    chat_server = request.getfixturevalue(served_by)  # manage.py serve, or plain daphne
    client = logged_in(chat_server)
    cookie = f"sessionid={client.cookies['sessionid']}; csrftoken={client.cookies['csrftoken']}"
    sock = connect(chat_server)
    try:
        head = (
            "POST /uploads/ HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{chat_server.port}\r\n"
            f"Origin: {chat_server.url}\r\n"
            f"Cookie: {cookie}\r\n"
            f"X-CSRFToken: {client.cookies['csrftoken']}\r\n"
            "Content-Type: multipart/form-data; boundary=xyz\r\n"
            f"Content-Length: {500 * MB}\r\n\r\n"
        ).encode()
        started = time.monotonic()
        sock.sendall(head + b"--xyz\r\n" + os.urandom(4096))
        answer = read_head(sock)
        elapsed = time.monotonic() - started
        assert status_of(answer) == 413, answer
        assert elapsed < 2, f"the 413 took {elapsed:.1f} s"
        # …and the connection is closed: the rest of the 500 MB is never read.
        sock.settimeout(5)
        rest = b""
        try:
            while chunk := sock.recv(65536):  # a timeout here would fail the test
                rest += chunk
        except ConnectionResetError:
            pass
        assert b"too large" in answer.split(b"\r\n\r\n", 1)[1] + rest
    finally:
        sock.close()
    # The server is fine afterwards, and an ordinary small upload still works.
    answer = client.post(
        "/uploads/",
        files={"file": ("small.png", png_bytes(), "image/png")},
        headers={"X-CSRFToken": client.cookies["csrftoken"], "Origin": chat_server.url},
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["url"].startswith("/media/attachments/")


def test_a_chunked_upload_is_cut_off_with_413_once_it_passes_the_limit(chat_server):
    client = logged_in(chat_server)
    sock = connect(chat_server)
    try:
        sock.sendall(
            (
                "POST /uploads/ HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{chat_server.port}\r\n"
                f"Cookie: sessionid={client.cookies['sessionid']}\r\n"
                "Content-Type: multipart/form-data; boundary=xyz\r\n"
                "Transfer-Encoding: chunked\r\n\r\n"
            ).encode()
        )
        piece = os.urandom(MB)
        sent = 0
        answer = b""
        sock.settimeout(0.05)
        while sent < 40 * MB:  # the limit is 10 MB (+1 MB for the form around the file)
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            except OSError:
                break  # closed by the server: its answer is waiting
            sent += len(piece)
            try:
                answer = sock.recv(65536)
            except TimeoutError:
                continue
            break
        answer = answer or read_head(sock)
        assert status_of(answer) == 413, answer[:200]
        assert sent <= 14 * MB, f"{sent / MB:.0f} MB were read before the refusal"
    finally:
        sock.close()


def test_other_users_are_served_while_a_slow_pdf_is_read(chat_server):
    """A PDF's text is read in a child process, not in the server's (where pypdf held the GIL
    and slowed every request and stream): Bob's page comes while Alice's PDF is still being
    read, for CHAT_PDF_SECONDS (10 s; the PDF would take minutes), and then the reader is gone."""
    alice, bob = logged_in(chat_server, "alice"), logged_in(chat_server, "bob")
    alice.timeout = httpx.Timeout(60)
    with ThreadPoolExecutor(1) as pool:
        reading = pool.submit(
            alice.post,
            "/uploads/",
            files={"file": ("slow.pdf", pdf_that_reads_slowly(), "application/pdf")},
            headers={"X-CSRFToken": alice.cookies["csrftoken"], "Origin": chat_server.url},
        )
        reader = wait_for_reader(chat_server)
        # The reader has the PDF, and none of the server's environment (its API key).
        assert API_KEY.encode() not in Path(f"/proc/{reader}/environ").read_bytes()
        page = bob.get("/")
        assert page.status_code == 200 and "bob" in page.text
        assert sandbox_children(chat_server.process.pid) == [reader], "Bob waited for Alice's PDF"
        refused = reading.result(timeout=60)
    assert refused.status_code == 415 and "longer than 10 s" in refused.json()["error"]
    assert sandbox_children(chat_server.process.pid) == []


def wait_for_reader(server: ChatServer) -> int:
    """The pid of the server's sandbox child, once it has started."""
    deadline = time.monotonic() + 10
    while not (children := sandbox_children(server.process.pid)):
        assert time.monotonic() < deadline, "no sandbox child started"
        time.sleep(0.02)
    return children[0]


def test_the_chat_page_sends_anonymous_visitors_to_the_login_page(chat_server):
    with httpx.Client(base_url=chat_server.url, follow_redirects=False, timeout=10) as client:
        home = client.get("/")
        assert home.status_code == 302
        assert home.headers["location"] == "/accounts/login/?next=/"
        login = client.get(home.headers["location"])
        assert login.status_code == 200
        assert 'name="username"' in login.text and 'name="password"' in login.text
        # The security headers a browser relies on come with it.
        assert "script-src 'self'" in login.headers["content-security-policy"]
        assert login.headers["x-frame-options"] == "DENY"
        assert login.headers["x-content-type-options"] == "nosniff"
        # An attachment URL is not served to a stranger either.
        assert client.get("/media/attachments/00000000-0000-0000-0000-000000000000").status_code == 302


def test_static_files_are_served_by_whitenoise_under_hashed_names(chat_server):
    with closing(logged_in(chat_server)) as client:
        page = client.get("/").text
        css = re.search(r'href="(/static/chat\.[0-9a-f]{12}\.css)"', page)
        script = re.search(r'src="(/static/chat\.[0-9a-f]{12}\.js)"', page)
        assert css and script, page[:2000]

        answer = client.get(css.group(1), headers={"Accept-Encoding": "gzip"})
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/css")
        assert answer.headers.get("content-encoding") == "gzip"  # the precompressed copy
        cache = answer.headers["cache-control"]
        assert "immutable" in cache and "max-age=315360000" in cache, cache

        # chat.js and every module it imports, down to the vendored libraries, are fetched by
        # hashed names: a browser never mixes modules from two deploys.
        todo, seen = [script.group(1)], set()
        while todo:
            path = todo.pop()
            if path in seen:
                continue
            seen.add(path)
            assert re.search(r"\.[0-9a-f]{12}\.m?js$", path), f"{path} is not hashed"
            answer = client.get(path)
            assert answer.status_code == 200, path
            assert "javascript" in answer.headers["content-type"], path
            assert "immutable" in answer.headers["cache-control"], path
            for target in re.findall(r"""^import [^;]*?from ["'](\.{1,2}/[^"']+)["']""", answer.text, re.M):
                todo.append(urljoin(path, target))
        assert len(seen) >= 7, seen  # chat.js, three of ours, marked, DOMPurify, highlight.js
        assert client.get("/static/no-such-file.abcdef123456.js").status_code == 404


def upgrade(server: ChatServer, origin: str | None, cookie: str | None) -> bytes:
    """A websocket handshake for /ws/chat/ over a plain socket; returns the response head."""
    lines = [
        "GET /ws/chat/ HTTP/1.1",
        f"Host: 127.0.0.1:{server.port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
        "Sec-WebSocket-Version: 13",
    ]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    if cookie:
        lines.append(f"Cookie: sessionid={cookie}")
    sock = connect(server)
    try:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return read_head(sock)
    finally:
        sock.close()


def test_the_websocket_refuses_a_foreign_origin_at_the_real_server(chat_server):
    with closing(logged_in(chat_server)) as client:
        cookie = client.cookies["sessionid"]
    # The same handshake from the site's own page is accepted: the origin alone decides below.
    assert status_of(upgrade(chat_server, chat_server.url, cookie)) == 101
    port = chat_server.port
    for origin in (
        "http://evil.example",
        f"http://evil.example:{port}",
        f"http://localhost:{port}",  # an allowed host, but not this page's origin
        f"http://127.0.0.1:{port + 1}",
        f"https://127.0.0.1:{port}",
        "null",
        None,
    ):
        head = upgrade(chat_server, origin, cookie)
        assert status_of(head) != 101, f"{origin!r} was let in"
        assert status_of(head) == 403, head
    # And the page's own origin without a session is refused as well.
    assert status_of(upgrade(chat_server, chat_server.url, None)) != 101


def test_an_oversized_message_gets_its_reason_and_a_close_code_never_a_dropped_socket(chat_server):
    with closing(logged_in(chat_server)) as client:
        cookie = client.cookies["sessionid"]
    opening = {"origin": chat_server.url, "cookie": f"sessionid={cookie}"}
    # Over CHAT_MAX_FRAME_BYTES: chatsite says why in an error frame, then closes with 4009.
    ws = WebSocket.open(chat_server.port, **opening)
    try:
        ws.send_json({"type": "send", "text": "x" * 100_000})
        assert "too large" in ws.recv_json(10)["error"]
        with pytest.raises(Closed) as closed:
            ws.recv_json(10)
        assert closed.value.code == 4009
    finally:
        ws.close()
    # Far over it (900 KiB): the server's own limit refuses it with the protocol's 1009 and a
    # reason, where the socket used to be dropped without a word (1006).
    ws = WebSocket.open(chat_server.port, **opening)
    try:
        ws.send_json({"type": "send", "text": "x" * (900 * 1024)})
        with pytest.raises(Closed) as closed:
            ws.recv_json(10)
        assert closed.value.code == 1009 and b"exceeds payload limit" in closed.value.reason
    finally:
        ws.close()


def test_the_import_page_alone_takes_a_body_larger_than_an_upload(chat_server):
    # A 15 MB data export reaches the import page (which reads it and says what it is); the
    # same body anywhere else is refused by the server before it is read.
    client = logged_in(chat_server)
    headers = {"X-CSRFToken": client.cookies["csrftoken"], "Origin": chat_server.url}
    export = b'{"not": "an export"}' + b" " * (15 * MB)
    imported = client.post(
        "/data/", files={"file": ("conversations.json", export, "application/json")}, headers=headers
    )
    assert imported.status_code == 400 and "too large" not in imported.text
    assert "form-error" in imported.text  # the page's own message about the file
    uploaded = client.post("/uploads/", files={"file": ("big.json", export, "application/json")}, headers=headers)
    assert uploaded.status_code == 413 and "too large" in uploaded.text
