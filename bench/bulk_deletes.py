"""What bulk deletes cost for the shapes' heavy learner (10,000 contents in 4 categories, 1,000,000
reviews): each measured on a fresh copy of the seeded shapes database, so nothing is changed in it.

    python bench/bulk_deletes.py [--template resee_bench_shapes]

Run with the bench environment of bench/shapes.sh after ``bench/shapes.py seed`` (``DATABASE_URL`` is
the shapes database; the copies are made next to it and dropped). Prints, in seconds:

- contents deleted by one SQL statement (2,500, 5,000, 10,000 of the learner's), each in a transaction
  rolled back: the rollups' triggers' share of a bulk delete;
- ``delete_category`` of the learner's largest category (its contents stay, uncategorised);
- ``delete_account`` of the learner: the erasure the worker runs once the API or the admin has closed
  the account (docs/identity.md, "Account deletion"; the request itself no longer deletes anything).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
HEAVY = "heavy@shapes.bench.resee.local"


def _database_url(name: str) -> str:
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=f"/{name}"))


def _copy(template: str, name: str) -> None:
    url = urlsplit(os.environ["DATABASE_URL"])
    base = ["-h", url.hostname or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres"]
    subprocess.run(["dropdb", *base, "--if-exists", name], check=True)
    subprocess.run(["createdb", *base, "-T", template, name], check=True)


def _drop(name: str) -> None:
    url = urlsplit(os.environ["DATABASE_URL"])
    base = ["-h", url.hostname or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres"]
    subprocess.run(["dropdb", *base, "--if-exists", name], check=True)


def _in_child(database: str, what: str) -> str:
    """Runs ``what`` in a new Python process on ``database`` (Django set up there, migrations applied)."""
    env = {**os.environ, "DATABASE_URL": _database_url(database), "DJANGO_SETTINGS_MODULE": "config.settings"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    done = subprocess.run(
        [sys.executable, __file__, "--child", what],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def _child(what: str) -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection, transaction

    from modules.identity import services as identity
    from modules.learning import services as learning

    user = identity.User.objects.get(email=HEAVY)
    if what == "sql":
        results = []
        for count in (2_500, 5_000, 10_000):
            with transaction.atomic(), connection.cursor() as cursor:
                started = time.perf_counter()
                cursor.execute(
                    "DELETE FROM learning_content WHERE id IN"
                    " (SELECT id FROM learning_content WHERE user_id = %s ORDER BY id LIMIT %s)",
                    [user.pk, count],
                )
                results.append(f"{count}: {time.perf_counter() - started:.3f}")
                transaction.set_rollback(True)
        print("; ".join(results))
    elif what == "category":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT category_id, COUNT(*) FROM learning_content WHERE user_id = %s AND category_id IS NOT NULL"
                " GROUP BY category_id ORDER BY 2 DESC LIMIT 1",
                [user.pk],
            )
            category_id, contents = cursor.fetchone()
        started = time.perf_counter()
        learning.delete_category(user=user, category_id=category_id)
        print(f"{time.perf_counter() - started:.3f} ({contents} contents)")
    elif what == "account":
        started = time.perf_counter()
        identity.delete_account(user=user)
        print(f"{time.perf_counter() - started:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--template", default=urlsplit(os.environ.get("DATABASE_URL", "")).path.lstrip("/"))
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return
    if "bench" not in args.template:
        raise SystemExit(f"refusing to copy {args.template!r}: not a bench database")
    copy = f"{args.template}_bulk"
    try:
        for what, label in (
            ("sql", "contents deleted by one statement (rolled back)"),
            ("category", "delete_category, the largest category"),
            ("account", "delete_account"),
        ):
            _copy(args.template, copy)
            print(f"{label}: {_in_child(copy, what)}", flush=True)
    finally:
        _drop(copy)


if __name__ == "__main__":
    main()
