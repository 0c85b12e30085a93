"""Portability at scale: the heavy learner's export -> import round trip on the real worker
(docs/benchmarks.md, "Portability at scale").

    python bench/portability_scale.py seed [--questions 20000]
    python bench/portability_scale.py roundtrip [--formats json csv] [--q-timeout S] [--upload-limit B] OUT.json
    python bench/portability_scale.py worst-case [--kind json|zip] [--megabytes 200] OUT.json
    python bench/portability_scale.py anki [--notes 10000] [--reviews-per-note 100] [--format anki21b] OUT.json

``seed`` creates, unless present, bench/shapes.py's heavy learner (10,000 contents, 1,000,000 reviews
over three years, bench/seed.py) with ``--questions`` AI questions. ``roundtrip`` exports that learner
(JSON, then the CSV zip) and imports each file into a new account, every job run by a real
``manage.py qcluster`` started for it (its own environment: ``Q_TIMEOUT`` default 120 s unless
``--q-timeout``), the jobs requested through the module's services (``request_export``,
``request_import``: the upload's checks and copy, in this process) and the results read from the
database. For each job: wall time, the file's size, the peak RSS (``VmHWM``) of every process of the
cluster (sampled every 0.2 s; the worker that ran the task is the largest), and for an import whether
it matches the learner (contents, reviews, categories and questions by count, and a hash of every
field a re-import must keep). ``worst-case`` builds the largest upload ``PORTABILITY_MAX_UPLOAD_BYTES``
allows — a JSON export of contents with 50,000-character bodies, or a CSV zip expanding to
``PORTABILITY_MAX_EXPANDED_BYTES`` — and imports it the same way. ``anki`` builds an Anki package of
``--notes`` notes with ``--reviews-per-note`` reviews each over three years (a million by default, the
heavy learner's size) and imports it twice into a new account (the second finds everything known).

Run with the bench environment: ``DATABASE_URL`` naming a database that contains "bench" (never the
lead's ``resee_bench_shapes``), ``REDIS_URL``, ``DEBUG=0`` and a ``SECRET_KEY``. Prints and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script: set Django up before the imports below need it
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["Q_SYNC"] = "0"  # tasks go to the broker; the cluster started below runs them
    import django

    django.setup()

import psutil
from django.conf import settings
from django.db import connection

from bench.seed import WORDS, analyze, seed_learner
from bench.shapes import HEAVY, LEARNERS
from modules.ai.models import AIQuestion
from modules.identity import services as identity
from modules.identity.testing import make_user
from modules.learning.models import Content
from modules.portability import services
from modules.portability.models import ExportJob, ImportJob

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024
SAMPLE_SECONDS = 0.2


# --- the cluster ------------------------------------------------------------------------------------


class Cluster:
    """``manage.py qcluster`` in its own session, and the peak RSS of each of its processes."""

    def __init__(self, log: Path, **env: str) -> None:
        self.log = log
        self.env = {**os.environ, **env}
        self.env.pop("Q_SYNC", None)
        self.peaks: dict[int, tuple[str, int]] = {}  # pid -> (role, VmHWM bytes)
        self.ran: set[int] = set()  # the worker processes seen running a task
        self._stop = threading.Event()
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Cluster:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while "running" not in self.log.read_text(errors="replace"):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit(f"the cluster did not start: {self.log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)
        self.sample()
        self.idle = self.peak()
        self._thread = threading.Thread(target=self._sampling, daemon=True)
        self._thread.start()
        return self

    def _family(self) -> list[psutil.Process]:
        assert self.process is not None
        try:
            master = psutil.Process(self.process.pid)
            return [master, *master.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def sample(self) -> None:
        for process in self._family():
            try:
                status = Path(f"/proc/{process.pid}/status").read_text()
                hwm = next(
                    int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmHWM")
                )
                role = " ".join(process.cmdline()[1:4])[:80] or process.name()
            except (OSError, StopIteration, psutil.Error):
                continue
            previous = self.peaks.get(process.pid, ("", 0))[1]
            self.peaks[process.pid] = (role, max(previous, hwm))
            if "processing" in role:
                self.ran.add(process.pid)

    def _sampling(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self.sample()

    def peak(self) -> int:
        return max((hwm for _, hwm in self.peaks.values()), default=0)

    def task_peak(self) -> int | None:
        """The peak of the worker process that ran the task (None if no sample caught it running)."""
        return max((self.peaks[pid][1] for pid in self.ran), default=None)

    def __exit__(self, *exc: object) -> None:
        self.sample()
        self._stop.set()
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # our own cluster's session only
            self.process.wait(timeout=10)


def _wait(model: type[ExportJob] | type[ImportJob], job_id: int, *, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        job = model.objects.get(pk=job_id)
        if job.status in {"done", "failed"}:
            return job
        if time.monotonic() > deadline:
            raise SystemExit(f"{model.__name__} {job_id} still {job.status} after {timeout} s")
        time.sleep(0.2)


def _run_job(
    label: str,
    request: Callable[[], Any],
    model: type[ExportJob] | type[ImportJob],
    cluster_env: dict[str, str],
) -> tuple[Any, dict[str, Any]]:
    """Starts a cluster, requests the job, waits for its end; the job and what was measured."""
    log = Path(tempfile.gettempdir()) / f"portability-scale-{os.getpid()}-{label}.log"
    with Cluster(log, **cluster_env) as cluster:
        began = time.perf_counter()
        view = request()
        requested = time.perf_counter() - began
        job = _wait(model, view.id, timeout=4 * 3600)
        wall = time.perf_counter() - began
    worker_seconds = (job.finished_at - job.started_at).total_seconds() if job.started_at else None
    measured = {
        "job": label,
        "status": job.status,
        "error_code": job.error_code or None,
        "error": job.error or None,
        "request_seconds": round(requested, 2),
        "wall_seconds": round(wall, 1),
        "worker_seconds": round(worker_seconds, 1) if worker_seconds is not None else None,
        "cluster_idle_peak_rss_mb": round(cluster.idle / MB),
        "worker_peak_rss_mb": round(cluster.peak() / MB),  # any process of the cluster
        "task_process_peak_rss_mb": round(cluster.task_peak() / MB) if cluster.task_peak() else None,
        "peaks_mb": sorted(
            (
                {"pid": pid, "role": role, "vmhwm_mb": round(hwm / MB)}
                for pid, (role, hwm) in cluster.peaks.items()
            ),
            key=lambda row: -row["vmhwm_mb"],
        )[:4],
        "cluster_log": str(log),
    }
    print(json.dumps(measured), flush=True)
    return job, measured


# --- what must match --------------------------------------------------------------------------------

_CONTENT_FIELDS = """
    c.title || '|' || c.body || '|' || coalesce(k.name, '') || '|' || c.created_at::text || '|'
    || c.updated_at::text || '|' || s.stage || '|' || s.next_review_date::text || '|'
    || coalesce(s.last_reviewed_at::text, '') || '|' || s.review_count || '|' || s.interval_days || '|'
    || s.scheduler || '|' || coalesce(s.stability::text, '') || '|' || coalesce(s.difficulty::text, '')
