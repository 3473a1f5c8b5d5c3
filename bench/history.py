#!/usr/bin/env python
"""How fast a conversation opens: one of 50 messages against one of 5,000.

    .venv/bin/python bench/history.py              # 20 runs each (about a minute)

Starts chatsite as `manage.py serve` on a temporary DATA_DIR (SQLite, or PostgreSQL when
DATABASE_URL is set, as the tests' ChatServer does), makes alice's two conversations, then
alternately opens each: the server's time to answer GET /c/<id>/ (with httpx, logged in), and
the browser's time from navigation to the last message shown (Debian's Chromium through
Playwright). Prints the medians and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--long", type=int, default=5000, help="messages of the long conversation")
    args = parser.parse_args()

    import django
    import httpx
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS, log_in
    from tests.server import ChatServer

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    django.setup()  # tests.test_history imports the models (the seeding runs in the server's own shell)
    from tests.test_history import seed_conversation
    from tests.upstream import Upstream

    with Upstream() as upstream, ChatServer(upstream.base_url, upstream) as server:
        short = seed_conversation(server, "alice", 25)
        long = seed_conversation(server, "alice", args.long // 2)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = browser.new_context(base_url=server.url)
            page = context.new_page()
            log_in(page)
            cookies = {c["name"]: c["value"] for c in context.cookies()}
            http = httpx.Client(base_url=server.url, cookies=cookies)
            timings: dict[str, dict[str, list[float]]] = {
                name: {"server": [], "browser": []} for name in ("50", "long")
            }
            for run in range(args.runs + 2):
                for name, code in (("50", short), ("long", long)):
                    began = time.perf_counter()
                    answer = http.get(f"/c/{code}/")
                    served = time.perf_counter() - began
                    assert answer.status_code == 200
                    began = time.perf_counter()
                    page.goto(f"/c/{code}/")
                    page.locator("#messages article").last.wait_for()
                    shown = time.perf_counter() - began
                    if run >= 2:  # two warm-up runs
                        timings[name]["server"].append(served)
                        timings[name]["browser"].append(shown)
            browser.close()
    for where in ("server", "browser"):
        short_ms = statistics.median(timings["50"][where]) * 1000
        long_ms = statistics.median(timings["long"][where]) * 1000
        ratio = long_ms / short_ms
        print(f"{where:8s} 50 messages {short_ms:7.1f} ms   {args.long} messages {long_ms:7.1f} ms   x{ratio:.2f}")


if __name__ == "__main__":
    main()
