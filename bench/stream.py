#!/usr/bin/env python
"""Streaming benchmark: chatsite's relay against the same upstream reached directly.

    .venv/bin/python bench/stream.py                     # the full run (about 5 minutes)
    .venv/bin/python bench/stream.py --users 20          # a quick one
    .venv/bin/python bench/stream.py --commit OLD --new-chat post     # an older commit, as its page did
    .venv/bin/python bench/stream.py --database-url postgresql://postgres@127.0.0.1:5432/postgres \
        --redis-url redis://127.0.0.1:6379/0             # on PostgreSQL + Redis (one process)
    .venv/bin/python bench/stream.py --database-url … --redis-url … --processes 2 --nginx \
        --users 1000 --interval 0.1 --quick-logins --phases 3,4    # the scale issue's run

It starts three things on 127.0.0.1 only and stops them all at the end (or on Ctrl-C):

* the loopback upstream of tests/upstream.py, in its own process, extended here to read its
  script from the prompt ("bench <tag> <tokens> <delay>"), to send tokens "t0 ", "t1 ", ... and
  to note the moment it writes each token (CLOCK_MONOTONIC, which every process shares);
* chatsite, as `manage.py serve` (daphne, SQLite, in-memory channel layer) in a fresh DATA_DIR,
  with the upstream as its only provider; or, with --processes N, N daphne processes started
  by deploy/chatsite@.service's own command (PostgreSQL + Redis), and with --nginx, Debian's
  nginx running deploy/nginx.conf (TLS) in front of them, which the load generator then uses;
* the load generator: this process, one asyncio loop, real HTTP logins and real websockets.

Then it measures, through chatsite and straight from the upstream with httpx, driving the
page's real paths (a new chat as the page makes it, a follow-up in it), each user with its own
login and socket:
  1. added time to first token for one idle user, a new chat and a follow-up (median of --runs
     alternating runs);
  2. one stream of --fast-tokens tokens sent as fast as the upstream can: tokens/s;
  3. --users users starting a new chat at once, --tokens tokens --interval apart: answers
     complete, tokens lost or doubled, time to first token p50/p99, the slowest answer,
     per-token lateness p50/p99 (client arrival minus the upstream's own write time of that
     token), server CPU per relayed token and the server's peak RSS;
  4. the same users sending a follow-up in those chats at once: the same figures.
See docs/benchmark.md for the method and the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import math
import os
import re
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROMPT = re.compile(r"^bench (\S+) (\d+) ([0-9.]+)$")
PASSWORD = "bench-Password-4711"
MODEL = "test/model-a"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# The turn-pipeline issue's targets (figures against the upstream reached directly, same run).
TARGETS = {
    "new_chat_added_ms": 5.0,
    "follow_up_added_ms": 3.0,
    "fast_ratio": 0.8,
    "added_ttft_p99_s": 0.25,
    "slowest_ratio": 1.1,
    "new_cpu_us_per_token": 60.0,
    "follow_cpu_us_per_token": 40.0,
    "peak_rss_mb": 150.0,
}
# The deployment issue's, for 1,000 users over several processes behind nginx (--processes > 1).
SCALE_TARGETS = {"added_ttft_p99_s": 1.0, "slowest_ratio": 1.3}


def token_text(i: int) -> str:
    return f"t{i} "


def expected_text(n: int) -> str:
    return "".join(token_text(i) for i in range(n))


# ---------------------------------------------------------------------------------------------
# The upstream process
# ---------------------------------------------------------------------------------------------


def run_upstream(max_seconds: float) -> None:
    """tests.upstream.Upstream, scripted by the prompt and noting when it writes each token,
    through its public hooks (a scripter, a token callback, a route)."""
    sys.path.insert(0, str(ROOT))
    from tests import upstream as up

    times: dict[str, list[float]] = {}
    tokens_cache: dict[int, list[str]] = {}

    def scripter(body: dict) -> up.Script | None:
        messages = body.get("messages") or [{}]
        prompt = messages[-1].get("content") if isinstance(messages[-1], dict) else None
        match = PROMPT.match(prompt) if isinstance(prompt, str) else None
        if not match:
            return None
        tag, count, delay = match.group(1), int(match.group(2)), float(match.group(3))
        if count not in tokens_cache:
            tokens_cache[count] = [token_text(i) for i in range(count)]
        written = times[tag] = []
        return up.Script(tokens=tokens_cache[count], delay=delay, on_token=lambda i: written.append(time.monotonic()))

    def take_times() -> dict[str, list[float]]:
        taken = dict(times)
        times.clear()
        return taken

    server = up.Upstream(scripter=scripter, routes={"/bench/times": take_times}).start()
    print(f"PORT {server.port}", flush=True)
    deadline = time.monotonic() + max_seconds
    parent = os.getppid()
    try:
        while time.monotonic() < deadline and os.getppid() == parent:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM if the benchmark process dies (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Processes:
    """Every child started here, stopped in reverse order by its own pid."""

    def __init__(self) -> None:
        self.children: list[subprocess.Popen] = []

    def start(self, argv: list[str], **kw) -> subprocess.Popen:
        child = subprocess.Popen(argv, start_new_session=True, preexec_fn=_die_with_parent, **kw)
        self.children.append(child)
        return child

    def stop_all(self) -> None:
        for child in reversed(self.children):
            if child.poll() is None:
                child.terminate()
        for child in reversed(self.children):
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=5)
        self.children.clear()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_port(child: subprocess.Popen, timeout: float) -> int:
    selector = selectors.DefaultSelector()
    selector.register(child.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or child.poll() is not None or not selector.select(left):
            raise RuntimeError("the upstream did not start")
        byte = os.read(child.stdout.fileno(), 1)
        if not byte:
            raise RuntimeError("the upstream did not start")
        line += byte
    selector.close()
    return int(line.split()[1])


def cpu_seconds(pid: int) -> float:
    """utime+stime of pid and its descendants (all threads), in seconds."""
    children: dict[int, list[int]] = {}
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ppid = int(fields[1])
        stats[int(entry)] = (ppid, (int(fields[11]) + int(fields[12])) / CLK_TCK)
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        if current in stats:
            total += stats[current][1]
        todo.extend(children.get(current, []))
    return total


def system_cpu_seconds(pid: int) -> float:
    """stime alone of the process (all threads): the kernel's share, e.g. socket sends."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return int(fields[12]) / CLK_TCK


