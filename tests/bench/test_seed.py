"""bench/seed.py: the load benchmark's data generator (``make bench``)."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from bench.seed import BENCH_EMAIL, SeedError, seed_bench
from modules.identity import services as identity
from modules.learning.models import Category, Content, ReviewHistory, ReviewSchedule

pytestmark = pytest.mark.django_db


def test_seed_creates_users_contents_history_and_the_due_reviews() -> None:
    out = StringIO()
    seeded = seed_bench(users=3, contents=20, history=4, due=7, out=out)

    bench = identity.User.objects.get(email=BENCH_EMAIL)
    others = identity.User.objects.filter(email__endswith="@bench.resee.local")
    assert seeded.contents == 60 and seeded.history == 240
    assert identity.effective_tier(bench) == "PRO" and bench.is_email_verified
    assert others.count() == 2
    assert all(identity.effective_tier(user) == "FREE" for user in others)
    assert not any(user.has_usable_password() for user in others)  # only the benchmarked user logs in
    assert Category.objects.count() == 12
    assert Content.objects.count() == 60
    assert ReviewSchedule.objects.count() == 60
    assert ReviewHistory.objects.count() == 240
    assert ReviewSchedule.objects.filter(user=bench, next_review_date__lt=timezone.now()).count() == 7
    assert not ReviewHistory.objects.filter(reviewed_at__gt=timezone.now()).exists()
    assert "60 contents, 240 history rows" in out.getvalue()


def test_seed_refuses_to_run_twice_unless_reset_which_replaces_the_bench_accounts() -> None:
    seed_bench(users=2, contents=3, history=1, due=1, out=StringIO())
    first_bench = identity.User.objects.get(email=BENCH_EMAIL)

    with pytest.raises(SeedError, match="exists"):
        seed_bench(users=1, contents=1, history=0, due=0, out=StringIO())
    seed_bench(users=1, contents=2, history=1, due=1, reset=True, out=StringIO())

    assert not identity.User.objects.filter(pk=first_bench.pk).exists()
    assert identity.User.objects.filter(email__endswith="@bench.resee.local").count() == 0
    assert Content.objects.count() == 2
    assert ReviewHistory.objects.count() == 2


@pytest.mark.parametrize(
    "arguments",
    [
        {"users": 0, "contents": 5, "history": 1, "due": 1},
        {"users": 1, "contents": 0, "history": 1, "due": 0},
        {"users": 1, "contents": 5, "history": -1, "due": 1},
        {"users": 1, "contents": 5, "history": 1, "due": 6},
    ],
)
def test_seed_validates_its_arguments(arguments: dict[str, int]) -> None:
    with pytest.raises(SeedError, match="need --users"):
        seed_bench(**arguments, out=StringIO())
    assert not identity.User.objects.exists()


def test_the_script_sets_django_up_and_rejects_bad_arguments_with_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "bench/seed.py", "--users", "1", "--contents", "2", "--due", "3"],
        cwd=Path(settings.BASE_DIR),
        env={**os.environ, "RESEE_TESTING": "1", "SECRET_KEY": "seed-script-test-" + "x" * 40},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "need --users >= 1" in done.stderr
