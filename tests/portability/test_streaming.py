"""A Resee export is read as the import writes it, never whole: the JSON a member and a row at a time
(formats/jsonstream.py), the CSV zip a row at a time, written in batches inside the one transaction.
What must hold: the same rows as a whole read would give, in any key order; every refusal and its
message; nothing kept when the file fails after some batches were written; memory that grows with a
batch, not with the file."""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from modules.identity.testing import make_user
from modules.learning.models import Category, Content, ReviewHistory, ReviewSchedule
from modules.learning.services import portability_import
from modules.portability.formats import bundle, jsonstream
from modules.portability.models import ImportJob
from modules.portability.services import request_import

SECTIONS = ("categories", "contents", "reviews", "ai_questions")


# --- the streaming reader (no database) ----------------------------------------------------------

DOCUMENTS = [
    {"format": "x", "n": -12.5e-3, "big": 12345678901234567890, "t": True, "f": False, "z": None},
    {"contents": [{"title": "ä ✓ \U0001f600 \\u00e9", "body": 'a\nb\t"q"'}, {"x": [1, [2, [3]]]}]},
    {"reviews": [], "contents": [[], {}, "s", 1.0, -0.0], "profile": {"a": {"b": {"c": []}}}},
    {},
    {"reviews": [{"id": i, "v": i / 7, "s": "é" * (i % 5)} for i in range(200)]},
]


def _read_all(path: Path) -> dict[str, Any]:
    read: dict[str, Any] = {}
    for name, value in jsonstream.Members(path, streamed=SECTIONS):
        read[name] = list(value) if isinstance(value, jsonstream.Array) else value
    return read


@pytest.mark.parametrize("window", [1, 3, 64, 1 << 20])
@pytest.mark.parametrize("indent", [None, 2])
@pytest.mark.parametrize("document", DOCUMENTS, ids=range(len(DOCUMENTS)))
def test_the_reader_gives_what_the_standard_decoder_gives_wherever_the_window_cuts(
    document: dict[str, Any], indent: int | None, window: int, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(jsonstream, "READ_CHARS", window)
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(document, indent=indent, ensure_ascii=indent is None), encoding="utf-8")
    assert _read_all(path) == json.loads(path.read_text(encoding="utf-8"))


def test_a_bom_is_allowed_and_unread_arrays_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    path.write_bytes(b'\xef\xbb\xbf{"contents": [1, 2, 3], "after": {"k": 1}}')
    names = [(name, value) for name, value in jsonstream.Members(path, streamed=SECTIONS)]
    assert [name for name, _ in names] == ["contents", "after"]
    assert names[1][1] == {"k": 1}  # the array was skipped unread when the next member was asked for


@pytest.mark.parametrize(
    ("text", "at_start"),
    [
        ('[{"a": 1}]', True),
        ("not json", True),
        ("", True),
        ('{"contents": [1, 2', False),  # cut short
        ('{"contents": [1 2]}', False),  # a missing comma
        ('{"a": 1} trailing', False),
        ('{"a": 1,}', False),
        ('{"a": "' + "x" * 200 + '"}', False),  # over max_value_chars (100 here)
        ('{"contents": [' + "[" * 5000 + "]" * 5000 + "]}", False),  # nested too deeply
    ],
    ids=["array", "text", "empty", "cut", "comma", "trailing", "trailing-comma", "too-long", "deep"],
)
def test_a_document_that_is_not_a_whole_json_object_is_refused(
    text: str, at_start: bool, tmp_path: Path
) -> None:
    path = tmp_path / "doc.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(jsonstream.JsonStreamError) as raised:
        for _, value in jsonstream.Members(path, streamed=SECTIONS, max_value_chars=100):
            if isinstance(value, jsonstream.Array):
                list(value)
    assert raised.value.at_start is at_start


# --- imports through the job -------------------------------------------------------------------------


