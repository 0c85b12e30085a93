"""An Anki package uploaded over HTTP is imported by the real worker; an export is downloaded by its link."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest

from modules.portability.formats import bundle
from modules.portability.testing import AGAIN, GOOD, HARD, Note, Review, build_package
from tests.system.stack import Stack, running

pytestmark = pytest.mark.system

LEARNER = """
from modules.identity.testing import make_user
make_user(email={email!r}, password={password!r}, scheduler="fsrs")
"""
PASSWORD = "a-long-passphrase-1"


def _finished(stack: Stack, access: str, path: str, *, timeout: float) -> dict:
    seen: dict = {}

    def done() -> bool:
        with stack.client(access) as http:
            seen.update(http.get(path).json())
        return seen["status"] in {"done", "failed"}

    stack.wait_until(
        done,
        timeout=timeout,
        what=f"{path} to finish",
        explain=lambda: f"last seen {seen}; {stack.queue_state()} {stack.worker_events()}",
    )
    return seen


def _learner(stack: Stack, email: str) -> str:
    stack.shell(LEARNER.format(email=email, password=PASSWORD))
    return stack.login(email, PASSWORD)


def _upload(stack: Stack, access: str, package: Path) -> str:
    """POSTs the package as an Anki import; answers the job's path."""
    with stack.client(access) as http:
        accepted = http.post(
            "/api/portability/imports/",
            data={"kind": "apkg"},
            files={"file": (package.name, package.read_bytes(), "application/octet-stream")},
        )
    assert accepted.status_code == 202, accepted.text
    return f"/api/portability/imports/{accepted.json()['id']}/"


def _rebuilt_cards(stack: Stack) -> list[int]:
    """The cards each "card memory rebuilt" line of the worker logs says it wrote."""
    written = []
    for line in stack.worker_log_text().splitlines():
        if '"card memory rebuilt"' in line:
            written.append(json.loads(line[line.index("{") :])["written"])
    return written


def _package(path: Path, notes: int) -> Path:
    now = datetime.now(UTC)
    built = []
    for i in range(notes):
        created = now - timedelta(days=60, minutes=i)
        reviews = [
            Review(created + timedelta(days=1 + 3 * step), (AGAIN, HARD, GOOD)[(i + step) % 3])
            for step in range(4)
        ]
        built.append(
            Note([f"<b>word {i}</b>", f"meaning {i}"], created, deck=f"Deck::{i % 3}", reviews=reviews)
        )
    return build_package(path, built, format="anki21b", media=2)


def test_an_uploaded_apkg_is_imported_by_the_worker_and_an_export_downloads(
    stack_factory, tmp_path: Path, record_property
) -> None:
    stack = stack_factory(
        PORTABILITY_EXPORT_DIR=str(tmp_path / "exports"), PORTABILITY_UPLOAD_DIR=str(tmp_path / "uploads")
    )
    package = _package(tmp_path / "deck.apkg", 200)
    with running(stack):
        access = _learner(stack, "anki@example.com")
        start = time.monotonic()
        job = _finished(stack, access, _upload(stack, access, package), timeout=60)
        record_property("import of 200 notes / 800 reviews done in (s)", round(time.monotonic() - start, 1))
        assert job["status"] == "done", job
        assert job["counts"]["contents_created"] == 200 and job["counts"]["reviews_imported"] == 800
        assert job["counts"]["media_skipped"] == 2
        with stack.client(access) as http:
            assert http.get("/api/content/").json()["count"] == 200
            history = http.get("/api/review/history/", params={"page_size": 5}).json()
        assert len(history["results"]) == 5 and history["results"][0]["result"] in {
            "forgot",
            "partial",
            "remembered",
        }
        assert list((tmp_path / "uploads").iterdir()) == []  # the upload is gone once imported
        # the import asked the worker to rebuild the cards' kept memory (a job of its own, after the
        # import's commit): its log line names the 200 cards it wrote
        stack.wait_until(
            lambda: _rebuilt_cards(stack) == [200],
            timeout=30,
            what="the card memory rebuild after the import",
            explain=lambda: f"rebuilds logged {_rebuilt_cards(stack)}; {stack.worker_events()}",
        )
        with stack.client(access) as http:
            simulated = http.get("/api/review/simulation/", params={"days": 30})
        assert simulated.status_code == 200, simulated.text
        assert (simulated.json()["cards"], simulated.json()["sampled_cards"]) == (200, 200)

        start = time.monotonic()
        with stack.client(access) as http:
            export = http.post("/api/portability/exports/", json={"format": "json"})
        assert export.status_code == 202, export.text
        done = _finished(stack, access, f"/api/portability/exports/{export.json()['id']}/", timeout=60)
        assert done["status"] == "done", done
        with stack.client() as anonymous:  # the signed link needs no Authorization header
            downloaded = anonymous.get(done["download_url"])
        record_property("export (JSON) written and downloaded in (s)", round(time.monotonic() - start, 1))
        assert downloaded.status_code == 200
        document = json.loads(downloaded.content)
        assert len(document["contents"]) == 200 and len(document["reviews"]) == 800
        assert {c["external_source"] for c in document["contents"]} == {"anki"}
    assert stack.broker_errors() == []