def thread_cpu_seconds(pid: int) -> float:
    """utime+stime of the process's main thread alone (the event loop, for daphne)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def redis_pid(url: str) -> int | None:
    """The local redis-server's pid when the URL is on loopback (its CPU is counted)."""
    from urllib.parse import urlsplit

    if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
        return None
    found = subprocess.run(["pgrep", "-x", "redis-server"], capture_output=True, text=True)
    pids = [int(p) for p in found.stdout.split()]
    return pids[0] if len(pids) == 1 else None


def redis_commands(url: str) -> int:
    """Commands Redis has run since it started (INFO commandstats), all kinds together."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        return sum(stat["calls"] for stat in client.info("commandstats").values())
    finally:
        client.close()


def machine_busy_seconds() -> float:
    """CPU time spent by the whole machine (all cores, all processes), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLK_TCK


def status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile; nan for an empty list."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class Answer:
    """One answer as the client saw it: (arrival, text) of every piece, and how it ended."""

    tag: str
    tokens: int
    t_start: float = 0.0
    pieces: list[tuple[float, str]] = field(default_factory=list)
    status: str = "missing"  # complete / stopped / error / interrupted / timeout / missing
    final: str | None = None  # the done frame's text (chatsite only)
    seq_gaps: int = 0
    error: str = ""
    conversation: str | None = None  # chatsite's conversation it streamed in

    @property
    def duration(self) -> float | None:
        """From the start to the last token."""
        return self.pieces[-1][0] - self.t_start if self.pieces else None

    @property
    def text(self) -> str:
        return "".join(text for _, text in self.pieces)

    @property
    def ttft(self) -> float | None:
        return self.pieces[0][0] - self.t_start if self.pieces else None

    @property
    def t_last(self) -> float | None:
        return self.pieces[-1][0] if self.pieces else None

    def token_arrivals(self) -> list[float]:
        """Arrival time of token i at index i (every token ends with one space)."""
        out: list[float] = []
        for arrival, text in self.pieces:
            out.extend([arrival] * text.count(" "))
        return out

    def lost_doubled(self) -> tuple[int, int]:
        got = Counter(self.text.split())
        want = Counter(token_text(i).strip() for i in range(self.tokens))
        lost = sum((want - got).values())
        doubled = sum((got - want).values())
        return lost, doubled

    def exact(self) -> bool:
        text = self.text
        return text == expected_text(self.tokens) and (self.final is None or self.final == text)