"""
_REVIEW_FIELDS = """
    c.title || '#' || c.created_at::text || '|' || h.result || '|' || h.reviewed_at::text || '|'
    || h.recorded_at::text || '|' || h.stage_before || '|' || h.stage_after || '|' || h.interval_days || '|'
    || h.early || '|' || coalesce(h.retrievability_before::text, '') || '|' || h.scheduler || '|'
    || coalesce(h.time_spent_seconds::text, '')
"""


def fingerprint(user_id: int) -> dict[str, Any]:
    """Counts, and an order-free hash of every field a lossless re-import keeps (ids and keys aside)."""
    queries = {
        "categories": "SELECT count(*), md5(coalesce(string_agg(name || '|' || description, ',' ORDER BY name), ''))"
        " FROM learning_category WHERE user_id = %s",
        "contents": f"SELECT count(*), md5(coalesce(string_agg(x, ',' ORDER BY x), '')) FROM (SELECT {_CONTENT_FIELDS}"
        " AS x FROM learning_content c LEFT JOIN learning_category k ON k.id = c.category_id"
        " LEFT JOIN learning_reviewschedule s ON s.content_id = c.id WHERE c.user_id = %s) t",
        "reviews": f"SELECT count(*), md5(coalesce(string_agg(x, ',' ORDER BY x), '')) FROM (SELECT {_REVIEW_FIELDS}"
        " AS x FROM learning_reviewhistory h JOIN learning_content c ON c.id = h.content_id"
        " WHERE h.user_id = %s) t",
        "ai_questions": "SELECT count(*), md5(coalesce(string_agg(x, ',' ORDER BY x), '')) FROM (SELECT c.title"
        " || '|' || q.type || '|' || q.question || '|' || q.correct_answer || '|' || q.options::text AS x"
        " FROM ai_aiquestion q JOIN learning_content c ON c.id = q.content_id WHERE q.user_id = %s) t",
    }
    result = {}
    with connection.cursor() as cursor:
        for name, sql in queries.items():
            cursor.execute(sql, [user_id])
            count, digest = cursor.fetchone()
            result[name] = {"count": count, "md5": digest}
    return result


# --- commands ---------------------------------------------------------------------------------------


def _heavy() -> identity.User:
    return identity.User.objects.get(email=HEAVY)


def seed(questions: int) -> None:
    email, contents, history, due, age = next(row for row in LEARNERS if row[0] == HEAVY)
    if identity.User.objects.filter(email=email).exists():
        print(f"{email}: exists")
    else:
        began = time.perf_counter()
        seed_learner(
            email=email, contents=contents, history=history, due=due, age_days=age, marked=5, seed=101
        )
        print(f"{email}: {contents} contents x {history} reviews in {time.perf_counter() - began:.1f}s")
    user = _heavy()
    missing = questions - AIQuestion.objects.filter(user=user).count()
    if missing > 0:
        rng = random.Random(7)
        ids = list(Content.objects.filter(user=user).order_by("id").values_list("id", flat=True))
        now = datetime.now(UTC)
        AIQuestion.objects.bulk_create(
            [
                AIQuestion(
                    user=user,
                    content_id=ids[index % len(ids)],
                    type="multiple_choice",
                    question=f"Which word completes sentence {index}? {' '.join(rng.choices(WORDS, k=12))}",
                    options=rng.sample(WORDS, 4),
                    correct_answer=rng.choice(WORDS),
                    explanation=" ".join(rng.choices(WORDS, k=20)),
                    difficulty="intermediate",
                    provider="local",
                    model="bench",
                    tokens_used=300,
                    generation_time_ms=900,
                    created_at=now - timedelta(minutes=index),
                )
                for index in range(missing)
            ],
            batch_size=5000,
        )
        print(f"{missing} AI questions added")
    analyze()


def _cluster_env(q_timeout: int | None) -> dict[str, str]:
    if q_timeout is None:
        return {}
    return {"Q_TIMEOUT": str(q_timeout), "Q_RETRY": str(q_timeout + 60)}


def _import(
    path: Path, kind: str, label: str, cluster_env: dict[str, str]
) -> tuple[Any, dict[str, Any], Any]:
    target = make_user(email=f"{label}-{time.time_ns()}@scale.bench.resee.local", tier="PRO", password=None)  # type: ignore[arg-type]
    return _import_into(target, path, kind, label, cluster_env)


def _import_into(
    target: Any, path: Path, kind: str, label: str, cluster_env: dict[str, str]
) -> tuple[Any, dict[str, Any], Any]:
    def request() -> Any:
        with path.open("rb") as upload:
            return services.request_import(user=target, kind=kind, upload=upload, file_name=path.name)

    try:
        job, measured = _run_job(label, request, ImportJob, cluster_env)
    except Exception as exc:  # a refused upload (FileRejected): what it said
        measured = {"job": label, "status": "refused", "error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(measured), flush=True)
        return None, measured, target
    measured["counts"] = job.counts
    return job, measured, target


def roundtrip(formats: list[str], q_timeout: int | None, upload_limit: int | None) -> dict[str, Any]:
    if upload_limit is not None:
        settings.PORTABILITY_MAX_UPLOAD_BYTES = upload_limit  # the upload's check runs in this process
    env = _cluster_env(q_timeout)
    heavy = _heavy()
    source = fingerprint(heavy.pk)
    results: dict[str, Any] = {
        "learner": HEAVY,
        "source": source,
        "q_timeout": q_timeout or settings.Q_CLUSTER["timeout"],
        "upload_limit": settings.PORTABILITY_MAX_UPLOAD_BYTES,
        "runs": [],
    }
    print(json.dumps({"source": source}), flush=True)
    for fmt in formats:
        ExportJob.objects.filter(user=heavy).delete()  # the limit of unfinished jobs: start from none
        job, exported = _run_job(
            f"export-{fmt}", lambda fmt=fmt: services.request_export(user=heavy, format=fmt), ExportJob, env
        )
        exported["file_mb"] = round((job.size_bytes or 0) / MB, 1)
        run: dict[str, Any] = {"format": fmt, "export": exported}
        if job.status == "done":
            path = Path(settings.PORTABILITY_EXPORT_DIR) / job.file_name
            kind = "resee-json" if fmt == "json" else "resee-zip"
            imported, measured, target = _import(path, kind, f"import-{fmt}", env)
            if imported is not None and imported.status == "done":
                copy = fingerprint(target.pk)
                measured["matches"] = {name: copy[name] == source[name] for name in source}
                measured["imported"] = copy
            run["import"] = measured
            identity.delete_account(user=target)
            path.unlink(missing_ok=True)
        results["runs"].append(run)
    return results


def _body(rng: random.Random, length: int) -> str:
    words: list[str] = []
    size = 0
    while size < length:
        word = rng.choice(WORDS) + str(rng.randrange(1000))  # a little entropy, like real text
        words.append(word)
        size += len(word) + 1
    return " ".join(words)[:length]


def worst_case(kind: str, megabytes: int, q_timeout: int | None) -> dict[str, Any]:
    """The largest upload the limits allow, of contents with bodies of 50,000 characters."""
    from modules.portability.formats import bundle

    rng = random.Random(3)
    now = datetime.now(UTC)
    limit = megabytes * MB
    header = {"exported_at": now, "origin": {"instance": "worst-case", "user_id": 1}, "profile": None}

    def contents(count: int) -> Any:
        body = _body(rng, 50_000)
        for index in range(count):
            yield {
                "id": index + 1,
                "title": f"Long note {index}",
                "body": f"{index} {body[len(str(index)) + 1 :]}",
                "category": f"Big {index % 10}",
                "created_at": now - timedelta(days=30),
                "updated_at": now - timedelta(days=30),
                "external_source": None,
                "external_id": None,
                "schedule": None,
            }

    folder = Path(tempfile.mkdtemp(prefix="portability-worst-"))
    if kind == "json":
        path = folder / "worst.json"
        sample = len(json.dumps(next(contents(1)), default=str).encode()) + 2  # a row, its comma and newline
        count = (limit - MB) // sample  # a megabyte to spare: titles grow with the index
        with path.open("w", encoding="utf-8") as text:
            bundle.write_json(text, header, {"contents": contents(count)}, lambda: None)
    else:
        # A CSV zip expanding to PORTABILITY_MAX_EXPANDED_BYTES: bodies compress about 4x, so the limit on
        # what a zip may expand to, not the upload's, is reached first with bodies that repeat a little.
        path = folder / "worst.zip"
        count = (int(settings.PORTABILITY_MAX_EXPANDED_BYTES) - MB) // 50_200
        with path.open("wb") as binary:
            bundle.write_csv_zip(binary, header, {"contents": contents(count)}, lambda: None)
        with zipfile.ZipFile(path) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
        print(json.dumps({"zip_expanded_mb": round(expanded / MB)}), flush=True)
    size = path.stat().st_size
    print(json.dumps({"worst_case": kind, "contents": count, "file_mb": round(size / MB, 1)}), flush=True)
    _, measured, target = _import(
        path, "resee-json" if kind == "json" else "resee-zip", f"worst-{kind}", _cluster_env(q_timeout)
    )
    identity.delete_account(user=target)
    path.unlink()
    folder.rmdir()
    return {"kind": kind, "contents": count, "file_mb": round(size / MB, 1), "import": measured}


def anki_package(notes: int, per_note: int, fmt: str, q_timeout: int | None) -> dict[str, Any]:
    """A power user's Anki collection (``notes`` x ``per_note`` reviews over three years), imported by
    the worker into a new account, then again (every note and review known: skipped)."""
    from modules.portability.testing import AGAIN, EASY, GOOD, HARD, Note, Review, build_package

    rng = random.Random(11)
    now = datetime.now(UTC)
    built = []
    for index in range(notes):
        created = now - timedelta(days=1095) + timedelta(minutes=rng.randrange(0, 30 * 24 * 60))
        span = (now - created).total_seconds() - 3600
        moments = sorted(rng.uniform(0, span) for _ in range(per_note))
        reviews = [
            Review(
                created + timedelta(seconds=moment),
                rng.choices([AGAIN, HARD, GOOD, EASY], weights=[12, 8, 70, 10])[0],
                ms=rng.randrange(2000, 30000),
            )
            for moment in moments
        ]
        fields = [
            f"<div>Term <b>{index}</b>: {' '.join(rng.choices(WORDS, k=3))}</div>",
            " ".join(rng.choices(WORDS, k=25)),
        ]
        built.append(Note(fields, created, deck=f"Languages::Deck {index % 20}", reviews=reviews))
    folder = Path(tempfile.mkdtemp(prefix="portability-anki-"))
    path = folder / "collection.apkg"
    began = time.perf_counter()
    build_package(path, built, format=fmt, media=25)  # type: ignore[arg-type]
    del built
    size = path.stat().st_size
    print(
        json.dumps(
            {"anki_built_seconds": round(time.perf_counter() - began, 1), "file_mb": round(size / MB, 1)}
        ),
        flush=True,
    )
    env = _cluster_env(q_timeout)
    results: dict[str, Any] = {
        "notes": notes,
        "reviews": notes * per_note,
        "format": fmt,
        "file_mb": round(size / MB, 1),
    }
    job, measured, target = _import(path, "apkg", "import-anki", env)
    results["import"] = measured
    if job is not None and job.status == "done":
        results["imported"] = fingerprint(target.pk)
        _job, again, _ = _import_into(target, path, "apkg", "reimport-anki", env)
        results["reimport"] = again
    identity.delete_account(user=target)
    path.unlink()
    folder.rmdir()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    seeding = commands.add_parser("seed")
    seeding.add_argument("--questions", type=int, default=20_000)
    trip = commands.add_parser("roundtrip")
    trip.add_argument("out", type=Path)
    trip.add_argument("--formats", nargs="+", default=["json", "csv"], choices=["json", "csv"])
    trip.add_argument(
        "--q-timeout", type=int, default=None, help="the cluster's Q_TIMEOUT (Q_RETRY 60 s more)"
    )
    trip.add_argument(
        "--upload-limit", type=int, default=None, help="PORTABILITY_MAX_UPLOAD_BYTES for the upload"
    )
    worst = commands.add_parser("worst-case")
    worst.add_argument("out", type=Path)
    worst.add_argument("--kind", choices=["json", "zip"], default="json")
    worst.add_argument("--megabytes", type=int, default=200)
    worst.add_argument("--q-timeout", type=int, default=None)
    ankis = commands.add_parser("anki")
    ankis.add_argument("out", type=Path)
    ankis.add_argument("--notes", type=int, default=10_000)
    ankis.add_argument("--reviews-per-note", type=int, default=100)
    ankis.add_argument("--format", default="anki21b", choices=["anki2", "anki21", "anki21b"])
    ankis.add_argument("--q-timeout", type=int, default=None)
    args = parser.parse_args()
    name = settings.DATABASES["default"]["NAME"]
    if "bench" not in name or name == "resee_bench_shapes":
        raise SystemExit(f"refusing database {name!r}: use a bench database of your own")
    if args.command == "seed":
        seed(args.questions)
        return
    started = datetime.now(UTC).isoformat(timespec="seconds")
    if args.command == "roundtrip":
        results = roundtrip(args.formats, args.q_timeout, args.upload_limit)
    elif args.command == "anki":
        results = anki_package(args.notes, args.reviews_per_note, args.format, args.q_timeout)
    else:
        results = worst_case(args.kind, args.megabytes, args.q_timeout)
    results["started_at"] = started
    results["load_average"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str))
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
