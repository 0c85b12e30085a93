"""The import's multipart form is a request body: unknown fields are rejected like anywhere else (the
contract: 422, no mass assignment), and nothing is stored or queued for such a request."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from modules.identity.testing import auth_headers, make_user
from modules.portability.models import ImportJob

pytestmark = pytest.mark.django_db

CSV = b"front,back\nWhat is 2+2?,4\n"


def _post(user: Any, data: dict[str, Any]) -> Any:
    return Client(headers=auth_headers(user)).post("/api/portability/imports/", data)


def _file(name: str = "cards.csv") -> io.BytesIO:
    file = io.BytesIO(CSV)
    file.name = name
    return file


def _uploads(settings: Any) -> list[Path]:
    directory = Path(settings.PORTABILITY_UPLOAD_DIR)
    return list(directory.iterdir()) if directory.exists() else []


@pytest.mark.parametrize(
    ("extra", "location"),
    [
        ({"user_id": "1"}, ["form", "user_id"]),
        ({"status": "done"}, ["form", "status"]),
        ({"attachment": "__file__"}, ["file", "attachment"]),
    ],
)
def test_an_unknown_part_answers_422_naming_it_and_stores_nothing(
    settings: Any, extra: dict, location: list
) -> None:
    user = make_user()
    data = {
        "kind": "csv",
        "file": _file(),
        **{k: _file() if v == "__file__" else v for k, v in extra.items()},
    }

    response = _post(user, data)

    assert response.status_code == 422, response.content
    body = response.json()
    assert body["code"] == "validation_error"
    assert [error["loc"] for error in body["detail"]] == [location]
    assert body["detail"][0]["type"] == "extra_forbidden"
    assert not ImportJob.objects.exists()
    assert _uploads(settings) == []


def test_two_files_or_a_field_twice_answer_422(settings: Any) -> None:
    user = make_user()

    two_files = _post(user, {"kind": "csv", "file": [_file("a.csv"), _file("b.csv")]})
    two_kinds = _post(user, {"kind": ["csv", "resee-json"], "file": _file()})

    assert two_files.status_code == 422, two_files.content
    assert two_files.json()["detail"][0]["loc"] == ["file", "file"]
    assert two_kinds.status_code == 422, two_kinds.content
    assert two_kinds.json()["detail"][0]["loc"] == ["form", "kind"]
    assert not ImportJob.objects.exists()
    assert _uploads(settings) == []


def test_the_known_parts_still_import(django_capture_on_commit_callbacks: Any) -> None:
    user = make_user()

    with django_capture_on_commit_callbacks(execute=True):
        response = _post(user, {"kind": "csv", "file": _file(), "restore_profile": "false"})

    assert response.status_code == 202, response.content
    assert ImportJob.objects.get().status == "done"
