"""Read-your-writes on every route with a read replica that lags for real.

The stack (gunicorn with 2 workers and qcluster) runs on a private PostgreSQL primary with a streaming
replica (``pg_basebackup -R``) that applies every commit two seconds late
(``recovery_min_apply_delay``). The replica logs every statement it runs, so the test sees which reads
it served: only the lag-tolerant ones (analytics, monitoring), and those only once the replica has
what the reader wrote.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.system.servers import PrivatePostgres
from tests.system.stack import Stack, running, token_from

pytestmark = pytest.mark.system

PASSWORD = "a-long-passphrase-1"
APPLY_DELAY = "2s"
# A statement of the application (not the routing probe, not the test's own markers): it names a table.
APP_TABLE = re.compile(r'"(identity|learning|ai|insights|ops)_[a-z]+"')
LOG_ENTRY = re.compile(r"^\d{4}-\d\d-\d\d ")  # the default log_line_prefix starts with the time


@pytest.fixture
def replica(private_postgres: PrivatePostgres) -> Iterator[PrivatePostgres]:
    private_postgres.create_database("resee")
    standby = private_postgres.standby(apply_delay=APPLY_DELAY)
    try:
        with (standby.data / "postgresql.conf").open("a") as conf:
            conf.write("\nlog_statement = 'all'\n")
        standby.psql("SELECT pg_reload_conf()")
        yield standby
    finally:
        standby.destroy()


class ReplicaWindow:
    """The statements the replica ran between two markers the test writes into its log."""

    def __init__(self, server: PrivatePostgres) -> None:
        self.server = server
        self.mark = f"resee-mark-{uuid.uuid4().hex}"
        self.statements: list[str] = []

    def __enter__(self) -> ReplicaWindow:
        self.server.psql(f"SELECT '{self.mark}-start'")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.psql(f"SELECT '{self.mark}-end'")
        text = self.server.log.read_text(errors="replace")
        between = text.split(f"{self.mark}-start", 1)[1].split(f"{self.mark}-end", 1)[0]
        entries: list[str] = []
        for line in between.splitlines():
            if LOG_ENTRY.match(line) or not entries:
                entries.append(line)
            else:  # a statement's further lines
                entries[-1] += "\n" + line
        self.statements = [entry.split("statement: ", 1)[1] for entry in entries if "statement: " in entry]

    @property
    def app_statements(self) -> list[str]:
        return [s for s in self.statements if APP_TABLE.search(s)]


def _wait_for_catch_up(primary: PrivatePostgres, replica: PrivatePostgres) -> float:
    position = primary.psql("SELECT pg_current_wal_lsn()")
    return Stack.wait_until(
        lambda: replica.psql(f"SELECT pg_last_wal_replay_lsn() >= '{position}'::pg_lsn") == "t",
        timeout=30,
        what="the replica to replay the primary's position",
    )


def test_every_route_reads_its_writes_and_only_lag_tolerant_reads_use_the_replica(
    stack_factory, private_postgres: PrivatePostgres, replica: PrivatePostgres, record_property
) -> None:
    primary = private_postgres
    stack = stack_factory(
        database_url=primary.url("resee"),
        release=True,
        DATABASE_REPLICA_URL=replica.url("resee"),
    )
    address = f"lag-{uuid.uuid4().hex[:6]}@example.com"
    lag_seen: list[str] = []  # probes that found the replica still behind the answer just given

    def behind(what: str, sql: str) -> None:
        if replica.psql(sql, database="resee") != "t":
            lag_seen.append(what)

    with running(stack):
        # Registration, then a login at once: authentication reads the primary.
        assert stack.post("/api/auth/register/", {"email": address, "password": PASSWORD}).status_code == 201
        access = stack.login(address, PASSWORD)
        behind("user", f"SELECT EXISTS (SELECT 1 FROM identity_user WHERE email = '{address}')")
        mail = stack.wait_for_mail(address, timeout=30)
        assert stack.post("/api/auth/verify-email/", {"token": token_from(mail)}).status_code == 200

        with stack.client(access) as http:
            # Content: detail, list and forecast right after the write.
            created = http.post("/api/content/", json={"title": "Mitochondria", "body": "Cells' power."})
            assert created.status_code == 201, created.text
            content_id = created.json()["id"]
            assert http.get(f"/api/content/{content_id}/").json()["title"] == "Mitochondria"
            behind("content", f"SELECT EXISTS (SELECT 1 FROM learning_content WHERE id = {content_id})")
            listed = http.get("/api/content/").json()
            assert [item["id"] for item in listed["items"]] == [content_id]
            assert sum(day["due"] for day in http.get("/api/review/forecast/").json()) == 1
            assert http.get("/api/review/today/").status_code == 200

            # A PATCH answers, and is then read back, with the new content.
            patched = http.patch(f"/api/content/{content_id}/", json={"title": "Mitochondria (ATP)"})
            assert patched.json()["title"] == "Mitochondria (ATP)"
            assert http.get(f"/api/content/{content_id}/").json()["title"] == "Mitochondria (ATP)"
            assert http.get("/api/content/").json()["items"][0]["title"] == "Mitochondria (ATP)"

            # An idempotent retry finds the stored answer (not 409).
            key = {"Idempotency-Key": f"review-{uuid.uuid4()}"}
            body = {"content_id": content_id, "result": "remembered"}
            first = http.post("/api/review/complete/", json=body, headers=key)
            assert first.status_code == 200, first.text
            again = http.post("/api/review/complete/", json=body, headers=key)
            assert (again.status_code, again.json()) == (200, first.json())

            # Analytics right after the review: the replica does not have it yet, the answer does.
            with ReplicaWindow(replica) as right_after:
                dashboard = http.get("/api/analytics/dashboard/").json()
                retention = http.get("/api/analytics/retention/").json()
            behind("review", "SELECT EXISTS (SELECT 1 FROM learning_reviewhistory)")
            assert (dashboard["total_content"], dashboard["total_reviews"]) == (1, 1)
            assert dashboard["reviews_per_day"][-1]["remembered"] == 1
            assert retention["total_reviews"] == 1
            if "review" in lag_seen:  # the replica lacked the review after both answers: it served neither
                assert right_after.app_statements == []
            history = http.get("/api/review/history/", params={"content_id": content_id}).json()
            assert [row["result"] for row in history["results"]] == ["remembered"]

            # The profile.
            assert http.patch("/api/accounts/users/me/", json={"first_name": "Ada"}).status_code == 200
            assert http.get("/api/accounts/users/me/").json()["first_name"] == "Ada"

        assert lag_seen, "the replica was never behind an answer: the test proved nothing about lag"
        record_property("replica_behind_right_after", ",".join(lag_seen))

        # Once the replica has replayed everything, ordinary routes still read the primary ...
        caught_up = _wait_for_catch_up(primary, replica)
        record_property("replica_catch_up_seconds", round(caught_up, 2))
        stack.shell(
            f"from modules.identity.models import User; User.objects.filter(email={address!r})"
            ".update(is_staff=True)"
        )
        with stack.client(access) as http:
            with ReplicaWindow(replica) as ordinary:
                assert stack.login(address, PASSWORD)
                assert http.get(f"/api/content/{content_id}/").status_code == 200
                assert http.get("/api/content/").status_code == 200
                assert http.get("/api/review/today/").status_code == 200
                assert http.get("/api/review/history/").status_code == 200
                assert http.get("/api/accounts/users/me/").status_code == 200
                assert http.get("/api/monitoring/alert-rules/").status_code == 200
            assert ordinary.app_statements == []

            # ... and the lag-tolerant ones read the replica, with the same answers.
            _wait_for_catch_up(primary, replica)  # the staff flag above
            with ReplicaWindow(replica) as tolerant:
                dashboard = _ok(http.get("/api/analytics/dashboard/"))
                retention = _ok(http.get("/api/analytics/retention/"))
                subscriptions = _ok(http.get("/api/analytics/subscriptions/"))
                _ok(http.get("/api/monitoring/metrics/", params={"name": "db_connection_count"}))
                _ok(http.get("/api/monitoring/alerts/"))
            assert (dashboard["total_content"], dashboard["total_reviews"]) == (1, 1)
            assert retention["total_reviews"] == 1
            assert subscriptions["totals"]["users"] == 1
            tables = {m.group(0) for s in tolerant.app_statements for m in APP_TABLE.finditer(s)}
            assert {'"learning_reviewhistory"', '"ops_metricsample"', '"ops_alertevent"'} <= tables
            record_property("replica_statements_for_lag_tolerant_routes", len(tolerant.app_statements))
            record_property("replica_app_statements_right_after_review", len(right_after.app_statements))
    assert stack.broker_errors() == []


def _ok(answer: httpx.Response) -> dict:
    assert answer.status_code == 200, answer.text
    return answer.json()
