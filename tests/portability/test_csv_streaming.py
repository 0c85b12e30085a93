"""A CSV import reads its file a row at a time while the rows are written (formats/csvfile.py,
``open_csv``): memory stays bounded by a batch and the row keys, whatever the file's size. Before, the
file was read whole (bytes, text, lines, rows, then every content): a 107 MB file of 500,000 rows took
1.2 GB, and the 512 MiB upload limit allowed five times that."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from modules.identity.testing import make_user
from modules.learning.models import Content
from modules.portability.models import ImportJob
from modules.portability.services import request_import

pytestmark = pytest.mark.django_db

ROWS = 20_000


def _import(path: Path, user: Any, capture: Any) -> ImportJob:
    with path.open("rb") as file, capture(execute=True):
        view = request_import(user=user, kind="csv", upload=file, file_name=path.name)
    return ImportJob.objects.get(pk=view.id)


def test_a_csv_import_holds_a_batch_of_rows_not_the_file(
    tmp_path: Path, django_capture_on_commit_callbacks
) -> None:
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as file:
        file.write("front;back;deck\n")
        for index in range(ROWS):
            file.write(
                f"Question {index} about a thing;{'the answer, at some length ' * 6}{index};deck {index % 4}\n"
            )
        file.write(f"Question 7 about a thing;{'the answer, at some length ' * 6}7;deck 3\n")  # given twice
    user = make_user()
    tracemalloc.start()
    try:
        job = _import(path, user, django_capture_on_commit_callbacks)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert job.status == "done", (job.error_code, job.error)
    assert job.counts["rows"] == ROWS + 1
    assert job.warnings == ["1 rows were empty or repeated and were skipped."]
    assert Content.objects.filter(user=user).count() == ROWS
    assert Content.objects.filter(user=user, category__name="deck 2").count() == ROWS // 4
    # 20,000 rows (4.1 MB): read whole 43.0 MB; streamed 17.3 MB, most of it learning's per-content state (each content's id
    # and schedule, kept for the reviews), which grows with the contents, not with the file's bytes
    assert peak < 30e6, f"{peak / 1e6:.1f} MB at the peak for a {path.stat().st_size / 1e6:.1f} MB file"


def test_a_file_that_stops_being_utf8_after_its_first_rows_fails_and_keeps_nothing(
    tmp_path: Path, django_capture_on_commit_callbacks
) -> None:
    path = tmp_path / "late.csv"
    good = "".join(f"title {index},body {index}\n" for index in range(5_000)).encode()
    path.write_bytes(good + b"caf\xe9,latin-1 here\n" + good)
    user = make_user()

    job = _import(path, user, django_capture_on_commit_callbacks)

    assert (job.status, job.error_code) == ("failed", "unsupported_file")
    assert "UTF-8" in job.error
    assert not Content.objects.filter(user=user).exists()
