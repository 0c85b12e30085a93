"""Object-level ownership, reference by reference from the OpenAPI schema.

Every id a learner can name (in a path, a query filter or a request body) answers, for another
learner's object, exactly what it answers for an id that does not exist: no 403 that would confirm
the object exists, no part of it, and nothing of the owner's changes. The table below must name every
such reference the schema has: a new route that takes an id fails here until it is added.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from config.api import api
from modules.identity.testing import auth_headers, make_user
from modules.learning.testing import make_ladder_history
from modules.ops.testing import make_rule

pytestmark = pytest.mark.django_db

# An id no object has (and that fits every id column).
MISSING = 2_000_000_000


@dataclass(frozen=True)
class Probe:
    """One request that names an object: ``request(client, object_id, world)`` sends it."""

    obj: str  # which of the owner's objects it names (a key of ``World.ids``)
    request: Callable[[Client, int, World], Any]
    found: str = "404"  # what a missing id answers: "404", "403" (an admin route) or "empty" (a filter)


@dataclass
class World:
    ids: dict[str, int]  # the owner's objects
    owner: Any
    intruder: Any
    intruder_content_id: int
    intruder_download_token: str


def _json(method: str, path: str, body: dict[str, Any] | None = None) -> Callable[[Client, int, World], Any]:
    """A request whose path (``{id}``) or body (the value ``"{id}"``, or ``["{id}"]``) names the object."""

    def fill(value: Any, object_id: int, world: World) -> Any:
        if value == "{id}":
            return object_id
        if value == "{own content}":
            return world.intruder_content_id
        if isinstance(value, list):
            return [fill(item, object_id, world) for item in value]
        return value

    def send(client: Client, object_id: int, world: World) -> Any:
        url = path.replace("{id}", str(object_id)).replace("{own content}", str(world.intruder_content_id))
        data = {key: fill(value, object_id, world) for key, value in (body or {}).items()}
        if method == "GET":
            return client.get(url)
        return getattr(client, method.lower())(url, data, content_type="application/json")

    return send


def _download(client: Client, object_id: int, world: World) -> Any:
    # the intruder's own, valid download token, with the owner's job id
    return client.get(f"/api/portability/exports/{object_id}/download/?token={world.intruder_download_token}")


GENERATE = {"question_types": ["fill_blank"], "difficulty_level": "beginner", "count": 1}

# (method, schema path, where the id is) -> the probe. Where: "path", or the query/body field's name.
PROBES: dict[tuple[str, str, str], Probe] = {
    # --- in the path
    ("PATCH", "/api/v1/content/categories/{category_id}/", "path"): Probe(
        "category", _json("PATCH", "/api/content/categories/{id}/", {"name": "Taken"})
    ),
    ("DELETE", "/api/v1/content/categories/{category_id}/", "path"): Probe(
        "category", _json("DELETE", "/api/content/categories/{id}/")
    ),
    ("GET", "/api/v1/content/{content_id}/", "path"): Probe("content", _json("GET", "/api/content/{id}/")),
    ("PUT", "/api/v1/content/{content_id}/", "path"): Probe(
        "content", _json("PUT", "/api/content/{id}/", {"title": "Taken", "body": "Taken body"})
    ),
    ("PATCH", "/api/v1/content/{content_id}/", "path"): Probe(
        "content", _json("PATCH", "/api/content/{id}/", {"title": "Taken"})
    ),
    ("DELETE", "/api/v1/content/{content_id}/", "path"): Probe(
        "content", _json("DELETE", "/api/content/{id}/")
    ),
    ("GET", "/api/v1/review/fits/{fit_id}/", "path"): Probe("fit", _json("GET", "/api/review/fits/{id}/")),
    ("GET", "/api/v1/ai-review/jobs/{job_id}/", "path"): Probe(
        "ai_job", _json("GET", "/api/ai-review/jobs/{id}/")
    ),
    ("GET", "/api/v1/portability/exports/{job_id}/", "path"): Probe(
        "export", _json("GET", "/api/portability/exports/{id}/")
    ),
    # a signed link, bound to its job: another job's link is refused as an expired one is
    ("GET", "/api/v1/portability/exports/{job_id}/download/", "path"): Probe(
        "export", _download, found="403"
    ),
    ("GET", "/api/v1/portability/imports/{job_id}/", "path"): Probe(
        "import", _json("GET", "/api/portability/imports/{id}/")
    ),
    # admins' rules are nobody's: a learner is refused whether or not the rule exists
    ("PATCH", "/api/v1/monitoring/alert-rules/{rule_id}/", "path"): Probe(
        "rule", _json("PATCH", "/api/monitoring/alert-rules/{id}/", {"enabled": False}), found="403"
    ),
    ("DELETE", "/api/v1/monitoring/alert-rules/{rule_id}/", "path"): Probe(
        "rule", _json("DELETE", "/api/monitoring/alert-rules/{id}/"), found="403"
    ),
    # --- in a query filter: the list is empty, as for a category or content that does not exist
    ("GET", "/api/v1/content/", "category"): Probe(
        "category", _json("GET", "/api/content/?category={id}"), "empty"
    ),
    ("GET", "/api/v1/review/history/", "content_id"): Probe(
        "content", _json("GET", "/api/review/history/?content_id={id}"), "empty"
    ),
    ("GET", "/api/v1/ai-review/questions/", "content_id"): Probe(
        "content", _json("GET", "/api/ai-review/questions/?content_id={id}"), "empty"
    ),
    # --- in a request body
    ("POST", "/api/v1/content/", "category_id"): Probe(
        "category", _json("POST", "/api/content/", {"title": "Mine", "body": "Mine", "category_id": "{id}"})
    ),
    ("PUT", "/api/v1/content/{content_id}/", "category_id"): Probe(
        "category",
        _json("PUT", "/api/content/{own content}/", {"title": "Mine", "body": "Mine", "category_id": "{id}"}),
    ),
    ("PATCH", "/api/v1/content/{content_id}/", "category_id"): Probe(
        "category", _json("PATCH", "/api/content/{own content}/", {"category_id": "{id}"})
    ),
    ("POST", "/api/v1/review/complete/", "content_id"): Probe(
        "content", _json("POST", "/api/review/complete/", {"content_id": "{id}", "result": "remembered"})
    ),
    ("POST", "/api/v1/ai-review/generate/", "content_id"): Probe(
        "content", _json("POST", "/api/ai-review/generate/", {"content_id": "{id}", **GENERATE})
    ),
    ("POST", "/api/v1/ai-review/evaluate/", "question_id"): Probe(
        "question", _json("POST", "/api/ai-review/evaluate/", {"question_id": "{id}", "answer": "x"})
    ),
    ("POST", "/api/v1/ai-review/analyze/", "content_id"): Probe(
        "content", _json("POST", "/api/ai-review/analyze/", {"content_id": "{id}"})
    ),
    ("POST", "/api/v1/ai-review/jobs/", "content_ids"): Probe(
        "content", _json("POST", "/api/ai-review/jobs/", {"content_ids": ["{id}"], **GENERATE})
    ),
}


def _references_in_schema() -> set[tuple[str, str, str]]:
    """Every place a request names an object by id: path parameters, query filters named ``*_id`` or
    ``category``, body fields named ``*_id``, ``*_ids`` or ``category``."""
    schema = api.get_openapi_schema()
    components = schema["components"]["schemas"]
    found: set[tuple[str, str, str]] = set()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                name = parameter["name"]
                if parameter["in"] == "path":
                    found.add((method.upper(), path, "path"))
                elif parameter["in"] == "query" and (name.endswith("_id") or name == "category"):
                    found.add((method.upper(), path, name))
            for content in operation.get("requestBody", {}).get("content", {}).values():
                reference = content["schema"].get("$ref", "")
                properties = components.get(reference.rsplit("/", 1)[-1], {}).get("properties", {})
                for name in properties:
                    if name.endswith(("_id", "_ids")) or name == "category":
                        found.add((method.upper(), path, name))
    return found


def test_every_reference_to_an_object_in_the_schema_is_probed() -> None:
    assert _references_in_schema() == set(PROBES)


def _upload_csv() -> SimpleUploadedFile:
    text = io.StringIO()
    csv.writer(text).writerows([["front", "back"], ["Capital of France?", "Paris"]])
    return SimpleUploadedFile("cards.csv", text.getvalue().encode(), content_type="text/csv")


def _created(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    return response.json()


@pytest.fixture
def world(settings, tmp_path: Path, django_capture_on_commit_callbacks) -> World:
    """The owner's objects, each made through the API as a learner makes them (jobs run inline)."""
    settings.AI_PROVIDER = "local"
    settings.PORTABILITY_EXPORT_DIR = tmp_path / "exports"
    settings.PORTABILITY_UPLOAD_DIR = tmp_path / "uploads"
    owner, intruder = make_user(tier="PRO"), make_user(tier="PRO")
    as_owner, as_intruder = Client(headers=auth_headers(owner)), Client(headers=auth_headers(intruder))
    post = {"content_type": "application/json"}
    with django_capture_on_commit_callbacks(execute=True):
        category = _created(as_owner.post("/api/content/categories/", {"name": "Owned"}, **post), 201)
        body = "Photosynthesis turns light, water and carbon dioxide into glucose and oxygen in the leaf."
        content = _created(
            as_owner.post(
                "/api/content/", {"title": "Owned", "body": body, "category_id": category["id"]}, **post
            ),
            201,
        )
        _created(
            as_owner.post("/api/review/complete/", {"content_id": content["id"], "result": "forgot"}, **post),
            200,
        )
        questions = _created(
            as_owner.post("/api/ai-review/generate/", {"content_id": content["id"], **GENERATE}, **post), 201
        )
        ai_job = _created(
            as_owner.post("/api/ai-review/jobs/", {"content_ids": [content["id"]], **GENERATE}, **post), 202
        )
        make_ladder_history(user=owner, cards=60, reviews_per_card=4, recall_at_due=0.8)  # enough to fit
        fit = _created(as_owner.post("/api/review/fits/", {}, **post), 202)
        export = _created(as_owner.post("/api/portability/exports/", {"format": "json"}, **post), 202)
        imported = _created(
            as_owner.post("/api/portability/imports/", {"kind": "csv", "file": _upload_csv()}), 202
        )
        own = _created(as_intruder.post("/api/content/", {"title": "Mine", "body": "Mine"}, **post), 201)
        own_export = _created(as_intruder.post("/api/portability/exports/", {"format": "json"}, **post), 202)
    link = as_intruder.get(f"/api/portability/exports/{own_export['id']}/").json()["download_url"]
    assert link, "the intruder's own export is done, with a link"
    return World(
        ids={
            "category": category["id"],
            "content": content["id"],
            "question": questions["questions"][0]["id"],
            "ai_job": ai_job["id"],
            "fit": fit["id"],
            "export": export["id"],
            "import": imported["id"],
            "rule": make_rule().pk,
        },
        owner=owner,
        intruder=intruder,
        intruder_content_id=own["id"],
        intruder_download_token=parse_qs(urlsplit(link).query)["token"][0],
    )


