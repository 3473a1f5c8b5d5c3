#!/usr/bin/env python
"""How fast the admin's usage report and its CSV answer over a year of 500 users.

    .venv/bin/python bench/usage.py                                   # SQLite (about a minute)
    .venv/bin/python bench/usage.py --database-url postgresql://postgres@127.0.0.1:5432/postgres

Makes a fresh database (a temporary SQLite file, or a new PostgreSQL database beside the one
named, dropped at the end), migrates it, and fills the daily usage counts that a year of 500
users makes answering about 1 million requests (one row per day, user and model used that day:
most users on most days, one to three models each), with bulk inserts. Then times the report
pages and CSV exports through the real admin views (Django's test client, logged in as a
superuser and as a team admin of 50 users) and prints the median of --runs runs of each.

The report reads DailyUsage only (tests/test_oversight.py proves no query touches the
messages), so the number of messages does not enter these figures; the number of rows does.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

USERS = 500
TEAMS = 10
DAYS = 365
MODELS = [
    ("OpenAI", "openai/gpt-4o", Decimal("2.5"), Decimal("10")),
    ("OpenAI", "openai/gpt-4o-mini", Decimal("0.15"), Decimal("0.6")),
    ("OfoxAI", "anthropic/claude-sonnet-4", Decimal("3"), Decimal("15")),
    ("OfoxAI", "deepseek/deepseek-chat", Decimal("0.27"), Decimal("1.1")),
    ("Local", "qwen2.5-7b-instruct", None, None),
    ("Local", "llama-3.1-8b", None, None),
]


def _database(url: str | None) -> tuple[str, callable]:
    """The database URL to use and what drops it afterwards."""
    if not url:
        folder = tempfile.mkdtemp(prefix="chatsite-bench-usage-")
        return f"sqlite:///{folder}/db.sqlite3", lambda: shutil.rmtree(folder, ignore_errors=True)
    import psycopg

    name = f"chatsite_bench_usage_{os.getpid()}"
    admin = psycopg.connect(url, autocommit=True)
    admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        from django.db import connections

        connections.close_all()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()

    return urlsplit(url)._replace(path=f"/{name}").geturl(), drop


def fill(seed: int = 1) -> tuple[int, int]:
    """The users, teams and a year of daily counts: (rows, requests)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from chatsite.teams.models import DailyUsage, Team

    rng = random.Random(seed)
    User = get_user_model()
    User.objects.bulk_create(User(username=f"user{n:03d}", password="!") for n in range(USERS))
    users = list(User.objects.order_by("pk"))
    teams = []
    for n in range(TEAMS):
        group = Group.objects.create(name=f"Team {n}")
        teams.append(Team.objects.create(group=group))
        group.user_set.add(*users[n::TEAMS])
    team_of = {user.pk: teams[n % TEAMS] for n, user in enumerate(users)}
    today = timezone.localdate()
    rows, requests, batch = 0, 0, []
    for day_number in range(DAYS):
        day = today - timedelta(days=day_number)
        weekend = day.weekday() >= 5
        for user in users:
            if rng.random() > (0.25 if weekend else 0.8):
                continue
            for provider, model, price_in, price_out in rng.sample(MODELS, rng.choice((1, 1, 2, 3))):
                asked = rng.randint(1, 6)
                prompt = asked * rng.randint(200, 3000)
                completion = asked * rng.randint(50, 800)
                cost = Decimal(0)
                if price_in is not None:
                    cost = ((prompt * price_in + completion * price_out) / 1_000_000).quantize(Decimal("0.000001"))
                team = team_of[user.pk]
                batch.append(
                    DailyUsage(
                        day=day,
                        user_id=user.pk,
                        team_id=team.pk,
                        team_name=team.group.name,
                        provider_name=provider,
                        model_name=model,
                        requests=asked,
                        prompt_tokens=prompt,
                        completion_tokens=completion,
                        total_tokens=prompt + completion,
                        cost=cost,
                    )
                )
                rows += 1
                requests += asked
                if len(batch) >= 5000:
                    DailyUsage.objects.bulk_create(batch)
                    batch = []
    DailyUsage.objects.bulk_create(batch)
    return rows, requests


def timed(client, url: str, runs: int) -> tuple[float, int]:
    """Median milliseconds to the whole answer (a CSV read to its end), and its size in bytes."""
    times, size = [], 0
    for run in range(runs + 1):
        began = time.perf_counter()
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        took = time.perf_counter() - began
        assert response.status_code == 200, (url, response.status_code)
        if run:  # the first is a warm-up
            times.append(took)
        size = len(body)
    return statistics.median(times) * 1000, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a PostgreSQL server to make the bench database on")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    database_url, drop = _database(args.database_url)
    data_dir = tempfile.mkdtemp(prefix="chatsite-bench-data-")
    os.environ.update(
        DATABASE_URL=database_url,
        DATA_DIR=data_dir,
        LOCAL_MODEL="0",
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="chatsite.settings",
    )
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from chatsite.teams.models import Team

    try:
        call_command("migrate", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)  # the admin's pages name their files
        began = time.perf_counter()
        rows, requests = fill()
        print(
            f"{database_url.split(':')[0]}: {rows:,} daily counts for {requests:,} requests "
            f"({USERS} users, {DAYS} days), made in {time.perf_counter() - began:.1f} s"
        )
        User = get_user_model()
        root = User.objects.create_superuser("root", password="!")
        lead = User.objects.create_user("lead", password="!", is_staff=True)
        Team.objects.order_by("pk").first().admins.add(lead)
        for who, user in (("superuser", root), ("team admin", lead)):
            client = Client(HTTP_HOST="localhost")
            client.force_login(user)
            for label, url in (
                ("report, 30 days by user", "/admin/reports/usagereport/?period=30&by=user"),
                ("report, 365 days by user", "/admin/reports/usagereport/?period=365&by=user"),
                ("report, 365 days by model", "/admin/reports/usagereport/?period=365&by=model&metric=cost"),
                ("report, 365 days by day", "/admin/reports/usagereport/?period=365&by=day"),
                ("CSV, 365 days by group", "/admin/reports/usagereport/csv/?period=365&by=group"),
                ("CSV, 30 days every row", "/admin/reports/usagereport/csv/?period=30&rows=1"),
                ("CSV, 365 days every row", "/admin/reports/usagereport/csv/?period=365&rows=1"),
            ):
                ms, size = timed(client, url, args.runs)
                print(f"  {who:10s}  {label:28s} {ms:8.1f} ms  {size / 1024:9.1f} KB")
    finally:
        drop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