def request_body(prompt: str) -> dict:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def direct_answer(
    client, base_url: str, tag: str, tokens: int, delay: float, timeout: float, after: float = 0.0
) -> Answer:
    """Stream one answer straight from the upstream with httpx (starting `after` seconds from now)."""
    answer = Answer(tag, tokens)
    if after:
        await asyncio.sleep(after)
    loads, now = json.loads, time.monotonic
    try:
        async with asyncio.timeout(timeout):
            answer.t_start = now()
            body = request_body(f"bench {tag} {tokens} {delay}")
            async with client.stream("POST", f"{base_url}/chat/completions", json=body) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: {"):
                        choices = loads(line[6:]).get("choices")
                        if choices and (content := choices[0]["delta"].get("content")):
                            answer.pieces.append((now(), content))
                    elif line == "data: [DONE]":
                        answer.status = "complete"
    except TimeoutError:
        answer.status = "timeout"
    except Exception as exc:  # noqa: BLE001 - reported, not raised: one failed stream is a figure
        answer.status, answer.error = "error", repr(exc)
    return answer


class Site:
    """chatsite as a browser sees it: a login, a websocket, new chats and follow-ups made the
    way the page makes them (new_chat "frame": one `send` without a conversation, as chat.js
    does now; "post": `POST /c/new/`, `subscribe`, then `send`, as it did before)."""

    def __init__(self, port: int, http, new_chat: str, tls: bool = False) -> None:
        scheme = "https" if tls else "http"
        self.origin = f"{scheme}://127.0.0.1:{port}"
        self.ws_url = f"{'wss' if tls else 'ws'}://127.0.0.1:{port}/ws/chat/"
        self.http = http  # one pooled httpx.AsyncClient, as a browser keeps its connections
        self.new_chat = new_chat
        self.ssl = None
        if tls:  # nginx's self-signed certificate, on loopback
            import ssl

            self.ssl = ssl.create_default_context()
            self.ssl.check_hostname = False
            self.ssl.verify_mode = ssl.CERT_NONE

    async def login(self, username: str) -> str:
        """A real login; returns the Cookie header."""
        import httpx

        login_url = f"{self.origin}/accounts/login/"
        async with httpx.AsyncClient(timeout=120, follow_redirects=False, verify=False) as http:
            page = await http.get(login_url)
            page.raise_for_status()
            found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
            token = found.group(1) if found else http.cookies["csrftoken"]
            form = {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token}
            done = await http.post(login_url, data=form, headers={"Referer": login_url})
            if done.status_code != 302 or "sessionid" not in http.cookies:
                raise RuntimeError(f"login of {username} failed: HTTP {done.status_code}")
            return f"sessionid={http.cookies['sessionid']}; csrftoken={http.cookies['csrftoken']}"

    async def connect(self, cookie: str):
        from websockets.asyncio.client import connect

        ws = await connect(
            self.ws_url,
            origin=self.origin,
            additional_headers={"Cookie": cookie},
            max_size=16 * 1024 * 1024,
            ssl=self.ssl,
            ping_interval=None,  # the server pings every 20 s; the client answers
            open_timeout=60,
            close_timeout=2,
        )
        ws.cookie = cookie
        return ws

    async def create(self, cookie: str) -> str:
        """POST /c/new/, as the page did before a new chat could be one frame."""
        csrf = re.search(r"csrftoken=([^;]+)", cookie).group(1)
        created = await self.http.post(
            f"{self.origin}/c/new/",
            json={},
            headers={"Cookie": cookie, "X-CSRFToken": csrf, "Referer": f"{self.origin}/"},
        )
        if created.status_code != 201:
            raise RuntimeError(f"POST /c/new/ failed: HTTP {created.status_code} {created.text[:200]}")
        return created.json()["id"]


async def site_answer(
    site: Site, ws, conversation: str | None, tag: str, tokens: int, delay: float, timeout: float, after: float = 0.0
) -> Answer:
    """One answer over the socket (`after` seconds from now), read until its `done`: a follow-up
    in `conversation`, or a new chat made as the page makes it (conversation None; the answer's
    `conversation` then names the one made). Time to first token counts from the first thing
    the page does (the POST, or the frame)."""
    answer = Answer(tag, tokens)
    if after:
        await asyncio.sleep(after)
    loads, now = json.loads, time.monotonic
    text = f"bench {tag} {tokens} {delay}"
    seq = 0
    try:
        async with asyncio.timeout(timeout):
            answer.t_start = now()
            if conversation is None and site.new_chat == "post":
                conversation = await site.create(ws.cookie)
                await ws.send(json.dumps({"type": "subscribe", "conversation": conversation}))
            if conversation is None:
                await ws.send(json.dumps({"type": "send", "text": text, "ref": tag}))
            else:
                await ws.send(json.dumps({"type": "send", "conversation": conversation, "text": text}))
            while True:
                raw = await ws.recv()
                arrival = now()
                event = loads(raw)
                kind = event["type"]
                if kind == "delta":
                    answer.pieces.append((arrival, event["text"]))
                    if event["seq"] != seq + 1:
                        answer.seq_gaps += 1
                    seq = event["seq"]
                elif kind == "created":
                    conversation = event["conversation"]["id"]
                elif kind == "done":
                    answer.status = event["message"]["status"]
                    answer.final = event["message"]["text"]
                    answer.error = event["message"].get("error") or ""
                    break
                elif kind == "error":
                    answer.status, answer.error = "error", event.get("error", "")
                    break
    except TimeoutError:
        answer.status = "timeout"
    except Exception as exc:  # noqa: BLE001 - a dropped socket is a figure, not a crash
        answer.status, answer.error = "error", repr(exc)
    answer.conversation = conversation
    return answer


def lateness(answers: list[Answer], sent: dict[str, list[float]]) -> list[float]:
    """Per token: client arrival minus the upstream's write time of that token (seconds)."""
    out: list[float] = []
    for answer in answers:
        written = sent.get(answer.tag) or []
        for arrival, wrote in zip(answer.token_arrivals(), written, strict=False):
            out.append(arrival - wrote)
    return out


def summarize(answers: list[Answer], sent: dict[str, list[float]]) -> dict:
    ttfts = [a.ttft for a in answers if a.ttft is not None]
    late = lateness(answers, sent)
    lost = doubled = 0
    for answer in answers:
        one_lost, one_doubled = answer.lost_doubled()
        lost += one_lost
        doubled += one_doubled
    return {
        "answers": len(answers),
        "complete": sum(1 for a in answers if a.status == "complete" and a.exact()),
        "statuses": dict(Counter(a.status for a in answers)),
        "lost": lost,
        "doubled": doubled,
        "seq_gaps": sum(a.seq_gaps for a in answers),
        "tokens": sum(len(a.token_arrivals()) for a in answers),
        "pieces": sum(len(a.pieces) for a in answers),
        "ttft_p50": pct(ttfts, 50),
        "ttft_p99": pct(ttfts, 99),
        "slowest_s": max((a.duration for a in answers if a.duration is not None), default=math.nan),
        "late_p50": pct(late, 50),
        "late_p99": pct(late, 99),
        "late_max": max(late) if late else math.nan,
        "errors": sorted({a.error for a in answers if a.error})[:3],
    }


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, procs: Processes) -> None:
        self.args = args
        self.procs = procs
        self.python = sys.executable
        self.root = Path(args.root).resolve() if args.root else ROOT  # the chatsite tree to serve
        self.commit = args.commit
        self.data_dir = Path(tempfile.mkdtemp(prefix="chatsite-bench-"))
        self.results: dict = {"settings": {}}
        self.server_pids: list[int] = []
        self.nginx_pid: int | None = None
        self.redis_pid: int | None = None

    def log(self, text: str) -> None:
        print(text, flush=True)

    # -- setting up ------------------------------------------------------------------------

    def export_commit(self, revision: str) -> Path:
        """`git archive` a commit of this repository into the data directory, to serve it."""
        tree = self.data_dir / "tree"
        tree.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", revision], capture_output=True, timeout=120
        )
        if archive.returncode != 0:
            raise RuntimeError(f"git archive {revision} failed: {archive.stderr.decode(errors='replace')}")
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True, timeout=120)
        return tree

    def start_upstream(self) -> str:
        child = self.procs.start(
            [
                self.python,
                str(Path(__file__).resolve()),
                "--upstream-child",
                "--max-seconds",
                str(self.args.max_seconds),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=open(self.data_dir / "upstream.log", "wb"),  # noqa: SIM115 - the child owns it
        )
        self.upstream_pid = child.pid
        port = read_port(child, 30)
        return f"http://127.0.0.1:{port}/v1"

    def server_env(self, upstream_url: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
        env.update(
            DATA_DIR=str(self.data_dir / "data"),
            LOCAL_MODEL="0",
            DEBUG="0",
            OPENAI_BASE_URL=upstream_url,
            OPENAI_API_KEY="bench",
            OPENAI_MODEL=MODEL,
            LOG_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
            # One bench user sends dozens of messages a minute in phase 1: not what the cap is for.
            CHAT_MESSAGES_PER_MINUTE="0",
        )
        engines = ["SQLite", "in-memory channel layer"]
        if self.args.database_url:
            from urllib.parse import urlsplit

            self.pg_name = f"chatsite_bench_{os.getpid()}"
            self.pg_url = self.args.database_url
            self.pg_execute(f'DROP DATABASE IF EXISTS "{self.pg_name}"', f'CREATE DATABASE "{self.pg_name}"')
            env["DATABASE_URL"] = urlsplit(self.args.database_url)._replace(path=f"/{self.pg_name}").geturl()
            engines[0] = "PostgreSQL"
        if self.args.redis_url:
            env["REDIS_URL"] = self.args.redis_url
            engines[1] = "Redis"
        self.results["engines"] = " + ".join(engines)
        for item in self.args.server_env:
            name, _, value = item.partition("=")
            env[name] = value
        if self.args.coalesce_ms is not None:
            env["STREAM_COALESCE_MS"] = str(self.args.coalesce_ms)
        if self.args.flush_seconds is not None:
            env["STREAM_FLUSH_SECONDS"] = str(self.args.flush_seconds)
        self.results["settings"] = {
            "STREAM_COALESCE_MS": env.get("STREAM_COALESCE_MS", "20 (default)"),
            "STREAM_FRAME_RATE": env.get("STREAM_FRAME_RATE", "1300 (default)"),
            "STREAM_COALESCE_MAX_MS": env.get("STREAM_COALESCE_MAX_MS", "200 (default)"),
            "STREAM_FLUSH_SECONDS": env.get("STREAM_FLUSH_SECONDS", "0.5 (default)"),
            **{item.partition("=")[0]: item.partition("=")[2] for item in self.args.server_env},
        }
        return env

    def manage(self, env: dict[str, str], *argv: str, timeout: float = 300) -> None:
        result = subprocess.run(
            [self.python, "manage.py", *argv],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=_die_with_parent,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {argv[0]} failed:\n{result.stdout}\n{result.stderr}")

    def create_users(self, env: dict[str, str], count: int) -> list[str]:
        names = [f"bench{i:04d}" for i in range(count)]
        # One PBKDF2 hash (half a second) shared by every bench user rather than one each.
        script = (
            "from django.contrib.auth import get_user_model\n"
            "User = get_user_model()\n"
            f"names = {names!r}\n"
            f"first = User.objects.create_user(names[0], password={PASSWORD!r})\n"
            "User.objects.bulk_create([User(username=n, password=first.password) for n in names[1:]])\n"
        )
        self.manage(env, "shell", "-c", script)
        return names

    def make_teams(self, env: dict[str, str], names: list[str]) -> None:
        """Access rules and budgets on every turn: the model allowed to one team of all the users,
        large budgets for each user and for the team (so every check runs and none refuses)."""
        script = (
            "from django.contrib.auth import get_user_model\n"
            "from django.contrib.auth.models import Group\n"
            "from chatsite.providers.models import LanguageModel\n"
            "from chatsite.teams.models import Budget, Team\n"
            "group = Group.objects.create(name='Bench')\n"
            "team = Team.objects.create(group=group)\n"
            f"users = list(get_user_model().objects.filter(username__in={names!r}))\n"
            "group.user_set.add(*users)\n"
            f"team.allowed_models.add(*LanguageModel.objects.filter(name={MODEL!r}))\n"
            "budgets = [Budget(user=u, tokens_per_day=10**9, messages_per_minute=10**6) for u in users]\n"
            "Budget.objects.bulk_create(budgets)\n"
            "Budget.objects.create(team=team, tokens_per_month=10**12, cost_per_month=10**6)\n"
            "from chatsite.teams.access import changed; changed()\n"
        )
        self.manage(env, "shell", "-c", script)

    def start_servers(self, env: dict[str, str]) -> int:
        """chatsite as `manage.py serve`, or --processes daphne instances started by the command
        of deploy/chatsite@.service behind nginx running deploy/nginx.conf (--nginx); returns
        the port the load generator uses."""
        if self.args.redis_url:
            self.redis_pid = redis_pid(self.args.redis_url)
        if not self.args.nginx:
            port = free_port()
            child = self.procs.start(
                [self.python, "manage.py", "serve", "--port", str(port)],
                cwd=self.root,
                env=env,
                stdout=open(self.data_dir / "serve.log", "wb"),  # noqa: SIM115 - the child owns it
                stderr=subprocess.STDOUT,
            )
            self.server_pids = [child.pid]
            self.wait_ready(child, f"http://127.0.0.1:{port}/accounts/login/", "serve.log")
            return port
        from tests.deployment import start_nginx, unit

        https_port, http_port = free_port(), free_port()
        env = {**env, "HTTPS": "1", "TRUSTED_PROXIES": "1", "CSRF_TRUSTED_ORIGINS": f"https://127.0.0.1:{https_port}"}
        ports = []
        for instance in range(1, self.args.processes + 1):  # one after the other, as systemd would
            port = free_port()
            argv, environment = unit(instance, port, free_port())
            log = f"chatsite{instance}.log"
            child = self.procs.start(
                argv,
                cwd=self.root,
                env={**env, **environment},
                stdout=open(self.data_dir / log, "wb"),  # noqa: SIM115 - the child owns it
                stderr=subprocess.STDOUT,
            )
            self.wait_ready(child, f"http://127.0.0.1:{port}/healthz", log)
            ports.append(port)
            self.server_pids.append(child.pid)
        nginx = start_nginx(
            self.data_dir, ports, https_port, http_port, start_new_session=True, preexec_fn=_die_with_parent
        )
        self.procs.children.append(nginx)
        self.nginx_pid = nginx.pid
        self.results["engines"] += f", {len(ports)} daphne processes behind nginx (TLS)"
        return https_port

    def wait_ready(self, child: subprocess.Popen, url: str, log: str) -> None:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            if child.poll() is not None:
                raise RuntimeError(f"chatsite exited; see {self.data_dir / log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"chatsite did not start within 60 s; see {self.data_dir / log}")
            time.sleep(0.2)

    def mint_sessions(self, env: dict[str, str], names: list[str]) -> list[str]:
        """--quick-logins: a session per user made on the server, as a login makes it, without
        checking a thousand password hashes (half a second of CPU each) before the run."""
        script = (
            "from importlib import import_module\n"
            "from django.conf import settings\n"
            "from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model\n"
            "from django.middleware.csrf import _get_new_csrf_string\n"
            "Store = import_module(settings.SESSION_ENGINE).SessionStore\n"
            f"users = get_user_model().objects.in_bulk({names!r}, field_name='username')\n"
            f"for name in {names!r}:\n"
            "    user, store = users[name], Store()\n"
            "    store[SESSION_KEY] = str(user.pk)\n"
            "    store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]\n"
            "    store[HASH_SESSION_KEY] = user.get_session_auth_hash()\n"
            "    store.create()\n"
            "    print(f'sessionid={store.session_key}; csrftoken={_get_new_csrf_string()}')\n"
        )
        result = subprocess.run(
            [self.python, "manage.py", "shell", "-c", script],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            preexec_fn=_die_with_parent,
        )
        if result.returncode != 0:
            raise RuntimeError(f"making sessions failed:\n{result.stderr}")
        cookies = [line for line in result.stdout.splitlines() if line.startswith("sessionid=")]
        if len(cookies) != len(names):
            raise RuntimeError(f"made {len(cookies)} sessions for {len(names)} users")
        return cookies

    # -- phases ----------------------------------------------------------------------------

    async def quiet(self) -> None:
        """Wait (up to --wait-quiet seconds) until the rest of the machine uses under 0.3 core."""
        deadline = time.monotonic() + self.args.wait_quiet
        while True:
            busy0, ours0 = machine_busy_seconds(), self.our_cpu()
            await asyncio.sleep(1.0)
            other = machine_busy_seconds() - busy0 - (self.our_cpu() - ours0)
            if other < 0.3:
                return
            if time.monotonic() > deadline:
                self.log(f"  (the machine is busy: other processes use {other:.1f} cores; going on)")
                return
            self.log(f"  (waiting: other processes use {other:.1f} cores)")

    def our_cpu(self) -> float:
        ours = [*self.server_pids, self.upstream_pid, *([self.nginx_pid] if self.nginx_pid else [])]
        return sum(cpu_seconds(pid) for pid in ours) + time.process_time()

    def servers(self, measure) -> float:
        return sum(measure(pid) for pid in self.server_pids)

    async def fetch_times(self) -> dict[str, list[float]]:
        response = await self.http.get(self.upstream_url.removesuffix("/v1") + "/bench/times")
        return response.json()

    async def phase_ttft(self, site: Site, cookie: str) -> None:
        """Alternately: the upstream directly, a new chat as the page makes it, a follow-up in it."""
        args = self.args
        ws = await site.connect(cookie)
        direct, new, follow = [], [], []
        profiler = self.start_profiler(1)
        try:
            for run in range(args.runs + 2):  # two warm-up runs each, not counted
                d = await direct_answer(self.http, self.upstream_url, f"p1d{run}", 10, 0.0, 30)
                await asyncio.sleep(0.05)
                n = await site_answer(site, ws, None, f"p1n{run}", 10, 0.0, 30)
                await asyncio.sleep(0.05)
                f = await site_answer(site, ws, n.conversation, f"p1f{run}", 10, 0.0, 30)
                await asyncio.sleep(0.05)
                if run >= 2:
                    direct.append(d)
                    new.append(n)
                    follow.append(f)
        finally:
            self.stop_profiler(profiler)
            await ws.close()
        bad = [a for a in direct + new + follow if a.status != "complete" or not a.exact()]

        def median_ms(answers: list[Answer]) -> float:
            return statistics.median(a.ttft for a in answers if a.ttft is not None) * 1000

        d_ms, n_ms, f_ms = median_ms(direct), median_ms(new), median_ms(follow)
        self.results["ttft"] = {
            "direct_ms": d_ms,
            "new_chat_ms": n_ms,
            "follow_up_ms": f_ms,
            "new_chat_added_ms": n_ms - d_ms,
            "follow_up_added_ms": f_ms - d_ms,
            "bad": len(bad),
        }
        self.log(
            f"  direct {d_ms:.2f} ms; new chat {n_ms:.2f} ms (+{n_ms - d_ms:.2f}); "
            f"follow-up {f_ms:.2f} ms (+{f_ms - d_ms:.2f}) ({len(bad)} bad)"
        )

    async def phase_fast(self, site: Site, cookie: str) -> None:
        args = self.args
        n = args.fast_tokens
        ws = await site.connect(cookie)
        first = await site_answer(site, ws, None, "p2w", 5, 0.0, 60)  # the conversation it streams in
        direct_rates, site_rates, bad, frames = [], [], 0, []
        profiler = self.start_profiler(2)
        try:
            for run in range(args.fast_runs):
                d = await direct_answer(self.http, self.upstream_url, f"p2d{run}", n, 0.0, 120)
                s = await site_answer(site, ws, first.conversation, f"p2s{run}", n, 0.0, 120)
                for a in (d, s):
                    bad += a.status != "complete" or not a.exact()
                if d.t_last and s.t_last:
                    direct_rates.append(n / (d.t_last - d.t_start))
                    site_rates.append(n / (s.t_last - s.t_start))
                    frames.append(len(s.pieces))
                await asyncio.sleep(0.2)
        finally:
            self.stop_profiler(profiler)
            await ws.close()
        d_rate, s_rate = statistics.median(direct_rates), statistics.median(site_rates)
        self.results["fast"] = {
            "tokens": n,
            "direct_tps": d_rate,
            "chatsite_tps": s_rate,
            "ratio": s_rate / d_rate,
            "frames": statistics.median(frames),
            "bad": bad,
        }
        self.log(
            f"  direct {d_rate:,.0f} tok/s, chatsite {s_rate:,.0f} tok/s ({s_rate / d_rate:.2f} of direct, "
            f"{statistics.median(frames):.0f} frames, {bad} bad)"
        )

    def start_after(self, user: int) -> float:
        """With --ramp, the users' sends are spread evenly over that many seconds."""
        return self.args.ramp * user / self.args.users

    async def phase_load_direct(self, key: str) -> None:
        args = self.args
        timeout = args.tokens * args.interval + args.ramp + 120
        await self.quiet()
        client_cpu0 = time.process_time()
        answers = await asyncio.gather(
            *(
                direct_answer(
                    self.http, self.upstream_url, f"{key}d{i}", args.tokens, args.interval, timeout, self.start_after(i)
                )
                for i in range(args.users)
            )
        )
        client_cpu = time.process_time() - client_cpu0
        summary = summarize(list(answers), await self.fetch_times())
        # What merely reading these streams with httpx costs (this process): a floor for the server.
        summary["client_cpu_s"] = client_cpu
        summary["client_cpu_us_per_token"] = client_cpu / summary["tokens"] * 1e6 if summary["tokens"] else math.nan
        self.results[f"{key}_direct"] = summary
        self.log(f"  direct: {fmt_load(summary)}")
        self.log(f"  the httpx client used {client_cpu:.2f} s = {summary['client_cpu_us_per_token']:.1f} µs/token")

    async def phase_load_site(self, site: Site, sockets: list, conversations: list[str | None], key: str) -> list:
        """Every user at once: a new chat each (conversations all None) or a follow-up each."""
        args = self.args
        await asyncio.sleep(1.0)  # let the sockets settle: the server is idle from here
        await self.quiet()
        timeout = args.tokens * args.interval + args.ramp + 120
        upstream_cpu0, client_cpu0 = cpu_seconds(self.upstream_pid), time.process_time()
        busy0 = machine_busy_seconds()
        wall0, cpu0 = time.monotonic(), self.servers(cpu_seconds)
        loop_cpu0, sys_cpu0 = self.servers(thread_cpu_seconds), self.servers(system_cpu_seconds)
        nginx_cpu0 = cpu_seconds(self.nginx_pid) if self.nginx_pid else 0.0
        redis_cpu0 = cpu_seconds(self.redis_pid) if self.redis_pid else 0.0
        redis_calls0 = redis_commands(self.args.redis_url) if self.args.redis_url else 0
        profiler = self.start_profiler(3 if key == "new" else 4)
        answers = await asyncio.gather(
            *(
                site_answer(site, ws, conv, f"{key}s{i}", args.tokens, args.interval, timeout, self.start_after(i))
                for i, (ws, conv) in enumerate(zip(sockets, conversations, strict=True))
            )
        )
        cpu1, wall1 = self.servers(cpu_seconds), time.monotonic()
        loop_cpu = self.servers(thread_cpu_seconds) - loop_cpu0
        sys_cpu = self.servers(system_cpu_seconds) - sys_cpu0
        nginx_cpu = cpu_seconds(self.nginx_pid) - nginx_cpu0 if self.nginx_pid else 0.0
        redis_cpu = cpu_seconds(self.redis_pid) - redis_cpu0 if self.redis_pid else math.nan
        redis_calls = redis_commands(self.args.redis_url) - redis_calls0 if self.args.redis_url else 0
        busy = machine_busy_seconds() - busy0
        upstream_cpu = cpu_seconds(self.upstream_pid) - upstream_cpu0
        client_cpu = time.process_time() - client_cpu0
        self.stop_profiler(profiler)
        summary = summarize(list(answers), await self.fetch_times())
        cpu = cpu1 - cpu0
        frames = sum(len(a.pieces) for a in answers)
        summary.update(
            frames=frames,
            nginx_cpu_s=nginx_cpu,
            redis_cpu_s=redis_cpu,
            redis_commands=redis_calls,
            redis_us_per_frame=redis_cpu / frames * 1e6 if frames else math.nan,
            redis_commands_per_frame=redis_calls / frames if frames else math.nan,
            server_cpu_s=cpu,
            wall_s=wall1 - wall0,
            cpu_us_per_token=cpu / summary["tokens"] * 1e6 if summary["tokens"] else math.nan,
            server_loop_cpu_s=loop_cpu,  # the event loop thread; the rest is the database thread(s)
            server_system_cpu_s=sys_cpu,  # in the kernel (on loopback it includes delivering to the client)
            upstream_cpu_s=upstream_cpu,
            client_cpu_s=client_cpu,
            # Everything else on the machine meanwhile (other people's tests...): it skews the figures.
            other_cpu_s=max(
                0.0, busy - cpu - upstream_cpu - client_cpu - nginx_cpu - (redis_cpu if self.redis_pid else 0)
            ),
            # The largest process's (one line per process in the log).
            peak_rss_mb=max(status_kb(pid, "VmHWM") for pid in self.server_pids) / 1024,
            rss_mb=max(status_kb(pid, "VmRSS") for pid in self.server_pids) / 1024,
            peak_rss_mb_each=[status_kb(pid, "VmHWM") / 1024 for pid in self.server_pids],
        )
        self.results[f"{key}_site"] = summary
        self.log(f"  chatsite: {fmt_load(summary)}")
        self.log(
            f"  server CPU {cpu:.2f} s ({loop_cpu:.2f} s event loop thread, {cpu - loop_cpu:.2f} s other threads; "
            f"{sys_cpu:.2f} s in the kernel) "
            f"over {summary['wall_s']:.2f} s = {summary['cpu_us_per_token']:.1f} µs/token; "
            f"upstream {upstream_cpu:.2f} s, client {client_cpu:.2f} s, "
            f"other processes {summary['other_cpu_s']:.2f} s; "
            f"peak RSS {' + '.join(f'{mb:.0f}' for mb in summary['peak_rss_mb_each'])} MB"
        )
        if self.nginx_pid or self.args.redis_url:
            self.log(
                f"  {frames} frames to the browsers; nginx CPU {nginx_cpu:.2f} s; Redis CPU {redis_cpu:.2f} s = "
                f"{summary['redis_us_per_frame']:.1f} µs/frame, {redis_calls} commands = "
                f"{summary['redis_commands_per_frame']:.2f}/frame"
            )
        return list(answers)

    def start_profiler(self, phase: int) -> subprocess.Popen | None:
        if not self.args.profile or self.args.profile_phase != phase:
            return None
        py_spy = shutil.which("py-spy", path=str(Path(self.python).parent)) or shutil.which("py-spy")
        if not py_spy:
            self.log("  (py-spy not found: no profile)")
            return None
        duration = int(self.args.tokens * self.args.interval + 60) if phase in (3, 4) else 600
        return self.procs.start(
            [py_spy, "record", "--nonblocking", "--threads", "--format", "raw", "--rate", "200",
             "--duration", str(duration), "-o", self.args.profile, "-p", str(self.server_pids[0])],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def stop_profiler(self, profiler: subprocess.Popen | None) -> None:
        if profiler is not None and profiler.poll() is None:
            profiler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            with contextlib.suppress(subprocess.TimeoutExpired):
                profiler.wait(timeout=30)
            self.log(f"  profile written to {self.args.profile}")

    async def login_all(self, site: Site, names: list[str]) -> list[str]:
        # Each login checks a PBKDF2 hash (about 0.5 s of server CPU): a few at a time.
        limit = asyncio.Semaphore(4)
        done = 0

        async def one(name: str) -> str:
            nonlocal done
            async with limit:
                result = await site.login(name)
            done += 1
            if done % 50 == 0:
                self.log(f"  {done} logged in")
            return result

        return list(await asyncio.gather(*(one(name) for name in names)))

    async def run(self) -> None:
        import httpx

        args = self.args
        if self.commit:
            self.root = self.export_commit(self.commit)
            short = subprocess.run(
                ["git", "-C", str(ROOT), "rev-parse", "--short", self.commit], capture_output=True, text=True
            )
            self.results["code"] = f"commit {short.stdout.strip() or self.commit} (exported)"
        else:
            self.results["code"] = f"{self.root} (git {git_describe(self.root)})"
        self.log(f"Serving {self.results['code']}")
        self.log(f"Data directory {self.data_dir}; load average {open('/proc/loadavg').read().split()[:3]}")
        self.upstream_url = self.start_upstream()
        self.log(f"Upstream {self.upstream_url} (pid {self.upstream_pid})")
        env = self.server_env(self.upstream_url)
        self.log("Migrating, collecting static files, creating users…")
        self.manage(env, "migrate", "--noinput")
        self.manage(env, "collectstatic", "--noinput")
        names = self.create_users(env, max(args.users, 1))
        port = self.start_servers(env)
        if args.teams:
            self.log("Every user in a team the model is allowed to, with budgets for each and for the team…")
            self.make_teams(env, names)
        self.log(f"chatsite on port {port} (pids {self.server_pids}), settings {self.results['settings']}")
        limits = httpx.Limits(max_connections=args.users + 10, max_keepalive_connections=args.users + 10)
        async with httpx.AsyncClient(timeout=httpx.Timeout(60), limits=limits, verify=False) as self.http:
            site = Site(port, self.http, args.new_chat, tls=args.nginx)
            cookie = await site.login(names[0])
            await self.quiet()
            if 1 in args.phases:
                self.log(f"1. Added time to first token, one idle user: new chat and follow-up (median of {args.runs})")
                await self.phase_ttft(site, cookie)
            if 2 in args.phases:
                self.log(f"2. One stream of {args.fast_tokens} tokens at full speed (median of {args.fast_runs})")
                await self.quiet()
                await self.phase_fast(site, cookie)
            if {3, 4} & args.phases:
                when = f"sending over {args.ramp:g} s" if args.ramp else "at once"
                self.log(f"  logging {args.users} users in and opening their sockets…")
                cookies = self.mint_sessions(env, names) if args.quick_logins else await self.login_all(site, names)
                sockets = await asyncio.gather(*(site.connect(c) for c in cookies))
                try:
                    pace = f"{args.tokens} tokens {args.interval * 1000:g} ms apart"
                    self.log(f"3. {args.users} users start a new chat {when}, {pace}")
                    await self.phase_load_direct("new")
                    made = await self.phase_load_site(site, sockets, [None] * len(sockets), "new")
                    if 4 in args.phases:
                        self.log(f"4. The same {args.users} users send a follow-up {when}")
                        await self.phase_load_direct("follow")
                        await self.phase_load_site(site, sockets, [a.conversation for a in made], "follow")
                finally:
                    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)

    def pg_execute(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(self.pg_url, autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)

    def cleanup(self) -> None:
        if getattr(self, "pg_name", None):
            with contextlib.suppress(Exception):
                self.pg_execute(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
        if self.args.keep:
            self.log(f"Kept {self.data_dir}")
        else:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def git_describe(root: Path) -> str:
    """The commit of a checkout, and whether its tree has local changes."""
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return "unknown (not a git checkout)"
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return head.stdout.strip() + (" with local changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def fmt_load(s: dict) -> str:
    return (
        f"{s['complete']}/{s['answers']} complete {s['statuses']}, lost {s['lost']}, doubled {s['doubled']}, "
        f"seq gaps {s['seq_gaps']}, {s['tokens']} tokens in {s['pieces']} pieces; TTFT p50 {fmt_ms(s['ttft_p50'])} "
        f"p99 {fmt_ms(s['ttft_p99'])}; lateness p50 {fmt_ms(s['late_p50'])} p99 {fmt_ms(s['late_p99'])} "
        f"max {fmt_ms(s['late_max'])}" + (f"; errors {s['errors']}" if s["errors"] else "")
    )


def report(results: dict, args: argparse.Namespace) -> None:
    def mark(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    targets = {**TARGETS, **(SCALE_TARGETS if args.processes > 1 else {})}
    rows: list[tuple[str, str, str, str, str]] = []
    if "ttft" in results:
        t = results["ttft"]
        for what, key in (("new chat", "new_chat"), ("follow-up", "follow_up")):
            target = TARGETS[f"{key}_added_ms"]
            rows.append(
                (
                    f"added time to first token, idle: {what}",
                    f"{t[f'{key}_ms']:.2f} ms",
                    f"{t['direct_ms']:.2f} ms",
                    f"+{t[f'{key}_added_ms']:.2f} ms  (≤ +{target:g} ms)",
                    mark(t[f"{key}_added_ms"] <= target and not t["bad"]),
                )
            )
    if "fast" in results:
        f = results["fast"]
        rows.append(
            (
                f"one stream of {f['tokens']} tokens",
                f"{f['chatsite_tps']:,.0f} tok/s",
                f"{f['direct_tps']:,.0f} tok/s",
                f"x{f['ratio']:.2f} of direct  (≥ x{TARGETS['fast_ratio']:g})",
                mark(f["ratio"] >= TARGETS["fast_ratio"] and not f["bad"]),
            )
        )
    for key, what in (("new", "new chats"), ("follow", "follow-ups")):
        if f"{key}_site" not in results:
            continue
        s, d = results[f"{key}_site"], results.get(f"{key}_direct", {})
        n = s["answers"]
        added_p99 = s["ttft_p99"] - d.get("ttft_p99", math.nan)
        slowest = s["slowest_s"] / d.get("slowest_s", math.nan)
        cpu_target = TARGETS[f"{key}_cpu_us_per_token"]

        def direct(name: str, fn=str, d=d) -> str:
            return fn(d[name]) if name in d else "-"

        rows += [
            (
                f"{n} {what} at once: complete",
                f"{s['complete']}/{n}",
                direct("complete", lambda v, d=d: f"{v}/{d['answers']}"),
                f"{n}/{n}",
                mark(s["complete"] == n),
            ),
            (
                "  tokens lost / doubled",
                f"{s['lost']} / {s['doubled']}",
                f"{direct('lost')} / {direct('doubled')}",
                "0 / 0",
                mark(s["lost"] == 0 and s["doubled"] == 0),
            ),
            ("  time to first token p50", fmt_ms(s["ttft_p50"]), direct("ttft_p50", fmt_ms), "", ""),
            (
                "  time to first token p99",
                fmt_ms(s["ttft_p99"]),
                direct("ttft_p99", fmt_ms),
                f"+{added_p99 * 1000:.0f} ms  (≤ +{targets['added_ttft_p99_s'] * 1000:g} ms)",
                mark(added_p99 <= targets["added_ttft_p99_s"]),
            ),
            (
                "  slowest answer",
                f"{s['slowest_s']:.2f} s",
                direct("slowest_s", lambda v: f"{v:.2f} s"),
                f"x{slowest:.2f}  (≤ x{targets['slowest_ratio']:g})",
                mark(slowest <= targets["slowest_ratio"]),
            ),
            ("  per-token lateness p50", fmt_ms(s["late_p50"]), direct("late_p50", fmt_ms), "", ""),
            ("  per-token lateness p99", fmt_ms(s["late_p99"]), direct("late_p99", fmt_ms), "", ""),
            (
                "  server CPU per relayed token",
                f"{s['cpu_us_per_token']:.1f} µs",
                direct("client_cpu_us_per_token", lambda v: f"{v:.1f} µs (httpx client)"),
                f"≤ {cpu_target:g} µs",
                mark(s["cpu_us_per_token"] <= cpu_target),
            ),
            (
                "  server peak RSS (VmHWM)",
                f"{s['peak_rss_mb']:.0f} MB",
                "-",
                f"≤ {TARGETS['peak_rss_mb']:g} MB",
                mark(s["peak_rss_mb"] <= TARGETS["peak_rss_mb"]),
            ),
        ]
        if s.get("nginx_cpu_s"):
            nginx_us = s["nginx_cpu_s"] / s["tokens"] * 1e6
            rows.append(("  nginx CPU per relayed token", f"{nginx_us:.1f} µs", "-", "", ""))
        if s.get("redis_commands"):
            rows.append(
                (
                    "  Redis per frame to a browser",
                    f"{s['redis_us_per_frame']:.1f} µs, {s['redis_commands_per_frame']:.2f} commands",
                    "-",
                    "",
                    "",
                )
            )
    widths = [max(len(r[i]) for r in [("", "chatsite", "direct", "target", ""), *rows]) for i in range(5)]
    print()
    where = f"{results.get('code')}; {results.get('engines')}; new chats by {args.new_chat}"
    print(f"Results ({os.cpu_count()} cores; {where})")
    print(f"Settings {results.get('settings')}")
    for row in [("", "chatsite", "direct", "target", ""), *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    verdicts = Counter(r[4] for r in rows if r[4])
    print(f"{verdicts['PASS']} PASS, {verdicts['MISS']} MISS")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200, help="users streaming at once in phase 3")
    parser.add_argument("--tokens", type=int, default=200, help="tokens per answer in phase 3")
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between tokens in phase 3")
    parser.add_argument("--ramp", type=float, default=0.0, help="spread the phase 3 sends over this many seconds")
    parser.add_argument("--runs", type=int, default=20, help="runs of phase 1 (time to first token)")
    parser.add_argument("--fast-tokens", type=int, default=5000, help="tokens of the phase 2 stream")
    parser.add_argument("--fast-runs", type=int, default=3, help="runs of phase 2")
    parser.add_argument("--phases", default="1,2,3,4", help="which phases to run (comma-separated)")
    parser.add_argument(
        "--new-chat",
        choices=("frame", "post"),
        default="frame",
        help="how the page makes a new chat: one send frame (now), or POST /c/new/ then send (before)",
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="serve on PostgreSQL (a fresh database made on this server for the run, dropped after)",
    )
    parser.add_argument("--redis-url", metavar="URL", help="serve with this Redis (channel layer and cache)")
    parser.add_argument(
        "--teams", action="store_true", help="every turn checks access rules and budgets (one team, budgets for all)"
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="daphne processes, started as deploy/chatsite@.service does (--nginx)"
    )
    parser.add_argument("--nginx", action="store_true", help="serve through nginx running deploy/nginx.conf (TLS)")
    parser.add_argument(
        "--quick-logins", action="store_true", help="phases 3-4: sessions made on the server instead of 1,000 logins"
    )
    parser.add_argument("--coalesce-ms", type=float, help="STREAM_COALESCE_MS for the server")
    parser.add_argument("--flush-seconds", type=float, help="STREAM_FLUSH_SECONDS for the server")
    parser.add_argument(
        "--server-env", action="append", default=[], metavar="NAME=VALUE", help="more environment for the server"
    )
    parser.add_argument("--profile", metavar="FILE", help="py-spy record (raw stacks) of the server in phase 3")
    parser.add_argument("--profile-phase", type=int, default=3, choices=(1, 2, 3, 4), help="the phase to profile")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--wait-quiet", type=float, default=120, help="seconds to wait for a quiet machine per phase")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory (logs, database)")
    parser.add_argument(
        "--root", metavar="DIR", help="serve another chatsite tree (e.g. a `git archive` of a commit) with this venv"
    )
    parser.add_argument("--commit", metavar="REV", help="serve this commit of the repository (git archive)")
    parser.add_argument("--max-seconds", type=float, default=1800, help="the upstream process's lifetime cap")
    parser.add_argument("--upstream-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.root and args.commit:
        parser.error("--root or --commit, not both")
    try:
        args.phases = {int(p) for p in args.phases.split(",") if p.strip()}
    except ValueError:
        parser.error("--phases: numbers 1, 2, 3, 4")
    if not (1 <= args.users <= 1000 and 1 <= args.tokens <= 100_000 and 0 <= args.interval <= 1):
        parser.error("--users 1..1000, --tokens 1..100000, --interval 0..1")
    if not 1 <= args.processes <= 8:
        parser.error("--processes 1..8")
    if args.processes > 1 and not (args.nginx and args.database_url and args.redis_url):
        parser.error("several processes share PostgreSQL and Redis behind nginx: --nginx --database-url --redis-url")
    if not 0 <= args.ramp <= 600:
        parser.error("--ramp 0..600")
    if not (1 <= args.runs <= 1000 and 1 <= args.fast_runs <= 20 and 1 <= args.fast_tokens <= 1_000_000):
        parser.error("--runs 1..1000, --fast-runs 1..20, --fast-tokens 1..1000000")
    return args


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    args = parse_args()
    if args.upstream_child:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        run_upstream(args.max_seconds)
        return 0
    sys.path.insert(0, str(ROOT))
    signal.signal(signal.SIGTERM, _interrupt)
    procs = Processes()
    bench = Bench(args, procs)
    status = 0
    try:
        asyncio.run(asyncio.wait_for(bench.run(), timeout=args.max_seconds))
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        status = 130
    except Exception as exc:
        print(f"\nThe benchmark failed: {exc!r}", file=sys.stderr)
        status = 1
    finally:
        procs.stop_all()
        bench.cleanup()
    if any(key in bench.results for key in ("ttft", "fast", "new_site", "follow_site")):
        report(bench.results, args)
        if args.json:
            Path(args.json).write_text(json.dumps(bench.results, indent=2, default=str))
    return status


if __name__ == "__main__":
    sys.exit(main())