def _document(*, contents: int, reviews_per: int, body: str = "a body") -> dict[str, Any]:
    now = timezone.now().replace(microsecond=0)
    made = now - timedelta(days=200)
    rows = [
        {
            "id": i + 1,
            "title": f"card {i}",
            "body": body,
            "category": f"deck {i % 3}",
            "created_at": made.isoformat(),
            "updated_at": made.isoformat(),
            "schedule": {
                "stage": 1,
                "next_review_date": (now + timedelta(days=3)).isoformat(),
                "last_reviewed_at": (made + timedelta(days=reviews_per)).isoformat() if reviews_per else None,
                "review_count": reviews_per,
                "interval_days": 3,
                "scheduler": "ladder",
                "stability": None,
                "difficulty": None,
            },
        }
        for i in range(contents)
    ]
    reviews = [
        {
            "id": i * reviews_per + j + 1,
            "content_id": i + 1,
            "result": ("remembered", "partial", "forgot")[j % 3],
            "reviewed_at": (made + timedelta(days=j + 1)).isoformat(),
            "recorded_at": (made + timedelta(days=j + 1)).isoformat(),
            "stage_before": 0,
            "stage_after": 1,
            "interval_days": 3,
            "early": False,
            "retrievability_before": 0.875,
            "scheduler": "ladder",
        }
        for i in range(contents)
        for j in range(reviews_per)
    ]
    return {
        "format": "resee-export",
        "version": 1,
        "exported_at": now.isoformat(),
        "origin": {"instance": "elsewhere", "user_id": 9},
        "profile": None,
        "categories": [{"name": "deck 0", "description": "the first"}],
        "contents": rows,
        "reviews": reviews,
        "ai_questions": [],
    }


def _write(path: Path, document: dict[str, Any], **dumps: Any) -> Path:
    path.write_text(json.dumps(document, **dumps), encoding="utf-8")
    return path


def _imported(user: Any) -> dict[str, Any]:
    return {
        "categories": sorted(Category.objects.filter(user=user).values_list("name", "description")),
        "contents": sorted(Content.objects.filter(user=user).values_list("title", "body", "category__name")),
        "schedules": sorted(ReviewSchedule.objects.filter(user=user).values_list("content__title", "stage")),
        "reviews": sorted(
            ReviewHistory.objects.filter(user=user).values_list("content__title", "result", "reviewed_at")
        ),
    }


def _nothing_kept(user: Any) -> bool:
    return not any(
        model.objects.filter(user=user).exists()
        for model in (Category, Content, ReviewHistory, ReviewSchedule)
    )


@pytest.fixture
def small_batches(monkeypatch) -> None:
    """Batches of 5 rows: a file of a few dozen rows is written in several before it ends."""
    monkeypatch.setattr(portability_import, "CHUNK", 5)


@pytest.mark.django_db
def test_an_export_imports_the_same_whatever_the_order_of_its_keys(
    tmp_path: Path, upload, job_of, small_batches
) -> None:
    document = _document(contents=12, reviews_per=4)
    as_written, reordered = make_user(), make_user()

    first = job_of(
        as_written,
        "imports",
        upload(as_written, _write(tmp_path / "a.json", document), "resee-json").json()["id"],
    )
    # sorted keys put ai_questions first and format, origin and version after the rows, pretty-printed
    second = job_of(
        reordered,
        "imports",
        upload(
            reordered, _write(tmp_path / "b.json", document, sort_keys=True, indent=2), "resee-json"
        ).json()["id"],
    )

    assert first["status"] == second["status"] == "done", (first, second)
    assert first["counts"] == second["counts"]
    assert (first["counts"]["contents_created"], first["counts"]["reviews_imported"]) == (12, 48)
    assert _imported(as_written) == _imported(reordered)
    assert len(_imported(as_written)["categories"]) == 3