OWNER_VIEWS = [
    "/api/content/{content}/",
    "/api/content/categories/",
    "/api/content/?limit=100",
    "/api/review/history/",
    "/api/review/today/",
    "/api/ai-review/questions/",
    "/api/ai-review/jobs/{ai_job}/",
    "/api/review/fits/{fit}/",
    "/api/portability/exports/{export}/",
    "/api/portability/imports/{import}/",
]


def _owners_view(world: World, owner_client: Client) -> dict[str, Any]:
    view = {}
    for template in OWNER_VIEWS:
        url = template.format(**world.ids)
        response = owner_client.get(url)
        assert response.status_code == 200, (url, response.content)
        body = response.json()
        if "download_url" in body:  # signed afresh, with a new expiry, on every read
            assert body.pop("download_url") and body.pop("download_url_expires_at")
        view[url] = body
    return view


def _comparable(response: Any) -> tuple[int, Any]:
    if response.status_code == 204 or not response.content:
        return response.status_code, None
    return response.status_code, response.json()


def test_another_learners_object_answers_what_a_missing_one_answers_and_stays_untouched(world: World) -> None:
    owner_client = Client(headers=auth_headers(world.owner))
    before = _owners_view(world, owner_client)
    intruder = Client(headers=auth_headers(world.intruder))

    for reference, probe in PROBES.items():
        missing = _comparable(probe.request(intruder, MISSING, world))
        others = _comparable(probe.request(intruder, world.ids[probe.obj], world))
        assert others == missing, (reference, others, missing)
        status, body = others
        if probe.found == "empty":
            # a plain list, a cursor list's results, or an offset list's items and its total
            listed = body if isinstance(body, list) else body.get("items", body.get("results"))
            total = body.get("count", 0) if isinstance(body, dict) else 0
            assert (status, listed, total) == (200, [], 0), (reference, status, body)
        else:
            assert status == int(probe.found), (reference, status, body)

    assert _owners_view(world, owner_client) == before
