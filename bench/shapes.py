"""The three load shapes of ``make bench`` (bench/shapes.sh runs them; docs/benchmarks.md):

    python bench/shapes.py seed                       # the learners below, unless they exist
    python bench/shapes.py reset-loop                 # the review loop's learners, fresh (before each loop)
    python bench/shapes.py loop-file FILE             # "token id id ..." per loop learner, for bench/loop.lua
    python bench/shapes.py token EMAIL                # an access token of one learner
    python bench/shapes.py heavy-light BASE_URL OUT.json [--requests N]
    python bench/shapes.py report RUN_DIR             # every ratio of the run, and summary-shapes.md

(a) **Heavy vs light learner**: ``light@`` (200 contents, 1,000 reviews) and ``heavy@`` (10,000 contents,
1,000,000 reviews over three years) in one database, 100 due each; sequential requests to every
learner-facing route, the two learners interleaved request by request; median and p95 per route and
the ratio heavy / light. (b) **The review loop**: 16 learners (``loop-<i>@``, 1,000 contents, 400 due)
each alternating "read today's queue" and "answer a card" (bench/loop.lua). (c) **Repeated reads of
one page**: ``repeat@`` (1,000 contents, 100 due), the content list and today's queue under wrk.

Run with the bench environment (bench/shapes.sh sets it); the database name must contain "bench".
Accounts go through identity's doors; learning's rows are written in bulk by bench/seed.py.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

if __name__ == "__main__":  # run as a script: set Django up before the imports below need it
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()

from django.conf import settings
from django.db import connection

from bench.seed import MARKER, analyze, seed_learner
from modules.identity import services as identity
from modules.learning import services as learning

DOMAIN = "shapes.bench.resee.local"
LIGHT = f"light@{DOMAIN}"
HEAVY = f"heavy@{DOMAIN}"
REPEAT = f"repeat@{DOMAIN}"
LOOP = "loop-{index}@" + DOMAIN
LOOP_LEARNERS = 16
LOOP_CONTENTS = 1_000
LOOP_DUE = 400
THREE_YEARS = (3 * 365.0, 3 * 365.0 + 5)

# (email, contents, reviews per content, due, age of the contents in days)
LEARNERS: tuple[tuple[str, int, int, int, tuple[float, float]], ...] = (
    (LIGHT, 200, 5, 100, (200.0, 300.0)),
    (HEAVY, 10_000, 100, 100, THREE_YEARS),
    (REPEAT, 1_000, 10, 100, (200.0, 300.0)),
)

# The learner-facing routes of shape (a): label -> path ({content} is one of the learner's contents,
# {category} the category it is in). Every GET route of the API is here or in NOT_TIMED (a test checks
# against the OpenAPI schema, so a new route cannot be left out unnoticed).
ROUTES: tuple[tuple[str, str], ...] = (
    ("today's queue", "/api/review/today/"),
    ("content list", "/api/content/?limit=20"),
    ("search", f"/api/content/?search={MARKER}&limit=20"),  # 5 matches for either learner
    ("one category's contents", "/api/content/?category={category}&limit=20"),
    ("history", "/api/review/history/"),
    ("one content's history", "/api/review/history/?content_id={content}"),
    ("forecast", "/api/review/forecast/"),
    ("dashboard", "/api/analytics/dashboard/"),
    ("retention", "/api/analytics/retention/"),
    ("content detail", "/api/content/{content}/"),
    ("categories", "/api/content/categories/"),
    ("profile", "/api/accounts/users/me/"),
    ("subscription", "/api/accounts/subscription/"),
    ("memory parameters", "/api/review/parameters/"),
    ("retention simulation", "/api/review/simulation/"),
    ("AI questions", "/api/ai-review/questions/"),
    ("AI usage", "/api/ai-review/usage/"),
)
# Routes timed fewer times per round than the others (seconds per request for the heavy learner).
FEWER_REQUESTS = {"retention simulation": 5}
# GET routes shape (a) does not time, each with the reason (path templates as the schema has them).
NOT_TIMED: dict[str, str] = {
    "/api/health/live/": "no learner: shapes (b) and (c) measure against it",
    "/api/health/ready/": "no learner",
    "/api/review/fits/{}/": "one job by id (a primary-key lookup), whatever the learner's size",
    "/api/ai-review/jobs/{}/": "one job by id (a primary-key lookup), whatever the learner's size",
    "/api/portability/exports/{}/": "one job by id (a primary-key lookup), whatever the learner's size",
    "/api/portability/exports/{}/download/": "a file of the export job (docs/portability.md)",
    "/api/portability/imports/{}/": "one job by id (a primary-key lookup), whatever the learner's size",
    "/api/analytics/subscriptions/": "admins only: counts over all users, not one learner's",
    "/api/monitoring/health/": "admins only",
    "/api/monitoring/metrics/": "admins only",
    "/api/monitoring/alert-rules/": "admins only",
    "/api/monitoring/alerts/": "admins only",
}
# Reported, not held to the targets: a search whose words are in 5% of the contents. The seed's bodies
# draw on 36 words, so every trigram is in nearly every body and the trigram index cannot narrow the
# search: it reads every body (real text is far more selective), and the count is of every match.
INFORMATIONAL = (("search, 5% match", "/api/content/?search=lemma%20theorem&limit=20"),)
# The body of the contents shape (a)'s writes create (about the seed's length).
WRITTEN_BODY = (
    "A short note written by the benchmark: the learner saves what they learned, edits its title once "
    "and deletes it again, so the database is left as the seed made it. " * 3
)

TARGET_HEAVY_RATIO = 1.2
TARGET_P95_MS = 200.0
TARGET_LOOP_SHARE = 0.30
TARGET_LOOP_P99_MS = 100.0
TARGET_REPEAT_SHARE = 0.40
TARGET_REPEAT_P99_MS = 25.0


def _user(email: str) -> identity.User:
    return identity.User.objects.select_related("subscription").get(email=email)


def _exists(email: str) -> bool:
    return identity.User.objects.filter(email=email).exists()


def _seed(email: str, contents: int, history: int, due: int, age: tuple[float, float], seed: int) -> None:
    began = time.perf_counter()
    seed_learner(email=email, contents=contents, history=history, due=due, age_days=age, marked=5, seed=seed)
    print(
        f"  {email}: {contents} contents x {history} reviews, {due} due  {time.perf_counter() - began:.1f}s"
    )


def seed() -> None:
    for position, (email, contents, history, due, age) in enumerate(LEARNERS):
        if _exists(email):
            print(f"  {email}: exists")
            continue
        _seed(email, contents, history, due, age, seed=100 + position)
    reset_loop()  # and builds every learner's tallies


def build_tallies() -> None:
    """Learning's review tallies of every learner, as the steady state has them (the seed writes the
    history in bulk, around the facade that keeps them). Trees before the tallies have none to build."""
    build = getattr(learning, "build_review_tallies_of", None)
    if build is None:
        return
    began = time.perf_counter()
    emails = [email for email, *_ in LEARNERS] + [LOOP.format(index=index) for index in range(LOOP_LEARNERS)]
    built = sum(build(user_id=_user(email).pk) for email in emails if _exists(email))
    print(f"  review tallies of {built} learners  {time.perf_counter() - began:.1f}s")


def build_card_memory() -> None:
    """Every learner's kept card memory, as the steady state has it (the seed writes the history in
    bulk, as an import does, and the worker then rebuilds it). Trees before the kept memory skip this."""
    rebuild = getattr(learning, "rebuild_card_memory", None)
    if rebuild is None:
        return
    from modules.learning.models import ReviewSchedule

    began = time.perf_counter()
    emails = [email for email, *_ in LEARNERS] + [LOOP.format(index=index) for index in range(LOOP_LEARNERS)]
    built = 0
    for email in emails:
        if not _exists(email):
            continue
        user = _user(email)
        unkept = ReviewSchedule.objects.filter(user=user, review_count__gt=0, memory_basis__isnull=True)
        if unkept.exists():
            rebuild(user_id=user.pk)
            built += 1
    print(f"  card memory of {built} learners  {time.perf_counter() - began:.1f}s")


def reset_loop() -> None:
    """Deletes the loop learners (their answers of an earlier round go with them) and seeds them again."""
    for index in range(LOOP_LEARNERS):
        email = LOOP.format(index=index)
        if _exists(email):
            identity.delete_account(user=_user(email))
        _seed(email, LOOP_CONTENTS, 3, LOOP_DUE, (200.0, 300.0), seed=1_000 + index)
    build_tallies()
    build_card_memory()
    analyze()  # after the tallies and memory: every table as autovacuum would leave it


def token(email: str) -> str:
    return identity.issue_tokens(_user(email)).access


def loop_file(path: Path) -> None:
    """One line per loop learner: an access token, then the ids of its due contents in queue order
    (each answer takes the next; once they run out the learner reviews ahead, still a 200)."""
    lines = []
    for index in range(LOOP_LEARNERS):
        user = _user(LOOP.format(index=index))
        queue = learning.review_queue(user=user, limit=LOOP_DUE, offset=0)
        ids = [str(item.content.id) for item in queue.items]
        lines.append(" ".join([identity.issue_tokens(user).access, *ids]))
    path.write_text("\n".join(lines) + "\n")


# --- (a) heavy vs light -------------------------------------------------------------------------


class _Client:
    """One keep-alive HTTP/1.1 connection, like a browser's; sequential requests."""

    def __init__(self, base: str) -> None:
        url = urlparse(base)
        self.connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 80, timeout=60)

    def call_ms(
        self,
        method: str,
        path: str,
        token: str,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[float, int, bytes]:
        sent = {"Authorization": f"Bearer {token}", "X-Forwarded-Proto": "https", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        began = time.perf_counter()
        self.connection.request(method, path, body=data, headers=sent)
        response = self.connection.getresponse()
        answer = response.read()
        return (time.perf_counter() - began) * 1000, response.status, answer


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def heavy_light(base: str, out: Path, *, requests: int, warmup: int = 3) -> dict[str, Any]:
    learners = {"light": _user(LIGHT), "heavy": _user(HEAVY)}
    tokens = {name: identity.issue_tokens(user).access for name, user in learners.items()}
    categorised = {name: _categorised_content(user) for name, user in learners.items()}
    client = _Client(base)
    routes: list[dict[str, Any]] = []

    def timed(label: str, path: str, send: Callable[[str, int], tuple[float, int]], *, target: bool) -> None:
        times: dict[str, list[float]] = {"light": [], "heavy": []}
        for round_ in range(warmup + min(requests, FEWER_REQUESTS.get(label, requests))):
            for name in ("light", "heavy"):
                ms, status = send(name, round_)
                if not 200 <= status < 300:
                    raise SystemExit(f"{label} for {name}: {path} answered {status}")
                if round_ >= warmup:
                    times[name].append(ms)
        row: dict[str, Any] = {"route": label, "path": path, "target": target}
        for name, values in times.items():
            row[f"{name}_p50_ms"] = statistics.median(values)
            row[f"{name}_p95_ms"] = _percentile(values, 0.95)
        row["ratio_p50"] = row["heavy_p50_ms"] / row["light_p50_ms"]
        routes.append(row)
        print(
            f"  {label:16} light p50 {row['light_p50_ms']:7.1f} p95 {row['light_p95_ms']:7.1f} | "
            f"heavy p50 {row['heavy_p50_ms']:7.1f} p95 {row['heavy_p95_ms']:7.1f} | "
            f"heavy/light {row['ratio_p50']:5.2f}",
            flush=True,
        )

    for label, template in (*ROUTES, *INFORMATIONAL):
        timed(
            label,
            template,
            lambda name, _, template=template: client.call_ms(
                "GET",
                template.format(content=categorised[name][0], category=categorised[name][1]),
                tokens[name],
            )[:2],
            target=(label, template) in ROUTES,
        )
    for label, path, send in _writes(client, learners, tokens, count=warmup + requests):
        timed(label, path, send, target=True)
    # The writes' dead row versions gone and the visibility map set again, as after the seed: on a
    # server without autovacuum (this machine's) the next round's index-only counts would otherwise
    # visit the heap for every page the answers touched (the forecast: 957 heap fetches, 1.09 -> 1.24).
    analyze()
    answer = {"requests": requests, "routes": routes}
    out.write_text(json.dumps(answer, indent=2))
    return answer


def _categorised_content(user: identity.User) -> tuple[int, int]:
    """(a content, its category) of the learner: the seed puts every content in a category."""
    for content in learning.sibling_contents(user=user, exclude_content_id=None, limit=50):
        if content.category_id is not None:
            return content.id, content.category_id
    raise SystemExit(f"{user.email} has no categorised content among its first 50")


def untimed_routes(schema: dict[str, Any]) -> list[str]:
    """GET routes of the OpenAPI ``schema`` that are neither timed by shape (a) nor in NOT_TIMED."""

    def shape(path: str) -> str:  # "/api/v1/content/{content_id}/?x=1" -> "/api/content/{}/"
        return re.sub(r"\{[^}]*\}", "{}", path.split("?", 1)[0].replace("/api/v1/", "/api/"))

    known = {shape(template) for _, template in ROUTES} | {shape(path) for path in NOT_TIMED}
    return sorted(
        shape(path)
        for path, operations in schema["paths"].items()
        if "get" in operations and shape(path) not in known
    )


def _writes(
    client: _Client, learners: dict[str, identity.User], tokens: dict[str, str], *, count: int
) -> list[tuple[str, str, Callable[[str, int], tuple[float, int]]]]:
    """Shape (a)'s writes, each ``count`` times per learner, leaving the learners as they were but for
    ``count`` more reviews each: answering cards that are not due ("partial": the card keeps its stage
    and stays not due, so the queue the reads see is unchanged), then creating contents, editing them
    and deleting them."""
    answerable = {name: _not_due_contents(user, count) for name, user in learners.items()}
    created: dict[str, list[int]] = {name: [] for name in learners}

    def answer(name: str, index: int) -> tuple[float, int]:
        body = {"content_id": answerable[name][index], "result": "partial", "time_spent_seconds": 12}
        return client.call_ms(
            "POST", "/api/review/complete/", tokens[name], body, {"Idempotency-Key": uuid.uuid4().hex}
        )[:2]

    def create(name: str, index: int) -> tuple[float, int]:
        body = {"title": f"Bench write {index}", "body": WRITTEN_BODY}
        ms, status, text = client.call_ms("POST", "/api/content/", tokens[name], body)
        if status == 201:
            created[name].append(json.loads(text)["id"])
        return ms, status

    def edit(name: str, index: int) -> tuple[float, int]:
        body = {"title": f"Bench write {index}, edited"}
        return client.call_ms("PATCH", f"/api/content/{created[name][index]}/", tokens[name], body)[:2]

    def delete(name: str, index: int) -> tuple[float, int]:
        return client.call_ms("DELETE", f"/api/content/{created[name][index]}/", tokens[name])[:2]

    return [
        ("answer a card", "POST /api/review/complete/", answer),
        ("create a content", "POST /api/content/", create),
        ("edit a content", "PATCH /api/content/{id}/", edit),
        ("delete a content", "DELETE /api/content/{id}/", delete),
    ]


def _not_due_contents(user: identity.User, count: int) -> list[int]:
    due = {item.content.id for item in learning.review_queue(user=user, limit=1_000, offset=0).items}
    candidates = learning.sibling_contents(user=user, exclude_content_id=None, limit=count + len(due))
    ids = [content.id for content in candidates if content.id not in due][:count]
    if len(ids) < count:
        raise SystemExit(f"{user.email} has {len(ids)} contents that are not due; {count} are needed")
    return ids


# --- the report -----------------------------------------------------------------------------------


def merge(path: Path) -> str:
    """One RESULT line for the wrk runs (slices) in ``path``: requests over their summed durations,
    percentiles weighted by each slice's requests, the worst maximum, errors summed."""
    slices = [
        json.loads(line.removeprefix("RESULT "))
        for line in path.read_text().splitlines()
        if line.startswith("RESULT ")
    ]
    requests = sum(part["requests"] for part in slices)
    merged: dict[str, Any] = {
        "requests": requests,
        "duration_s": round(sum(part["duration_s"] for part in slices), 3),
        "slices": len(slices),
    }
    merged["rps"] = round(requests / merged["duration_s"], 2) if merged["duration_s"] else 0.0
    for key in ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "mean_ms"):
        merged[key] = round(sum(part[key] * part["requests"] for part in slices) / max(requests, 1), 3)
    merged["max_ms"] = max((part["max_ms"] for part in slices), default=0.0)
    for key in ("non_2xx", "socket_errors", "timeouts"):
        merged[key] = sum(part[key] for part in slices)
    return f"RESULT {json.dumps(merged)}"


def _wrk(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        if line.startswith("RESULT "):
            return json.loads(line.removeprefix("RESULT "))
    return None


def _rounds(run: Path) -> list[int]:
    return sorted({int(path.stem.rsplit("-", 1)[1]) for path in run.glob("*-[0-9]*.*")})


def report(run: Path) -> str:
    """Every ratio of the run's rounds, as markdown; also written to RUN/summary-shapes.md."""
    lines: list[str] = []
    verdicts: list[str] = []
    for round_ in _rounds(run):
        lines.append(f"### Round {round_}\n")
        heavy_light_path = run / f"heavy-light-{round_}.json"
        if heavy_light_path.exists():
            found = json.loads(heavy_light_path.read_text())
            lines += [
                f"(a) heavy vs light learner, read cache off, {found['requests']} sequential requests each:\n",
                "| route | light p50 | light p95 | heavy p50 | heavy p95 | heavy / light (p50) |",
                "|---|---:|---:|---:|---:|---:|",
            ]
            for row in found["routes"]:
                label = row["route"] if row.get("target", True) else f"{row['route']} (not a target)"
                lines.append(
                    f"| {label} | {row['light_p50_ms']:.1f} | {row['light_p95_ms']:.1f} | "
                    f"{row['heavy_p50_ms']:.1f} | {row['heavy_p95_ms']:.1f} | {row['ratio_p50']:.2f} |"
                )
            held = [row for row in found["routes"] if row.get("target", True)]
            worst = max(held, key=lambda row: row["ratio_p50"])
            slowest = max(max(row["light_p95_ms"], row["heavy_p95_ms"]) for row in held)
            verdicts.append(
                f"round {round_} (a): worst heavy/light {worst['ratio_p50']:.2f} ({worst['route']}; target "
                f"<= {TARGET_HEAVY_RATIO}), highest p95 {slowest:.0f} ms (target < {TARGET_P95_MS:.0f})"
            )
            lines.append("")
        lines.append("(b), (c): wrk, ratio of requests/s to /api/health/live/ in the same run:\n")
        lines += [
            "| scenario | requests/s | p50 ms | p99 ms | non-2xx | vs health/live |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for health_name, name, share, p99 in (
            ("loop-health", "loop", TARGET_LOOP_SHARE, TARGET_LOOP_P99_MS),
            ("repeat-health", "repeat-content", TARGET_REPEAT_SHARE, TARGET_REPEAT_P99_MS),
            ("repeat-health-q", "repeat-queue", TARGET_REPEAT_SHARE, TARGET_REPEAT_P99_MS),
        ):
            health = _wrk(run / f"{health_name}-{round_}.txt")
            found = _wrk(run / f"{name}-{round_}.txt")
            if health is None:
                continue
            lines.append(
                f"| {health_name}: GET /api/health/live/ | {health['rps']:.0f} | {health['p50_ms']:.1f} | "
                f"{health['p99_ms']:.1f} | {health['non_2xx'] + health['socket_errors']} | 100% |"
            )
            if found is not None:
                ratio = found["rps"] / health["rps"]
                errors = found["non_2xx"] + found["socket_errors"] + found["timeouts"]
                lines.append(
                    f"| {name} | {found['rps']:.0f} | {found['p50_ms']:.1f} | {found['p99_ms']:.1f} | "
                    f"{errors} | {ratio:.0%} |"
                )
                verdicts.append(
                    f"round {round_} ({'b' if name == 'loop' else 'c'}) {name}: {ratio:.0%} of health/live "
                    f"(target >= {share:.0%}), p99 {found['p99_ms']:.1f} ms (target < {p99:.0f}), "
                    f"non-2xx {errors}"
                )
        lines.append("")
    text = "\n".join([*lines, "Ratios:", *(f"- {line}" for line in verdicts), ""])
    (run / "summary-shapes.md").write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("seed")
    commands.add_parser("reset-loop")
    loop = commands.add_parser("loop-file")
    loop.add_argument("path", type=Path)
    one = commands.add_parser("token")
    one.add_argument("email")
    measure = commands.add_parser("heavy-light")
    measure.add_argument("base")
    measure.add_argument("out", type=Path)
    measure.add_argument("--requests", type=int, default=40)
    slices = commands.add_parser("merge")
    slices.add_argument("path", type=Path)
    summary = commands.add_parser("report")
    summary.add_argument("run", type=Path)
    args = parser.parse_args(argv)
    if args.command == "merge":
        print(merge(args.path))
        return 0
    if args.command != "report" and "bench" not in settings.DATABASES["default"]["NAME"]:
        parser.error("the database name must contain 'bench'")
    if args.command == "seed":
        seed()
        analyze()
    elif args.command == "reset-loop":
        reset_loop()
    elif args.command == "loop-file":
        loop_file(args.path)
    elif args.command == "token":
        print(token(args.email))
    elif args.command == "heavy-light":
        heavy_light(args.base, args.out, requests=args.requests)
    elif args.command == "report":
        print(report(args.run))
    connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
