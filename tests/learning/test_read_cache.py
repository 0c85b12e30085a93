"""Today's queue and the content list are served from a per-user cache that is shared by every process
(or switched off) and invalidated by every write.

The write paths are enumerated, not listed by hand: every public function of learning's facade is
called and its SQL inspected, every write route of the API is driven, every learning model of the
admin is checked. A new write that forgets the invalidation fails here.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.contrib import admin
from django.core import checks
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from modules.common.time import local_date, local_day_bounds
from modules.identity import services as identity
from modules.identity.testing import DEFAULT_PASSWORD, auth_headers, make_user
from modules.learning import readcache, services
from modules.learning.admin import ForgetsCachedReads
from modules.learning.models import MemoryModelFit, ReviewSchedule
from modules.learning.testing import make_category, make_content, make_due_content, make_ladder_history

pytestmark = pytest.mark.django_db

BASE_DIR = Path(django_settings.BASE_DIR)
LOCAL_MEMORY = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "t"}}
CACHED_READS = ("/api/review/today/", "/api/content/")


def today(client: Client) -> dict[str, Any]:
    response = client.get("/api/review/today/")
    assert response.status_code == 200
    return response.json()


def version_of(user_id: int) -> Any:
    return cache.get(readcache._version_key(user_id))


# --- What the cache does -------------------------------------------------------------------------------


def test_a_repeated_read_is_answered_from_the_cache(
    auth_client: Client, user, django_assert_num_queries
) -> None:
    make_due_content(user=user, title="due")
    first = today(auth_client)
    with django_assert_num_queries(1):  # the authenticated user only
        second = today(auth_client)
    assert second == first


def test_completing_a_review_is_visible_to_the_very_next_read(auth_client: Client, user) -> None:
    card = make_due_content(user=user, title="due")
    assert today(auth_client)["count"] == 1
    response = auth_client.post(
        "/api/review/complete/",
        {"content_id": card.pk, "result": "remembered"},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert today(auth_client)["count"] == 0


def test_a_read_computed_before_a_write_is_never_served_after_it(user) -> None:
    def compute_old() -> str:
        # The slow reader read the old rows; meanwhile a write commits and bumps the version.
        readcache._bump(user.pk)
        return "old"

    assert readcache.cached(user_id=user.pk, name="t", variant=(1,), compute=compute_old) == "old"
    assert readcache.cached(user_id=user.pk, name="t", variant=(1,), compute=lambda: "new") == "new"
    assert (
        readcache.cached(user_id=user.pk, name="t", variant=(1,), compute=lambda: "newer") == "new"
    )  # a hit


def test_a_lost_version_never_brings_back_an_old_answer(user) -> None:
    assert readcache.cached(user_id=user.pk, name="t", variant=(), compute=lambda: "old") == "old"
    cache.delete(readcache._version_key(user.pk))  # evicted, or expired after a week without writes

    assert readcache.cached(user_id=user.pk, name="t", variant=(), compute=lambda: "new") == "new"
    assert readcache.cached(user_id=user.pk, name="t", variant=(), compute=lambda: "newer") == "new"


def test_users_do_not_share_entries(client_for, user, other_user) -> None:
    make_due_content(user=user, title="mine")
    make_due_content(user=other_user, title="theirs")
    assert [i["content"]["title"] for i in today(client_for(user))["items"]] == ["mine"]
    assert [i["content"]["title"] for i in today(client_for(other_user))["items"]] == ["theirs"]


def test_a_timezone_change_reads_a_fresh_answer(auth_client: Client, user, django_assert_num_queries) -> None:
    make_due_content(user=user, title="due")
    today(auth_client)
    response = auth_client.patch(
        "/api/accounts/users/me/", {"timezone": "Pacific/Kiritimati"}, content_type="application/json"
    )
    assert response.status_code == 200
    with django_assert_num_queries(2):  # a miss: the zone is part of the key
        assert today(auth_client)["count"] == 1
    with django_assert_num_queries(1):
        today(auth_client)


def test_a_tier_change_reads_a_fresh_answer(auth_client: Client, user, django_assert_num_queries) -> None:
    now = timezone.now()
    make_content(
        user=user,
        title="well known",
        stage=3,
        created_at=now - timedelta(days=10),
        due_at=now + timedelta(days=5),
    )
    before = auth_client.get("/api/content/").json()["items"][0]["review"]["retrievability"]

    identity.change_tier(user=user, tier="FREE", source="test")  # BASIC's ladder -> FREE's (1, 3)

    with django_assert_num_queries(3):  # a miss: the tier's ladder is part of the key
        after = auth_client.get("/api/content/").json()["items"][0]["review"]["retrievability"]
    assert after < before  # the shorter ladder estimates a weaker memory


def test_the_cache_can_be_turned_off(auth_client: Client, user, settings, django_assert_num_queries) -> None:
    settings.LEARNING_READ_CACHE_SECONDS = 0
    make_due_content(user=user, title="due")
    today(auth_client)
    with django_assert_num_queries(2):  # the user and the queue, every time
        today(auth_client)


def test_an_unreachable_cache_only_costs_the_shortcut(user, settings) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    assert readcache.cached(user_id=user.pk, name="t", variant=(), compute=lambda: "computed") == "computed"
    readcache.invalidate(user.pk)  # logged, not raised


def test_learning_write_needs_a_keyword_only_user() -> None:
    def positional(user: Any) -> None: ...

    with pytest.raises(TypeError, match="keyword-only `user` or `user_id`"):
        readcache.learning_write(positional)


# --- Shared or off: a process-local cache outside DEBUG --------------------------------------------------


def learning_checks() -> list[checks.CheckMessage]:
    return [m for m in checks.run_checks(tags=[checks.Tags.caches]) if m.id and m.id.startswith("learning.")]


def test_a_process_local_cache_outside_debug_switches_the_read_cache_off(
    auth_client: Client, user, settings, caplog, django_assert_num_queries
) -> None:
    settings.CACHES, settings.DEBUG = LOCAL_MEMORY, False
    make_due_content(user=user, title="due")

    assert readcache.effective_seconds() == 0
    today(auth_client)
    with django_assert_num_queries(2):  # computed again: nothing was cached
        assert today(auth_client)["count"] == 1
    assert [m.id for m in learning_checks()] == ["learning.W001"]
    caplog.clear()  # the requests' access-log lines
    with caplog.at_level(logging.WARNING, logger="modules.learning.readcache"):
        readcache.announce()
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "switched off" in record.getMessage() and "REDIS_URL" in record.getMessage()


def test_in_debug_a_process_local_cache_keeps_the_read_cache_on(
    auth_client: Client, user, settings, caplog, django_assert_num_queries
) -> None:
    settings.CACHES, settings.DEBUG = LOCAL_MEMORY, True  # make run: one runserver process
    make_due_content(user=user, title="due")

    assert readcache.effective_seconds() == 30
    today(auth_client)
    with django_assert_num_queries(1):
        today(auth_client)
    assert learning_checks() == []
    caplog.clear()  # the requests' access-log lines
    with caplog.at_level(logging.WARNING, logger="modules.learning.readcache"):
        readcache.announce()
    assert caplog.records == []


def test_a_shared_or_dummy_cache_raises_no_warning(settings) -> None:
    assert learning_checks() == []  # the suite's Redis
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    assert learning_checks() == []  # caches nothing, so nothing can be stale
    settings.CACHES, settings.LEARNING_READ_CACHE_SECONDS = LOCAL_MEMORY, 0
    assert learning_checks() == []  # turned off on purpose


def test_manage_py_check_reports_a_process_local_cache_outside_debug() -> None:
    env = {
        **os.environ,
        "DEBUG": "0",
        "REDIS_URL": "",
        "SECRET_KEY": "check-only-" + "x" * 50,
        "RESEE_TESTING": "0",
        "LEARNING_READ_CACHE_SECONDS": "30",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr  # a warning, not a refusal
    assert "(learning.W001)" in done.stderr
    startup = [json.loads(line) for line in done.stdout.splitlines() if "switched off" in line]
    assert [entry["level"] for entry in startup] == ["WARNING"]  # logged once, at startup


# --- Every write path invalidates: the facade -------------------------------------------------------------

# anywhere in a statement: a review's writes are data-modifying CTEs of one statement on PostgreSQL
_WRITE_SQL = re.compile(r'(?:INSERT INTO|UPDATE|DELETE FROM)\s+"(\w+)"', re.IGNORECASE)
_LEARNING_TABLE = re.compile(r'"(learning_\w+)"')


def tables_written(queries: CaptureQueriesContext) -> set[str]:
    return {table for q in queries.captured_queries for table in _WRITE_SQL.findall(q["sql"])}


@pytest.fixture
def cached_tables(user) -> set[str]:
    """The learning tables the two cached reads select from, read off their own SQL."""
    make_due_content(user=user, category=make_category(user=user))
    client = Client(headers=auth_headers(user))
    with CaptureQueriesContext(connection) as queries:
        for path in CACHED_READS:
            assert client.get(path).status_code == 200
    tables = {table for q in queries.captured_queries for table in _LEARNING_TABLE.findall(q["sql"])}
    assert {"learning_content", "learning_reviewschedule"} <= tables
    return tables


@dataclass
class World:
    """A user with a category, a due content in it and a content due today in only one of two zones."""

    user: Any
    newcomer: Any  # an account without content
    category: Any
    content: Any
    edge: Any
    now: datetime
    other_zone: str = "Pacific/Kiritimati"


def build_world() -> World:
    now = timezone.now()
    user = make_user()
    category = make_category(user=user, name="Biology")
    content = make_due_content(user=user, title="due", category=category)
    ends = sorted(local_day_bounds(local_date(now, zone), zone)[1] for zone in ("UTC", World.other_zone))
    edge = make_content(user=user, title="due in one zone", due_at=ends[0] + (ends[1] - ends[0]) / 2)
    return World(user=user, newcomer=make_user(), category=category, content=content, edge=edge, now=now)


# A value for every parameter name of the facade's public functions (a new name fails the test below).
ARGUMENTS: dict[str, Callable[[World], Any]] = {
    "user": lambda w: w.user,
    "user_id": lambda w: w.user.pk,
    "user_ids": lambda w: [w.user.pk],
    "content_id": lambda w: w.content.pk,
    "category_id": lambda w: w.category.pk,
    "ids": lambda w: [w.content.pk],
    "exclude_content_id": lambda w: None,
    "name": lambda w: "Chemistry",
    "title": lambda w: "Fresh title",
    "body": lambda w: "Fresh body",
    "changes": lambda w: {"name": "Renamed", "title": "Changed title"},
    "result": lambda w: "remembered",
    "now": lambda w: w.now,
    "since": lambda w: w.now - timedelta(days=30),
    "recent_since": lambda w: w.now - timedelta(days=7),
    "before": lambda w: w.now + timedelta(days=1),
    "at": lambda w: [w.now],
    "days": lambda w: [w.now.date()],
    "tz_name": lambda w: "UTC",
    "first_day": lambda w: w.now.date() - timedelta(days=30),
    "last_day": lambda w: w.now.date(),
    "window": lambda w: services.TallyWindow(by_day={}, by_category={}),
    "intervals": lambda w: (1, 3, 7),
    "upper_bounds_days": lambda w: [1.0, 7.0],
    "variant": lambda w: (),
    "compute": lambda w: lambda: "computed",
    "page": lambda w: b'{"items": 11, "count": 12, "overdue_count": 13}',
    "items": lambda w: 11,
    "total": lambda w: 12,
    "subtotal": lambda w: 13,
    "due": lambda w: w.now,
    "scheduler": lambda w: "ladder",
    "stage": lambda w: 0,
    "limit": lambda w: 1000,
    "stability": lambda w: None,
    "elapsed_days": lambda w: 1.0,
    "fit_id": lambda w: MemoryModelFit.objects.create(user=w.user, timezone_name="UTC", day_start_hour=4).pk,
    "data": lambda w: services.LearningImport(
        contents=[
            services.ImportedContent(
                ref="1",
                key=services.ExternalKey("csv", "one"),
                title="Imported",
                body="From a file",
                created_at=w.now - timedelta(days=3),
            )
        ]
    ),
}


def _newcomer(world: World) -> dict[str, Any]:
    return {"user": world.newcomer}  # the demo seed fills only an empty account


def _without_schedule(world: World) -> dict[str, Any]:
    ReviewSchedule.objects.filter(content=world.content).delete()  # saved in the admin, not scheduled yet
    return {}


def _with_reviews(world: World) -> dict[str, Any]:
    make_ladder_history(user=world.user, cards=100, reviews_per_card=4)  # a fit needs 200 reviews
    return {}


def _window(world: World) -> dict[str, Any]:
    window = services.Window(
        template=b"[\x01]", items=[b"1"], keys=["a"], limit=1, total=1, subtotal=0, scope="x"
    )
    return {"compute": lambda: window}


SETUPS: dict[str, Callable[[World], dict[str, Any]]] = {
    "cached_window": _window,
    "seed_demo_content": _newcomer,
    "ensure_schedule": _without_schedule,
    "start_memory_fit": _with_reviews,
}

# The SQL detection below must see these write (else it would pass vacuously).
KNOWN_WRITERS = {
    "complete_review",
    "create_content",
    "delete_category",
    "delete_content",
    "delete_learning_data",
    "ensure_schedule",
    "import_learning_data",
    "seed_demo_content",
    "start_memory_fit",  # its job (inline here) applies the calibrated ladder to the learner's model
    "update_category",
    "update_content",
}


def facade_functions() -> list[str]:
    return sorted(
        name
        for name, function in inspect.getmembers(services, inspect.isfunction)
        if not name.startswith("_") and function.__module__.startswith("modules.learning")
    )


def test_the_facade_enumeration_finds_the_writes_and_the_reads() -> None:
    names = facade_functions()
    assert KNOWN_WRITERS | {"review_queue", "learning_totals", "forget_cached_reads"} <= set(names)


@pytest.mark.parametrize("name", facade_functions())
def test_every_facade_function_that_writes_what_the_cached_reads_show_replaces_the_version(
    name: str, cached_tables: set[str], django_capture_on_commit_callbacks
) -> None:
    world = build_world()
    function = getattr(services, name)
    arguments = {}
    for parameter in inspect.signature(function).parameters.values():
        if parameter.default is not inspect.Parameter.empty:
            continue
        if parameter.name not in ARGUMENTS:
            pytest.fail(f"teach this test a value for {parameter.name!r} (a parameter of {name})")
        arguments[parameter.name] = ARGUMENTS[parameter.name](world)
    arguments.update(SETUPS.get(name, lambda _: {})(world))
    owner = arguments.get("user", world.user)
    before = version_of(owner.pk)

    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        function(**arguments)
        during = version_of(owner.pk)
    after = version_of(owner.pk)

    changed = tables_written(queries) & cached_tables
    if name in KNOWN_WRITERS:
        assert changed, f"{name} was expected to write {sorted(cached_tables)}"
    if changed:
        assert during != before, f"{name} wrote {sorted(changed)} without replacing the version"
        assert after != during, f"{name} does not replace the version again when its transaction commits"


# --- Every write path invalidates: the API ----------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    body: Callable[[World], dict[str, Any]] | None = None
    learning: bool = True  # a learning write replaces the version; a profile write changes the key
    shows: bool = True  # the cached reads show its effect (so the comparison below is not vacuous)


def _profile(world: World) -> dict[str, Any]:
    return {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "timezone": world.other_zone,
        "daily_reminder_hour": 8,
        "notifications_enabled": True,
        "scheduler": "ladder",
        "desired_retention": 0.9,
    }


WRITES: dict[tuple[str, str], Write] = {
    ("POST", "/api/content/categories/"): Write(lambda w: {"name": "Chemistry"}, shows=False),
    ("PATCH", "/api/content/categories/{category_id}/"): Write(lambda w: {"name": "Renamed"}),
    ("DELETE", "/api/content/categories/{category_id}/"): Write(),
    ("POST", "/api/content/"): Write(lambda w: {"title": "New", "body": "text"}),
    ("PUT", "/api/content/{content_id}/"): Write(lambda w: {"title": "Replaced", "body": "text"}),
    ("PATCH", "/api/content/{content_id}/"): Write(lambda w: {"title": "Patched"}),
    ("DELETE", "/api/content/{content_id}/"): Write(),
    ("POST", "/api/review/complete/"): Write(lambda w: {"content_id": w.content.pk, "result": "remembered"}),
    ("PUT", "/api/accounts/users/me/"): Write(_profile, learning=False),
    ("PATCH", "/api/accounts/users/me/"): Write(lambda w: {"timezone": w.other_zone}, learning=False),
    ("DELETE", "/api/accounts/users/me/"): Write(lambda w: {"password": DEFAULT_PASSWORD}, learning=False),
}

_IDENTITY = "identity: accounts, sessions, passwords, email; nothing the cached reads show"
_ELSEWHERE = (
    "writes no learning row: other modules reach learning only through its facade (import contracts), "
    "whose every function is checked above; and the cached reads show no AI or ops data"
)
UNRELATED: dict[tuple[str, str], str] = {
    ("POST", "/api/auth/register/"): "a new account has no learning data yet",
    ("POST", "/api/auth/verify-email/"): _IDENTITY,
    ("POST", "/api/auth/resend-verification/"): _IDENTITY,
    ("POST", "/api/auth/token/"): _IDENTITY,
    ("POST", "/api/auth/token/refresh/"): _IDENTITY,
    ("POST", "/api/auth/logout/"): _IDENTITY,
    ("POST", "/api/auth/password-reset/"): _IDENTITY,
    ("POST", "/api/auth/password-reset/confirm/"): _IDENTITY,
    ("POST", "/api/auth/google/"): _IDENTITY,
    ("POST", "/api/accounts/users/me/password/"): _IDENTITY,
    ("POST", "/api/ai-review/generate/"): _ELSEWHERE,
    ("POST", "/api/ai-review/evaluate/"): _ELSEWHERE,
    ("POST", "/api/ai-review/analyze/"): _ELSEWHERE,
    ("POST", "/api/ai-review/jobs/"): _ELSEWHERE,
    ("POST", "/api/monitoring/alert-rules/"): _ELSEWHERE,
    ("PATCH", "/api/monitoring/alert-rules/{rule_id}/"): _ELSEWHERE,
    ("DELETE", "/api/monitoring/alert-rules/{rule_id}/"): _ELSEWHERE,
    ("POST", "/api/portability/exports/"): "reads only",
    ("POST", "/api/review/fits/"): (
        "queues a fit; the job applies a model through the facade's run_memory_fit, checked above; "
        "tests/learning/test_memory_api.py reads the cached queue after an applied fit"
    ),
    ("POST", "/api/portability/imports/"): (
        "writes learning rows only through the facade's import_learning_data, checked above; "
        "tests/portability/test_export_roundtrip.py reads the cached lists after an import"
    ),
}


def api_write_operations() -> set[tuple[str, str]]:
    from config.api import api

    # The schema names the canonical /api/v1/ paths; the tables above call the /api/ alias of each.
    return {
        (method.upper(), path.replace("/api/v1/", "/api/", 1))
        for path, operations in api.get_openapi_schema()["paths"].items()
        for method in operations
        if method in {"post", "put", "patch", "delete"}
    }


def test_every_write_route_of_the_api_is_enumerated() -> None:
    operations = api_write_operations()
    assert not set(WRITES) & set(UNRELATED)
    assert operations - set(WRITES) - set(UNRELATED) == set(), "a new write route: add it to WRITES"
    assert set(WRITES) | set(UNRELATED) <= operations, "a route listed here no longer exists"


def _without_retrievability(answer: Any) -> Any:
    """Two computations milliseconds apart may round a decaying estimate differently."""
    if isinstance(answer, dict):
        return {
            key: _without_retrievability(value) for key, value in answer.items() if key != "retrievability"
        }
    if isinstance(answer, list):
        return [_without_retrievability(item) for item in answer]
    return answer


def cached_reads(client: Client) -> list[Any]:
    answers = []
    for path in CACHED_READS:
        response = client.get(path)
        assert response.status_code == 200
        answers.append(_without_retrievability(response.json()))
    return answers


@pytest.mark.parametrize("operation", sorted(WRITES), ids=" ".join)
def test_after_every_write_route_the_cached_reads_equal_a_fresh_computation(
    operation: tuple[str, str], settings
) -> None:
    method, path = operation
    write = WRITES[operation]
    world = build_world()
    client = Client(headers=auth_headers(world.user))
    before = cached_reads(client)  # computed and cached
    version = version_of(world.user.pk)

    url = path.format(category_id=world.category.pk, content_id=world.content.pk)
    body = json.dumps(write.body(world)) if write.body else ""
    response = client.generic(method, url, body, content_type="application/json")
    assert response.status_code < 300, response.content

    if not identity.account_is_open(user_id=world.user.pk):  # closed: its erasure is queued
        assert client.get(CACHED_READS[0]).status_code == 401  # nothing left to serve stale
        return
    served = cached_reads(client)
    settings.LEARNING_READ_CACHE_SECONDS = 0
    fresh = cached_reads(client)
    assert served == fresh
    if write.learning:
        assert version_of(world.user.pk) != version
    if write.shows:
        assert fresh != before, "the write should change what the reads show"


# --- Every write path invalidates: the admin --------------------------------------------------------------


def test_every_learning_model_the_admin_can_change_forgets_the_owners_cached_reads() -> None:
    superuser = make_user(is_staff=True, is_superuser=True)
    request = type("Request", (), {"user": superuser})()
    editable = {
        model.__name__: model_admin
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label == "learning"
        and (
            model_admin.has_add_permission(request)
            or model_admin.has_change_permission(request)
            or model_admin.has_delete_permission(request)
        )
    }
    assert {"Category", "Content"} <= set(editable)
    assert [
        name for name, model_admin in editable.items() if not isinstance(model_admin, ForgetsCachedReads)
    ] == []


def test_admin_deletes_drop_the_owners_cached_reads(user, auth_client: Client) -> None:
    from modules.identity.testing import make_admin

    admin_user = make_admin(is_superuser=True)
    staff = Client()
    staff.force_login(admin_user)
    content = make_due_content(user=user, title="doomed")
    assert today(auth_client)["count"] == 1

    response = staff.post(f"/admin/learning/content/{content.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert today(auth_client)["count"] == 0


# --- Across processes -------------------------------------------------------------------------------------

CHILD = r"""
import json, sys
import django
django.setup()
from django.test import Client
from modules.identity import services as identity
from modules.identity.testing import auth_headers

