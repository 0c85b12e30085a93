"""CSV files and Anki's plain-text export."""

from __future__ import annotations

from pathlib import Path

import pytest

from modules.identity.testing import make_user
from modules.learning.models import Content

pytestmark = pytest.mark.django_db


def imported(user) -> list[tuple[str, str, str | None]]:
    rows = Content.objects.filter(user=user).order_by("id").values_list("title", "body", "category__name")
    return list(rows)


def test_a_csv_with_a_header_maps_its_columns(tmp_path: Path, upload, job_of) -> None:
    path = tmp_path / "words.csv"
    path.write_text(
        'deck,back,front\nSpanish,"hello, friend",hola\nSpanish,bye,adiós\n,,\n', encoding="utf-8"
    )
    user = make_user()

    job = job_of(user, "imports", upload(user, path, "csv").json()["id"])

    assert job["status"] == "done" and job["counts"]["rows"] == 2
    assert imported(user) == [("hola", "hello, friend", "Spanish"), ("adiós", "bye", "Spanish")]


def test_an_anki_text_export_honours_its_header_lines(tmp_path: Path, upload, job_of) -> None:
    path = tmp_path / "notes.txt"
    path.write_text(
        "#separator:tab\n#html:true\n#guid column:1\n#notetype column:2\n#deck column:3\n"
        "g1\tBasic\tFrench\t<b>chat</b>\tcat<br>animal\n"
        "g2\tBasic\tFrench\tchien\tdog\n",
        encoding="utf-8",
    )
    user = make_user()

    upload(user, path, "csv")
    again = job_of(user, "imports", upload(user, path, "csv").json()["id"])

    assert imported(user) == [("chat", "cat\nanimal", "French"), ("chien", "dog", "French")]
    assert again["counts"]["contents_skipped"] == 2  # keyed by their guids


def test_a_headerless_csv_is_title_then_body_and_imports_once(tmp_path: Path, upload, job_of) -> None:
    path = tmp_path / "plain.csv"
    path.write_bytes("\ufeffphotosynthesis;light to sugar;in leaves\nosmosis;water moves\n".encode())
    user = make_user()

    upload(user, path, "csv")
    again = job_of(user, "imports", upload(user, path, "csv").json()["id"])

    assert imported(user) == [
        ("photosynthesis", "light to sugar\n\nin leaves", None),
        ("osmosis", "water moves", None),
    ]
    assert again["counts"]["contents_created"] == 0


def test_a_csv_that_is_not_utf8_fails_the_job(tmp_path: Path, upload, job_of) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("caf\xe9,coffee\n".encode("latin-1"))
    user = make_user()
    job = job_of(user, "imports", upload(user, path, "csv").json()["id"])
    assert (job["status"], job["error_code"]) == ("failed", "unsupported_file")