@pytest.mark.django_db
def test_a_section_named_twice_is_a_corrupt_file(tmp_path: Path, upload, job_of) -> None:
    path = tmp_path / "twice.json"
    text = json.dumps(_document(contents=1, reviews_per=0))
    path.write_text(text[:-1] + ', "contents": []}', encoding="utf-8")
    user = make_user()
    job = job_of(user, "imports", upload(user, path, "resee-json").json()["id"])
    assert (job["status"], job["error_code"]) == ("failed", "corrupt_file")
    assert "'contents' twice" in job["error"]


@pytest.mark.django_db
def test_a_review_given_twice_fails_the_import_after_batches_were_written_and_keeps_nothing(
    tmp_path: Path, upload, job_of, small_batches
) -> None:
    document = _document(contents=10, reviews_per=3)
    document["reviews"].append(dict(document["reviews"][0]))  # the 31st row repeats the first
    user = make_user()
    job = job_of(
        user, "imports", upload(user, _write(tmp_path / "dup.json", document), "resee-json").json()["id"]
    )
    assert (job["status"], job["error_code"]) == ("failed", "validation_error")
    assert "appears twice" in job["error"]
    assert _nothing_kept(user)


@pytest.mark.django_db
def test_a_json_export_cut_short_fails_after_batches_were_written_and_keeps_nothing(
    tmp_path: Path, upload, job_of, small_batches, settings
) -> None:
    text = json.dumps(_document(contents=10, reviews_per=4), indent=1)
    path = tmp_path / "cut.json"
    path.write_text(text[: text.index('"id": 35')], encoding="utf-8")  # in the middle of the reviews
    user = make_user()
    job = job_of(user, "imports", upload(user, path, "resee-json").json()["id"])
    assert (job["status"], job["error_code"]) == ("failed", "corrupt_file")
    assert "not valid JSON" in job["error"]
    assert _nothing_kept(user)
    assert list(Path(settings.PORTABILITY_UPLOAD_DIR).iterdir()) == []


@pytest.mark.django_db
def test_a_csv_export_with_a_broken_row_fails_after_batches_were_written_and_keeps_nothing(
    tmp_path: Path, upload, job_of, small_batches
) -> None:
    document = _document(contents=10, reviews_per=4)
    header = {key: document[key] for key in ("exported_at", "origin", "profile")}
    sections = {name: document[name] for name in SECTIONS}
    buffer = io.BytesIO()
    bundle.write_csv_zip(buffer, header, sections, lambda: None)
    with (
        zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as source,
        zipfile.ZipFile(path := tmp_path / "x.zip", "w") as target,
    ):
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "reviews.csv":
                data += b"41,1,remembered,not-a-date,,,,2026-01-01T00:00:00+00:00,0,1,3,false,,ladder\r\n"
            target.writestr(info, data)
    user = make_user()
    job = job_of(user, "imports", upload(user, path, "resee-zip").json()["id"])
    assert (job["status"], job["error_code"]) == ("failed", "corrupt_file")
    assert "reviews.40.reviewed_at" in job["error"]
    assert _nothing_kept(user)


@pytest.mark.django_db
def test_an_import_holds_a_batch_of_rows_not_the_file(
    tmp_path: Path, settings, django_capture_on_commit_callbacks
) -> None:
    """Python's allocations while a 5.5 MB export of 20,000 reviews is imported (the job, inline). Before,
    the file was read whole, parsed whole and validated whole: 49.8 MB at the peak; now the reading window,
    a batch and a key per review: 9.4 MB."""
    path = _write(tmp_path / "big.json", _document(contents=200, reviews_per=100))
    user = make_user()
    tracemalloc.start()
    try:
        with path.open("rb") as file, django_capture_on_commit_callbacks(execute=True):
            view = request_import(user=user, kind="resee-json", upload=file, file_name="big.json")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    job = ImportJob.objects.get(pk=view.id)
    assert job.status == "done", (job.error_code, job.error)
    assert job.counts["reviews_imported"] == 20_000
    assert peak < 15e6, f"{peak / 1e6:.1f} MB at the peak for a {path.stat().st_size / 1e6:.1f} MB file"
