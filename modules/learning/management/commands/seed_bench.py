"""Bulk data for the load benchmarks: ``manage.py seed_bench --users N --contents M --history K --due D``.

Creates ``bench-<i>@bench.resee.local`` users (the first, ``bench@resee.local``, is the benchmarked
PRO user; the others are bulk-inserted FREE users), each with M contents in a few categories, their
schedules and K past reviews per content. The benchmarked user has exactly D reviews due (overdue by
0-30 days), the rest due in the future. Bulk inserts in batches; prints the time each step took.
Refuses to run twice on the same database unless ``--reset`` is given (which deletes bench users).
"""

from __future__ import annotations

import random
import time
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone

from modules.identity import services as identity
from modules.learning.models import Category, Content, ReviewHistory, ReviewSchedule
from modules.learning.scheduling import ReviewResult, ladder_stage_after

BENCH_EMAIL = "bench@resee.local"
OTHER_EMAIL = "bench-{index}@bench.resee.local"
BATCH = 5_000
WORDS = tuple(
    [
        "memory",
        "recall",
        "interval",
        "review",
        "stage",
        "card",
        "learning",
        "retention",
        "forgetting",
        "curve",
        "spacing",
        "effect",
        "neuron",
        "synapse",
        "protein",
        "enzyme",
        "glucose",
        "history",
        "empire",
        "treaty",
        "revolution",
        "algorithm",
        "database",
        "index",
        "query",
        "cache",
        "latency",
        "throughput",
        "vocabulary",
        "grammar",
        "tense",
        "clause",
        "theorem",
        "proof",
        "lemma",
        "integral",
    ]
)
PRO_INTERVALS = (1, 3, 7, 14, 30, 60, 120, 180)