client = Client(headers=auth_headers(identity.User.objects.get(pk=int(sys.argv[1]))))
print("READY", flush=True)
for line in sys.stdin:
    command = json.loads(line)
    if command["op"] == "today":
        response = client.get("/api/review/today/")
    else:
        response = client.post(
            "/api/review/complete/",
            {"content_id": command["content_id"], "result": "remembered"},
            content_type="application/json",
        )
    print("ANSWER " + json.dumps({"status": response.status_code, "body": response.json()}), flush=True)
"""


class ApiProcess:
    """A separate Python process serving the API in-process (Django's test client, its own memory)."""

    def __init__(self, *, env: dict[str, str], user_id: int) -> None:
        self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and script)
            [sys.executable, "-c", CHILD, str(user_id)],
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, prefix: str) -> str:
        while True:
            line = self.lines.get(timeout=60)
            if line is None:
                raise AssertionError("the process ended:\n" + "".join(self.log))
            if line.startswith(prefix):
                return line[len(prefix) :]
            self.log.append(line)

    def ask(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return json.loads(self.wait_for("ANSWER "))

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def child_env(*, redis_url: str, debug: bool) -> dict[str, str]:
    db = connection.settings_dict
    credentials = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "RESEE_TESTING": "1",  # test defaults (no HTTPS redirect); the URLs below are explicit
        "DEBUG": "1" if debug else "0",
        "DATABASE_URL": f"postgres://{credentials}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": redis_url,
        "LEARNING_READ_CACHE_SECONDS": "30",
        "THROTTLES_ENABLED": "0",
    }
    env.pop("DATABASE_REPLICA_URL", None)
    return env


