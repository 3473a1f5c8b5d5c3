#!/usr/bin/env python
"""How fast search answers: 100,000 conversations and 1,000,000 messages, mixed English, Chinese
and Japanese, on SQLite (FTS5 trigram) or PostgreSQL (pg_trgm).

    .venv/bin/python bench/search.py                                   # SQLite, in a temporary DATA_DIR
    .venv/bin/python bench/search.py --database-url postgresql://postgres@127.0.0.1:5432/bench_search

Migrates a fresh database (the PostgreSQL one is dropped and made again), fills it with 1,000
users of 100 conversations of 10 messages each (bulk: executemany on SQLite, with the
migration's triggers filling the index as they do for the app; COPY on PostgreSQL), then times
chatsite.search.searching.search for random users, per kind of query, and prints p50 and p95 in
ms. Filling takes a few minutes; --scale 0.1 makes a tenth of it.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ENGLISH = (
    "the of and to in is it you that was for on are with as be at have this from or one had by word but not what "
    "all were we when your can said there use each which she do how their if will up other about out many then "
    "them these some her would make like him into time has look two more write go see number way could people "
    "database connection timeout server deploy backup migration token model prompt answer stream cache index "
    "query search python django channel socket error retry budget invoice meeting schedule report summary draft "
    "review design layout colour theme keyboard shortcut holiday travel flight hotel recipe bread garden weather"
).split()
CHINESE = (
    "数据库 连接 超时 服务器 部署 备份 迁移 模型 提示词 回答 缓存 索引 查询 搜索 错误 重试 预算 发票 会议 日程 报告 "
    "总结 草稿 设计 布局 主题 键盘 快捷键 假期 旅行 航班 酒店 菜谱 面包 花园 天气 我们 你们 今天 明天 问题 办法 "
    "因为 所以 但是 如果 可以 需要 已经 还是 资料库 伺服器 連線 逾時"
).split()
JAPANESE = (
    "データベース 接続 タイムアウト サーバー デプロイ バックアップ 移行 モデル プロンプト 回答 キャッシュ 検索 "
    "エラー 予算 請求書 会議 予定 報告 要約 下書き 設計 テーマ キーボード 休暇 旅行 ホテル レシピ パン 天気 "
    "について です ます した ください 問題 方法 今日 明日"
).split()

USERS = 1000
CONVERSATIONS_PER_USER = 100
MESSAGES_PER_CONVERSATION = 10

# (kind, queries): each timed for random users.
QUERIES = [
    ("English word", ["database", "schedule", "holiday", "keyboard"]),
    ("English, common trigram", ["the", "and"]),
    ("English, two words", ["database timeout", "travel hotel"]),
    ("Chinese", ["数据库连接", "服务器", "快捷键"]),
    ("Japanese", ["データベース", "タイムアウト", "キーボード"]),
    ("short (1-2 characters)", ["数据", "接続", "db", "库"]),
    ("no match", ["zzqxv", "不存在的词语"]),
    ("FTS syntax", ['"NEAR(a b)"', "data*", "AND OR"]),
]


def sentence(rng: random.Random) -> str:
    """A message: some words of one language, now and then a phrase of another."""
    kind = rng.random()
    if kind < 0.5:
        words = " ".join(rng.choices(ENGLISH, k=rng.randint(8, 30)))
    elif kind < 0.75:
        words = "".join(rng.choices(CHINESE, k=rng.randint(6, 24)))
    else:
        words = "".join(rng.choices(JAPANESE, k=rng.randint(6, 24)))
    if rng.random() < 0.3:
        words += " " + rng.choice((ENGLISH, CHINESE, JAPANESE))[rng.randrange(10)]
    return words


def setup(database_url: str | None) -> None:
    os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="chatsite-bench-search-")
    os.environ["LOCAL_MODEL"] = "0"
    os.environ.pop("REDIS_URL", None)
    if database_url:
        os.environ["DATABASE_URL"] = database_url
        import psycopg

        name = database_url.rsplit("/", 1)[1]
        admin = database_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    else:
        os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def fill(scale: float, seed: int = 1) -> list[int]:
    """The users, conversations and messages; the users' ids."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    rng = random.Random(seed)
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"user{n}", password="!") for n in range(max(1, int(USERS * scale)))
    )
    now = timezone.now()
    began = time.perf_counter()
    conversations, messages = [], []
    for user in users:
        for _ in range(CONVERSATIONS_PER_USER):
            conversations.append((uuid.uuid4(), user.pk, sentence(rng)[:60]))
    with transaction.atomic(), connection.cursor() as cursor:
        _insert(
            cursor,
            "chat_conversation",
            ["code", "owner_id", "title", "system_prompt", "parameters", "tools", "created", "updated"],
            [(code, owner, title, "", "{}", "[]", now, now) for code, owner, title in conversations],
        )
        cursor.execute("SELECT id FROM chat_conversation ORDER BY id")
        ids = [row[0] for row in cursor.fetchall()]
    print(f"{len(ids):,} conversations in {time.perf_counter() - began:.0f} s", flush=True)
    columns = [
        *("code", "conversation_id", "role", "text", "reasoning", "refusal", "status", "finish_reason"),
        *("model_name", "provider_name", "usage_estimated", "tool_calls", "citations", "logprobs"),
        *("json_check", "error", "reserved_tokens", "created", "updated"),
    ]
    batch = 50_000
    for start in range(0, len(ids), batch // MESSAGES_PER_CONVERSATION):
        messages = [
            (uuid.uuid4(), cid, ("user", "assistant")[n % 2], sentence(rng), "", "", "complete", "stop")
            + ("test/model", "bench", False, "[]", "[]", "[]", "", "", 0, now, now)
            for cid in ids[start : start + batch // MESSAGES_PER_CONVERSATION]
            for n in range(MESSAGES_PER_CONVERSATION)
        ]
        with transaction.atomic(), connection.cursor() as cursor:
            _insert(cursor, "chat_message", columns, messages)
        done = min(len(ids), start + batch // MESSAGES_PER_CONVERSATION) * MESSAGES_PER_CONVERSATION
        print(f"  {done:,} messages, {time.perf_counter() - began:.0f} s", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return [user.pk for user in users]


def _insert(cursor, table: str, columns: list[str], rows: list[tuple]) -> None:
    from django.db import connection

    if connection.vendor == "postgresql":
        with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        marks = ", ".join("?" * len(columns))

        def stored(value):  # as Django writes them to SQLite: hex UUIDs, naive UTC times
            if isinstance(value, uuid.UUID):
                return value.hex
            return connection.ops.adapt_datetimefield_value(value) if hasattr(value, "tzinfo") else value

        cursor.cursor.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
            [tuple(stored(v) for v in row) for row in rows],
        )


def measure(user_ids: list[int], runs: int) -> None:
    from django.contrib.auth import get_user_model

    from chatsite.search.searching import search, search_all

    rng = random.Random(2)
    users = list(get_user_model().objects.filter(pk__in=rng.sample(user_ids, min(len(user_ids), runs))))
    print(f"{'query':26s} {'p50 ms':>8s} {'p95 ms':>8s} {'results':>8s}")
    for kind, queries in QUERIES:
        times, found = [], []
        for n in range(runs + 3):
            user, query = users[n % len(users)], queries[n % len(queries)]
            began = time.perf_counter()
            results = search(user, query)
            if n >= 3:  # warm-up
                times.append((time.perf_counter() - began) * 1000)
                found.append(len(results))
        _row(kind, times, found)
    times, found = [], []
    for n in range(max(5, runs // 5) + 1):
        began = time.perf_counter()
        results = search_all(["数据库连接", "database", "データベース"][n % 3])
        if n:
            times.append((time.perf_counter() - began) * 1000)
            found.append(len(results))
    _row("admin: search_all", times, found)


def _row(kind: str, times: list[float], found: list[int]) -> None:
    p50 = statistics.median(times)
    p95 = statistics.quantiles(times, n=20)[-1] if len(times) >= 2 else times[0]
    print(f"{kind:26s} {p50:8.1f} {p95:8.1f} {statistics.median(found):8.0f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a PostgreSQL database to drop, make and fill (default: SQLite)")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the 1,000 users to make")
    parser.add_argument("--runs", type=int, default=60, help="searches per kind of query")
    args = parser.parse_args()
    setup(args.database_url)
    from django.db import connection

    print(f"{connection.vendor}: filling…", flush=True)
    user_ids = fill(args.scale)
    measure(user_ids, args.runs)


if __name__ == "__main__":
    main()
