"""An Anki collection of 10,000 notes and 100,000 reviews: build it, import it, import it again, export it.

    createdb -h 127.0.0.1 -U postgres resee_bench_anki
    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/resee_bench_anki .venv/bin/python manage.py migrate
    DEBUG=1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/resee_bench_anki \\
        .venv/bin/python bench/anki_import.py [--notes 10000] [--reviews 100000] [--format anki21b]
        [--scheduler fsrs]

Builds a real ``.apkg`` (genanki, then the review log written with sqlite3; ``anki21b``: schema 18,
zstd) with the notes spread over 20 decks and their reviews over the last two years, then runs the
import as the worker does (``request_import`` with the queue inline: upload checks, reading the
package, one transaction of bulk writes), the same import again (idempotent: everything skipped), and
a JSON and a CSV export of the account. Prints sizes, wall times and counts as JSON. The learner it
creates is deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["Q_SYNC"] = "1"  # the task runs inline, in this process, when its transaction commits


def build(path: Path, *, notes: int, reviews: int, fmt: str, seed: int) -> list:
    from modules.portability.testing import AGAIN, EASY, GOOD, HARD, Note, Review, build_package

    rng = random.Random(seed)
    now = datetime.now(UTC)
    per_note = [0] * notes
    for _ in range(reviews):
        per_note[rng.randrange(notes)] += 1
    built = []
    for i in range(notes):
        created = now - timedelta(days=730) + timedelta(minutes=rng.randrange(0, 365 * 24 * 60))
        at = created
        history = []
        interval = 1.0
        for _ in range(per_note[i]):
            at = at + timedelta(days=interval * rng.uniform(0.8, 1.3), minutes=rng.randrange(1, 600))
            if at > now:
                break
            ease = rng.choices([AGAIN, HARD, GOOD, EASY], weights=[12, 8, 70, 10])[0]
            interval = 1.0 if ease == AGAIN else min(interval * (1.2 if ease == HARD else 2.5), 30.0)
            history.append(Review(at, ease, ms=rng.randrange(2000, 30000)))
        fields = [
            f"<div>Term <b>{i}</b>: {rng.choice(['la casa', 'el perro', 'der Hund', 'le chat'])}</div>",
            f"Meaning {i}<br>with an example sentence &amp; a note about usage number {i}.",
        ]
        built.append(Note(fields, created, deck=f"Languages::Deck {i % 20}", reviews=history))
    build_package(path, built, format=fmt, media=25)  # type: ignore[arg-type]
    return built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notes", type=int, default=10_000)
    parser.add_argument("--reviews", type=int, default=100_000)
    parser.add_argument("--format", default="anki21b", choices=["anki2", "anki21", "anki21b"])
    parser.add_argument("--scheduler", default="fsrs", choices=["ladder", "fsrs"])
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings

    from modules.identity.testing import make_user
    from modules.learning import services as learning
    from modules.portability import services
    from modules.portability.formats import anki
    from modules.portability.models import ExportJob, ImportJob
    from modules.portability.services.files import archive_limits

    results: dict[str, object] = {
        "notes": args.notes,
        "reviews_requested": args.reviews,
        "format": args.format,
    }
    with tempfile.TemporaryDirectory(prefix="resee-bench-") as tmp:
        folder = Path(tmp)
        settings.PORTABILITY_EXPORT_DIR = folder / "exports"
        settings.PORTABILITY_UPLOAD_DIR = folder / "uploads"
        package = folder / "collection.apkg"
        start = time.perf_counter()
        built = build(package, notes=args.notes, reviews=args.reviews, fmt=args.format, seed=args.seed)
        results["build_seconds"] = round(time.perf_counter() - start, 2)
        results["reviews_in_log"] = sum(len(note.reviews) for note in built)
        results["apkg_bytes"] = package.stat().st_size

        start = time.perf_counter()
        parsed = anki.read_package(package, limits=archive_limits(), now=datetime.now(UTC))
        results["read_package_seconds"] = round(time.perf_counter() - start, 2)
        results["collection"] = parsed.collection

        user = make_user(email=f"bench-anki-{time.time_ns()}@example.com", scheduler=args.scheduler)
        try:
            for label in ("import", "reimport"):
                start = time.perf_counter()
                with package.open("rb") as upload:
                    view = services.request_import(
                        user=user, kind="apkg", upload=upload, file_name=package.name
                    )
                results[f"{label}_seconds"] = round(time.perf_counter() - start, 2)
                job = ImportJob.objects.get(pk=view.id)
                assert job.status == "done", (job.error_code, job.error)
                results[f"{label}_counts"] = job.counts
            counts = learning.learning_data_counts(user=user)
            results["account"] = {"contents": counts.contents, "reviews": counts.reviews}
            for fmt in ("json", "csv"):
                start = time.perf_counter()
                view = services.request_export(user=user, format=fmt)
                results[f"export_{fmt}_seconds"] = round(time.perf_counter() - start, 2)
                results[f"export_{fmt}_bytes"] = ExportJob.objects.get(pk=view.id).size_bytes
        finally:
            user.delete()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
