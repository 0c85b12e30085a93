"""Bulk data for the load benchmarks (``make bench``, docs/benchmarks.md):

    python bench/seed.py --users N --contents M --history K --due D [--reset] [--seed S]

Creates ``bench@resee.local``, the benchmarked user (identity's demo account: verified, PRO), and N-1
others ``bench-<i>@bench.resee.local`` (identity's test factory: verified, FREE, no usable password),
each with M contents in 4 categories, their schedules and K past reviews per content (following the
ladder rule, all in the past). The benchmarked user has exactly D reviews due (overdue by 0-30 days),
the rest due in the future. Prints the time each step took. Refuses to run twice on the same database
unless ``--reset`` is given (which deletes the bench accounts, through identity, first).

Accounts go through identity's doors (a few queries each, no password hashing). Learning's rows are
written in bulk straight into its tables: this is benchmark tooling outside the modules, and a
million history rows through ``complete_review`` would take hours. ``bulk_create`` for categories
and contents, PostgreSQL ``COPY`` for schedules and history (``bulk_create`` elsewhere), ``ANALYZE``
at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO, TypeVar

if __name__ == "__main__":  # run as a script: set Django up before the imports below need it
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()

from django.apps import apps
from django.db import connection, transaction
from django.db.models import Model, Q
from django.utils import timezone

from modules.identity import services as identity
from modules.identity.testing import make_user
from modules.learning.models import Category, Content, ReviewHistory, ReviewSchedule
from modules.learning.scheduling import ReviewResult, ladder_stage_after

T = TypeVar("T")

BENCH_EMAIL = "bench@resee.local"
OTHER_EMAIL = "bench-{index}@bench.resee.local"
BATCH = 5_000
WORDS = (
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
)
MARKER = "mitochondria"  # a word no generated body has (WORDS), for searches with few matches
PRO_INTERVALS = (1, 3, 7, 14, 30, 60, 120, 180)
CATEGORIES = ("Science", "History", "Languages", "Tech")


# The review's elapsed time, written with it where the history has the column (older trees do not:
# bench/shapes.sh also measures the code before it).
_HAS_ELAPSED = any(field.name == "elapsed_days" for field in ReviewHistory._meta.concrete_fields)


class SeedError(Exception):
    """Arguments out of range, or bench data already there without ``reset``."""


@dataclass(frozen=True)
class Seeded:
    users: int
    contents: int
    history: int
    seconds: float


def seed_bench(
    *,
    users: int,
    contents: int,
    history: int,
    due: int,
    seed: int = 42,
    reset: bool = False,
    out: TextIO = sys.stdout,
) -> Seeded:
    """Seeds the database (see the module docstring); returns what it created."""
    if users < 1 or contents < 1 or history < 0 or not 0 <= due <= contents:
        raise SeedError("need --users >= 1, --contents >= 1, --history >= 0 and 0 <= --due <= --contents")
    rng = random.Random(seed)  # test data, reproducible on purpose
    started = time.perf_counter()
    if reset:
        _step(out, "reset", _delete_bench_accounts)
    elif identity.User.objects.filter(email=BENCH_EMAIL).exists():
        raise SeedError("bench data exists; use a fresh database or --reset")

    def make_users() -> list[int]:
        bench = identity.ensure_demo_user(email=BENCH_EMAIL).user
        others = [
            # password None: an unusable password, no hashing (only the benchmarked user logs in)
            make_user(email=OTHER_EMAIL.format(index=index), tier="FREE", password=None)  # type: ignore[arg-type]
            for index in range(1, users)
        ]
        return [bench.pk, *(user.pk for user in others)]

    user_ids = _step(out, f"{users} users", make_users)
    now = timezone.now()
    for position, user_id in enumerate(user_ids):
        with transaction.atomic():
            _seed_user(
                rng=rng,
                user_id=user_id,
                now=now,
                contents=contents,
                history=history,
                due=due if position == 0 else None,
            )
        if position in (0, len(user_ids) - 1) or (position + 1) % 10 == 0:
            out.write(f"  user {position + 1}/{len(user_ids)}  {time.perf_counter() - started:6.1f}s\n")
    analyze()  # fresh statistics, or the planner guesses row counts and picks sequential scans
    seeded = Seeded(
        users=users,
        contents=users * contents,
        history=users * contents * history,
        seconds=time.perf_counter() - started,
    )
    out.write(
        f"seed_bench: {users} users x {contents} contents x {history} reviews "
        f"({seeded.contents:,} contents, {seeded.history:,} history rows) in {seeded.seconds:.1f}s\n"
    )
    return seeded


def _delete_bench_accounts() -> int:
    """Deletes every bench account with all it owns (identity's account deletion cascades)."""
    accounts = identity.User.objects.filter(Q(email=BENCH_EMAIL) | Q(email__endswith="@bench.resee.local"))
    deleted = 0
    for user in accounts:
        identity.delete_account(user=user)
        deleted += 1
    return deleted


def _step(out: TextIO, label: str, work: Callable[[], T]) -> T:
    began = time.perf_counter()
    result = work()
    out.write(f"  {label}: {time.perf_counter() - began:.2f}s\n")
    return result


def seed_learner(
    *,
    email: str,
    contents: int,
    history: int,
    due: int,
    age_days: tuple[float, float] = (200.0, 300.0),
    marked: int = 0,
    seed: int = 42,
    now: datetime | None = None,
) -> int:
    """One verified PRO learner ``email`` (no usable password) with ``contents`` contents created
    ``age_days`` ago, ``history`` past reviews each spread over the time since, and exactly ``due``
    reviews due now; ``marked`` of the contents (spread evenly) carry the rare word ``MARKER`` in their
    body, for a search with few matches. Returns the user's id. For bench/shapes.py."""
    if contents < 1 or history < 0 or not 0 <= due <= contents:
        raise SeedError("need contents >= 1, history >= 0 and 0 <= due <= contents")
    user = make_user(email=email, tier="PRO", password=None)  # type: ignore[arg-type]
    with transaction.atomic():
        _seed_user(
            rng=random.Random(seed),
            user_id=user.pk,
            now=now or timezone.now(),
            contents=contents,
            history=history,
            due=due,
            age_days=age_days,
            marked=marked,
        )
    return user.pk


def analyze() -> None:
    """Learning's tables as autovacuum leaves them in production (PostgreSQL; nothing elsewhere): fresh
    planner statistics, dead rows removed and the visibility map set, so index-only scans need not
    visit the heap. Every table of the app: the kept rollups (recall groups, totals, tallies) are
    rewritten on every review, and a server without autovacuum (this machine's has it off) would
    otherwise measure whatever earlier runs left behind — 78 MB of dead versions for 76 category
    totals after a morning of runs, and a review loop that slowed from one run to the next."""
    if connection.vendor != "postgresql":
        return
    command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"  # VACUUM needs autocommit
    with connection.cursor() as cursor:
        for model in apps.get_app_config("learning").get_models():
            cursor.execute(f"{command} {connection.ops.quote_name(model._meta.db_table)}")


def _seed_user(
    *,
    rng: random.Random,
    user_id: int,
    now: datetime,
    contents: int,
    history: int,
    due: int | None,
    age_days: tuple[float, float] = (200.0, 300.0),
    marked: int = 0,
) -> None:
    marked_at = {index * contents // marked for index in range(marked)} if marked else set()
    categories = Category.objects.bulk_create(
        [Category(user_id=user_id, name=name, slug=name.lower()) for name in CATEGORIES]
    )
    created = Content.objects.bulk_create(
        [
            Content(
                user_id=user_id,
                category=categories[index % len(categories)] if index % 5 else None,
                title=f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} #{index}",
                body=" ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 90)))
                + (f" {MARKER}" if index in marked_at else ""),
                created_at=now - timedelta(days=rng.uniform(*age_days)),
            )
            for index in range(contents)
        ],
        batch_size=BATCH,
    )
    due_ids = set(rng.sample(range(contents), due)) if due is not None else None
    schedules: list[tuple[Any, ...]] = []
    rows: list[tuple[Any, ...]] = []
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
                    gap * scale,  # elapsed days since the previous review (or the creation)
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
            *(("elapsed_days",) if _HAS_ELAPSED else ()),
        ),
        rows if _HAS_ELAPSED else [row[:-1] for row in rows],
    )


def _insert(model: type[Model], columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """COPY on PostgreSQL (several times faster than INSERTs for a million rows), else bulk_create.

    Columns left out take their model default (scheduler "ladder", early False).
    """
    if connection.vendor != "postgresql":
        model.objects.bulk_create(  # type: ignore[attr-defined]
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--contents", type=int, default=1000, help="contents per user")
    parser.add_argument("--history", type=int, default=10, help="past reviews per content")
    parser.add_argument("--due", type=int, default=100, help="reviews due now for the benchmarked user")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--reset", action="store_true", help="delete the bench accounts first")
    args = parser.parse_args(argv)
    try:
        seed_bench(
            users=args.users,
            contents=args.contents,
            history=args.history,
            due=args.due,
            seed=args.seed,
            reset=args.reset,
        )
    except SeedError as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