def test_an_import_past_the_task_timeout_is_failed_with_its_reason_and_keeps_nothing(
    stack_factory, tmp_path: Path, record_property
) -> None:
    """Before: Django-Q2's alarm ended the task, the queue recorded it failed and never ran it again, and
    the job read ``running`` until the prune's ``stale`` six hours later."""
    stack = stack_factory(
        PORTABILITY_EXPORT_DIR=str(tmp_path / "exports"),
        PORTABILITY_UPLOAD_DIR=str(tmp_path / "uploads"),
        Q_TIMEOUT="2",
        Q_RETRY="4",
    )
    package = _package(tmp_path / "big.apkg", 8000)  # 40x the 200 notes the test above imports in 0.5-1.4 s
    with running(stack):
        access = _learner(stack, "hoarder@example.com")
        start = time.monotonic()
        job = _finished(stack, access, _upload(stack, access, package), timeout=60)
        record_property(
            "import stopped at a 2 s task timeout, failed after (s)", round(time.monotonic() - start, 1)
        )
        assert (job["status"], job["error_code"]) == ("failed", "timeout"), job
        assert "took longer than the worker allows (2 s)" in job["error"]
        with stack.client(access) as http:
            assert http.get("/api/content/").json()["count"] == 0  # one transaction: nothing kept
    assert not list((tmp_path / "uploads").glob("*"))  # the upload is removed with the failed job


def test_parallel_requests_to_both_gunicorn_workers_never_pass_the_limit_of_unfinished_jobs(
    stack_factory, tmp_path: Path
) -> None:
    """PORTABILITY_MAX_ACTIVE_JOBS (2) per learner and kind, held across processes (the requests reach
    both gunicorn workers): with no worker yet, 8 parallel exports and 6 parallel imports leave exactly
    2 of each queued, the refused imports store no file; once the cluster has run them, there is room
    again."""
    stack = stack_factory(
        PORTABILITY_EXPORT_DIR=str(tmp_path / "exports"), PORTABILITY_UPLOAD_DIR=str(tmp_path / "uploads")
    )
    csv = b"front,back\nhola,hello\nadios,bye\n"
    with running(stack, worker=False):
        access = _learner(stack, "eager@example.com")

        def export(_: int):
            with stack.client(access) as http:
                return http.post("/api/portability/exports/", json={"format": "csv"})

        def upload(_: int):
            with stack.client(access) as http:
                return http.post(
                    "/api/portability/imports/",
                    data={"kind": "csv"},
                    files={"file": ("w.csv", csv, "text/csv")},
                )

        with ThreadPoolExecutor(8) as pool:
            exports = list(pool.map(export, range(8)))
            imports = list(pool.map(upload, range(6)))
        assert sorted(answer.status_code for answer in exports) == [202] * 2 + [429] * 6, [
            answer.text for answer in exports
        ]
        assert sorted(answer.status_code for answer in imports) == [202] * 2 + [429] * 4
        refused = next(answer for answer in imports if answer.status_code == 429)
        assert refused.json()["code"] == "throttled" and int(refused.headers["Retry-After"]) > 0
        assert len(list((tmp_path / "uploads").iterdir())) == 2  # the refused stored nothing

        stack.start_worker()
        accepted = [
            f"/api/portability/exports/{a.json()['id']}/" for a in exports if a.status_code == 202
        ] + [f"/api/portability/imports/{a.json()['id']}/" for a in imports if a.status_code == 202]
        for path in accepted:
            assert _finished(stack, access, path, timeout=60)["status"] == "done"
        assert export(0).status_code == 202  # finished jobs free their places