@pytest.mark.parametrize(
    ("shared", "debug", "stale"),
    [
        (True, False, False),  # Redis: the other process's write is seen at once
        (False, False, False),  # local memory outside DEBUG: the read cache is off, nothing is stale
        (False, True, True),  # local memory in DEBUG (make run's single process): what the rule prevents
    ],
    ids=["redis", "local-memory", "local-memory-debug"],
)
@pytest.mark.django_db(transaction=True)
def test_a_write_through_one_process_is_seen_by_a_read_through_another(
    shared: bool, debug: bool, stale: bool
) -> None:
    user = make_user()
    card = make_due_content(user=user, title="due")
    redis_url = django_settings.CACHES["default"]["LOCATION"] if shared else ""
    env = child_env(redis_url=redis_url, debug=debug)
    reader, writer = ApiProcess(env=env, user_id=user.pk), ApiProcess(env=env, user_id=user.pk)
    try:
        reader.wait_for("READY")
        writer.wait_for("READY")
        assert reader.ask(op="today")["body"]["count"] == 1
        assert reader.ask(op="today")["body"]["count"] == 1  # served from its cache when it has one

        assert writer.ask(op="complete", content_id=card.pk)["status"] == 200

        assert reader.ask(op="today")["body"]["count"] == (1 if stale else 0)
        warned = [line for line in reader.log if "switched off" in line]
        assert len(warned) == (0 if shared or debug else 1)
    finally:
        reader.close()
        writer.close()