class Command(BaseCommand):
    help = "Bulk-create benchmark users, contents, schedules and review history (PostgreSQL recommended)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--users", type=int, default=100)
        parser.add_argument("--contents", type=int, default=1000, help="contents per user")
        parser.add_argument("--history", type=int, default=10, help="past reviews per content")
        parser.add_argument("--due", type=int, default=100, help="reviews due now for the benchmarked user")
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--reset", action="store_true", help="delete the bench users first")

    def handle(self, *args: Any, **options: Any) -> None:
        users, contents, history, due = (
            options["users"],
            options["contents"],
            options["history"],
            options["due"],
        )
        if users < 1 or contents < 1 or history < 0 or not 0 <= due <= contents:
            raise CommandError(
                "need --users >= 1, --contents >= 1, --history >= 0 and 0 <= --due <= --contents"
            )
        rng = random.Random(options["seed"])  # noqa: S311 (test data, reproducible on purpose)
        started = time.perf_counter()
        user_model = get_user_model()
        if options["reset"]:
            self._step(
                "reset", lambda: user_model.objects.filter(email__endswith="bench.resee.local").delete()
            )
            self._step("reset", lambda: user_model.objects.filter(email=BENCH_EMAIL).delete())
        elif user_model.objects.filter(email=BENCH_EMAIL).exists():
            raise CommandError("bench data exists; use a fresh database or --reset")

        def make_users() -> list[int]:
            bench = identity.ensure_demo_user(email=BENCH_EMAIL).user
            password = make_password(None)  # unusable: only the benchmarked user logs in
            others = user_model.objects.bulk_create(
                [
                    user_model(
                        email=OTHER_EMAIL.format(index=index), password=password, is_email_verified=True
                    )
                    for index in range(1, users)
                ],
                batch_size=BATCH,
            )
            return [bench.pk, *(user.pk for user in others)]

        user_ids = self._step(f"{users} users", make_users)
        now = timezone.now()
        for position, user_id in enumerate(user_ids):
            with transaction.atomic():
                self._seed_user(
                    rng=rng,
                    user_id=user_id,
                    now=now,
                    contents=contents,
                    history=history,
                    due=due if position == 0 else None,
                )
            if position in (0, len(user_ids) - 1) or (position + 1) % 10 == 0:
                self.stdout.write(
                    f"  user {position + 1}/{len(user_ids)}  {time.perf_counter() - started:6.1f}s"
                )
        if connection.vendor == "postgresql":
            # fresh statistics, or the planner guesses row counts and picks sequential scans
            with connection.cursor() as cursor:
                for model in (Category, Content, ReviewSchedule, ReviewHistory):
                    cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
        total = time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"seed_bench: {users} users x {contents} contents x {history} reviews "
                f"({users * contents:,} contents, {users * contents * history:,} history rows) in {total:.1f}s"
            )
        )

    def _step(self, label: str, work: Any) -> Any:
        began = time.perf_counter()
        result = work()
        self.stdout.write(f"  {label}: {time.perf_counter() - began:.2f}s")
        return result

    def _seed_user(
        self, *, rng: random.Random, user_id: int, now: Any, contents: int, history: int, due: int | None
    ) -> None:
        categories = Category.objects.bulk_create(
            [
                Category(user_id=user_id, name=name, slug=name.lower())
                for name in ("Science", "History", "Languages", "Tech")
            ]
        )
        created = Content.objects.bulk_create(
            [
                Content(
                    user_id=user_id,
                    category=categories[index % len(categories)] if index % 5 else None,
                    title=f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} #{index}",
                    body=" ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 90))),
                    created_at=now - timedelta(days=200 + rng.random() * 100),
                )
                for index in range(contents)
            ],
            batch_size=BATCH,
        )
        due_ids = set(rng.sample(range(contents), due)) if due is not None else None
        schedules: list[tuple] = []
        rows: list[tuple] = []
        results = (ReviewResult.REMEMBERED,) * 3 + (ReviewResult.PARTIAL, ReviewResult.FORGOT)
        last_stage = len(PRO_INTERVALS) - 1
        for index, content in enumerate(created):
            stage, reviewed_at = 0, content.created_at
            # Walk the ladder with plausible answers; gaps shrink to fit if they would pass "now".
            walk: list[tuple[ReviewResult, int, int, float]] = []
            for _ in range(history):
                result = rng.choice(results)
                after = ladder_stage_after(stage, result, last_stage=last_stage)
                walk.append((result, stage, after, PRO_INTERVALS[stage] * (0.6 + rng.random() * 0.6)))
                stage = after
            span_days = (now - timedelta(hours=2) - content.created_at).total_seconds() / 86_400
            scale = min(1.0, span_days / max(sum(gap for *_, gap in walk), 1e-9))
            for result, before, after, gap in walk:
                reviewed_at = reviewed_at + timedelta(days=gap * scale)
                rows.append(
                    (
                        user_id,
                        content.pk,
                        result.value,
                        reviewed_at,
                        reviewed_at,
                        before,
                        after,
                        PRO_INTERVALS[after],
                        rng.randint(5, 90),
                        round(0.6 + rng.random() * 0.4, 4),
                    )
                )
            if due_ids is None:
                next_review = now + timedelta(days=rng.uniform(-20, 60))
            elif index in due_ids:
                next_review = now - timedelta(days=rng.uniform(0, 30), hours=1)
            else:
                next_review = now + timedelta(days=rng.uniform(2, 90))
            schedules.append(
                (
                    content.pk,
                    user_id,
                    stage,
                    next_review,
                    reviewed_at if history else None,
                    history,
                    PRO_INTERVALS[stage],
                )
            )
        _insert(
            ReviewSchedule,
            (
                "content_id",
                "user_id",
                "stage",
                "next_review_date",
                "last_reviewed_at",
                "review_count",
                "interval_days",
            ),
            schedules,
        )
        _insert(
            ReviewHistory,
            (
                "user_id",
                "content_id",
                "result",
                "reviewed_at",
                "recorded_at",
                "stage_before",
                "stage_after",
                "interval_days",
                "time_spent_seconds",
                "retrievability_before",
            ),
            rows,
        )


def _insert(model: Any, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """COPY on PostgreSQL (several times faster than INSERTs for a million rows), else bulk_create.

    Columns left out take their model default (scheduler "ladder", early False).
    """
    if connection.vendor != "postgresql":
        model.objects.bulk_create(
            [model(**dict(zip(columns, row, strict=True))) for row in rows], batch_size=BATCH
        )
        return
    defaults = {
        field.column: field.get_default()
        for field in model._meta.concrete_fields
        if not field.primary_key and field.attname not in columns and field.has_default()
    }
    names = [*columns, *defaults]
    extra = tuple(defaults.values())
    quoted = ", ".join(connection.ops.quote_name(name) for name in names)
    with (
        connection.cursor() as cursor,
        cursor.connection.cursor().copy(
            f"COPY {connection.ops.quote_name(model._meta.db_table)} ({quoted}) FROM STDIN"
        ) as copy,
    ):
        for row in rows:
            copy.write_row(row + extra)