def test_racing_retries_of_an_import_with_one_key_import_once_through_the_real_worker(
    stack_factory, tmp_path: Path
) -> None:
    """An upload retried with one Idempotency-Key, 6 times at once across gunicorn's two workers and
    once more after its job finished: one job, run once by the cluster, the file's rows imported once,
    and no retry's upload left behind."""
    stack = stack_factory(
        PORTABILITY_EXPORT_DIR=str(tmp_path / "exports"), PORTABILITY_UPLOAD_DIR=str(tmp_path / "uploads")
    )
    csv = b"front,back\nhola,hello\nadios,bye\n"
    with running(stack):
        access = _learner(stack, "retrier@example.com")

        def upload(_: int):
            with stack.client(access) as http:
                return http.post(
                    "/api/portability/imports/",
                    data={"kind": "csv"},
                    files={"file": ("w.csv", csv, "text/csv")},
                    headers={"Idempotency-Key": "upload-1"},
                )

        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(upload, range(6)))
        assert [answer.status_code for answer in answers] == [202] * 6, [answer.text for answer in answers]
        (job_id,) = {answer.json()["id"] for answer in answers}
        job = _finished(stack, access, f"/api/portability/imports/{job_id}/", timeout=60)
        assert job["status"] == "done" and job["counts"]["contents_created"] == 2, job

        again = upload(0)
        assert again.status_code == 202 and again.json()["id"] == job_id
        assert again.json()["status"] == "done"
        with stack.client(access) as http:
            assert http.get("/api/content/").json()["count"] == 2
        assert list((tmp_path / "uploads").iterdir()) == []
    assert stack.broker_errors() == []


def _export_file(stack: Stack, access: str, fmt: str) -> bytes:
    with stack.client(access) as http:
        created = http.post("/api/portability/exports/", json={"format": fmt})
    assert created.status_code == 202, created.text
    done = _finished(stack, access, f"/api/portability/exports/{created.json()['id']}/", timeout=60)
    assert done["status"] == "done", done
    with stack.client() as anonymous:
        return anonymous.get(done["download_url"]).content


def _import_file(stack: Stack, access: str, data: bytes, kind: str, name: str) -> dict:
    with stack.client(access, timeout=120) as http:
        accepted = http.post(
            "/api/portability/imports/",
            data={"kind": kind},
            files={"file": (name, data, "application/octet-stream")},
        )
    assert accepted.status_code == 202, accepted.text
    return _finished(stack, access, f"/api/portability/imports/{accepted.json()['id']}/", timeout=120)


def _comparable(document: dict) -> dict:
    """An export without what differs between two accounts holding the same data."""
    for key in ("exported_at", "origin", "profile"):
        document.pop(key)
    for row in document["contents"] + document["reviews"]:
        for key in ("id", "content_id", "external_source", "external_id"):
            row.pop(key, None)
    return document


def _worker_peaks(stack: Stack) -> dict[int, int]:
    """VmHWM (bytes) of every process of the worker's cluster."""
    assert stack.worker is not None
    master = psutil.Process(stack.worker.pid)
    peaks = {}
    for process in [master, *master.children(recursive=True)]:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
        except OSError:
            continue
        peaks[process.pid] = next(
            int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmHWM")
        )
    return peaks


def test_both_exports_reimport_as_they_were_and_a_large_json_is_streamed_by_the_worker(
    stack_factory, tmp_path: Path, record_property
) -> None:
    """The worker reads a Resee export as it writes it (before, whole: a file's size several times over
    in memory, 2.8 GB for a million reviews). Each export, imported into another account, exports again
    to the same rows; a 54 MB JSON export of long notes grows the worker by a batch, not by the file."""
    stack = stack_factory(
        PORTABILITY_EXPORT_DIR=str(tmp_path / "exports"), PORTABILITY_UPLOAD_DIR=str(tmp_path / "uploads")
    )
    with running(stack):
        source = _learner(stack, "source@example.com")
        assert (
            _finished(
                stack, source, _upload(stack, source, _package(tmp_path / "deck.apkg", 150)), timeout=60
            )["status"]
            == "done"
        )
        for fmt, kind in (("json", "resee-json"), ("csv", "resee-zip")):
            exported = _export_file(stack, source, fmt)
            copy = _learner(stack, f"copy-{fmt}@example.com")
            job = _import_file(stack, copy, exported, kind, f"export.{fmt}")
            assert job["status"] == "done", job
            assert (job["counts"]["contents_created"], job["counts"]["reviews_imported"]) == (150, 600)
            again = json.loads(_export_file(stack, copy, "json"))
            assert _comparable(again) == _comparable(json.loads(_export_file(stack, source, "json")))

        now = datetime.now(UTC)
        body = " ".join(f"word{i % 997}" for i in range(6000))[:50_000]
        rows = (
            {
                "id": i + 1,
                "title": f"long note {i}",
                "body": f"{i} {body}"[:50_000],
                "category": None,
                "created_at": now - timedelta(days=3),
                "updated_at": now - timedelta(days=3),
                "schedule": None,
            }
            for i in range(1200)
        )
        large = tmp_path / "large.json"
        with large.open("w", encoding="utf-8") as text:
            header = {"exported_at": now, "origin": {"instance": "elsewhere", "user_id": 5}, "profile": None}
            bundle.write_json(text, header, {"contents": rows}, lambda: None)
        reader = _learner(stack, "reader@example.com")
        before = _worker_peaks(stack)
        start = time.monotonic()
        job = _import_file(stack, reader, large.read_bytes(), "resee-json", "large.json")
        assert job["status"] == "done" and job["counts"]["contents_created"] == 1200, job
        growth = max(peak - before.get(pid, 0) for pid, peak in _worker_peaks(stack).items())
        size = large.stat().st_size
        record_property("54 MB JSON export imported in (s)", round(time.monotonic() - start, 1))
        record_property("worker growth importing it (MB)", round(growth / 2**20, 1))
        assert growth < size / 2, (
            f"the worker grew by {growth / 2**20:.0f} MB for a {size / 2**20:.0f} MB file"
        )


def test_no_process_of_the_cluster_finalizes_a_redis_connection_it_inherited(
    stack_factory, tmp_path: Path
) -> None:
    """Before (session 26's lost alarm): a worker finalized a connection its parent had opened, in the
    middle of an import, where a task alarm arriving during that collection is lost. Forked processes
    now retire what they inherit at the fork (modules/common/forks.py). Every process of the stack logs
    such finalizers (tests/system/finalizers/sitecustomize.py) while the worker imports 8,000 notes."""
    finalized = tmp_path / "finalized"
    finalized.mkdir()
    stack = stack_factory(
        PORTABILITY_EXPORT_DIR=str(tmp_path / "exports"),
        PORTABILITY_UPLOAD_DIR=str(tmp_path / "uploads"),
        PYTHONPATH=str(Path(__file__).parent / "finalizers"),
        RESEE_FINALIZER_LOG=str(finalized),
    )
    package = _package(tmp_path / "big.apkg", 8000)
    with running(stack):
        access = _learner(stack, "collector@example.com")
        job = _finished(stack, access, _upload(stack, access, package), timeout=120)
        assert job["status"] == "done", job
    lines = [line for log in sorted(finalized.glob("*.log")) for line in log.read_text().splitlines()]
    assert lines == []
