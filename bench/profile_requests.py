"""In-process cost of the review loop's and the repeated reads' requests, through the whole WSGI stack
(the application gunicorn serves: every middleware, Ninja, the database and Redis), no HTTP server.

    python bench/profile_requests.py time [--rounds 6] [--n 200]
    python bench/profile_requests.py profile loop|queue|content|health [--n 400] [--top 40] [--cpu]

Run with the bench environment of bench/shapes.sh (DATABASE_URL of the shapes database, REDIS_URL,
DEBUG=0, THROTTLES_ENABLED=0) after ``bench/shapes.py seed``. ``loop`` alternates the queue (a page of
20, right after an answer: uncached) and an answer with an Idempotency-Key, like bench/loop.lua, on
loop-0@ (``bench/shapes.py reset-loop`` gives it fresh due cards).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from config.wsgi import application  # sets Django up

DOMAIN = "shapes.bench.resee.local"


def _token(email: str) -> str:
    from bench.shapes import token

    return token(email)


def _call(method: str, path: str, token: str | None, body: bytes = b"", headers: dict | None = None) -> int:
    path, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_X_FORWARDED_PROTO": "https",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "CONTENT_LENGTH": str(len(body)),
    }
    if body:
        environ["CONTENT_TYPE"] = "application/json"
    if token:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    status: list[str] = []
    chunks = application(environ, lambda s, h, *a: status.append(s))
    for _ in chunks:
        pass
    if hasattr(chunks, "close"):
        chunks.close()
    code = int(status[0].split()[0])
    if code >= 300:
        raise SystemExit(f"{method} {path}: {status[0]}")
    return code


class Loop:
    """loop-0@: queue, answer, queue, answer... over its due cards (then ahead of time)."""

    def __init__(self) -> None:
        from modules.identity import services as identity
        from modules.learning.models import ReviewSchedule

        self.token = _token(f"loop-0@{DOMAIN}")
        user = identity.User.objects.get(email=f"loop-0@{DOMAIN}")
        self.ids = list(
            ReviewSchedule.objects.filter(user=user)
            .order_by("next_review_date")
            .values_list("content_id", flat=True)
        )
        self.index = 0

    def queue(self) -> None:
        _call("GET", "/api/review/today/?limit=20", self.token)

    def answer(self) -> None:
        content_id = self.ids[self.index % len(self.ids)]
        self.index += 1
        body = f'{{"content_id": {content_id}, "result": "remembered", "time_spent_seconds": 9}}'.encode()
        _call("POST", "/api/review/complete/", self.token, body, {"Idempotency-Key": uuid.uuid4().hex})


def scenarios() -> dict[str, Callable[[], None]]:
    loop = Loop()
    repeat = _token(f"repeat@{DOMAIN}")
    return {
        "health": lambda: _call("GET", "/api/health/live/", None),
        "me": lambda: _call("GET", "/api/accounts/users/me/", repeat),
        "answer": loop.answer,
        "queue-after-answer": lambda: (loop.answer(), loop.queue()),
        "loop-pair": lambda: (loop.queue(), loop.answer()),
        "content": lambda: _call("GET", "/api/content/?limit=20", repeat),
        "queue": lambda: _call("GET", "/api/review/today/", repeat),
    }


def timed(rounds: int, n: int) -> None:
    """Best of ``rounds`` x ``n`` calls: wall time and this process's CPU time per call (the CPU
    time leaves out waiting for PostgreSQL and Redis, and most of the noise of a shared machine)."""
    found = scenarios()
    answer: tuple[float, float] | None = None
    for name, run in found.items():
        for _ in range(5):
            run()
        samples = [_per_call(run, n) for _ in range(rounds)]
        wall, cpu = min(sample[0] for sample in samples), min(sample[1] for sample in samples)
        if name == "answer":
            answer = (wall, cpu)
        if name == "queue-after-answer" and answer is not None:
            wall, cpu = wall - answer[0], cpu - answer[1]
        print(f"{name:20s} wall {wall * 1000:7.3f} ms   cpu {cpu * 1000:7.3f} ms")


def _per_call(run: Callable[[], None], n: int) -> tuple[float, float]:
    started, started_cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        run()
    return (time.perf_counter() - started) / n, (time.process_time() - started_cpu) / n


def profile(name: str, n: int, top: int, sort: str, cpu: bool = False) -> None:
    """cProfile of ``n`` runs; with ``cpu`` its clock is this process's CPU time, so waiting for
    PostgreSQL and Redis counts only for the CPU their client code spends."""
    found = scenarios()
    run = {"loop": found["loop-pair"]}.get(name) or found[name]
    for _ in range(20):
        run()
    profiler = cProfile.Profile(time.process_time) if cpu else cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        run()
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats(sort).print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    time_ = commands.add_parser("time")
    time_.add_argument("--rounds", type=int, default=6)
    time_.add_argument("--n", type=int, default=200)
    prof = commands.add_parser("profile")
    prof.add_argument("name")
    prof.add_argument("--n", type=int, default=400)
    prof.add_argument("--top", type=int, default=40)
    prof.add_argument("--sort", default="cumulative")
    prof.add_argument("--cpu", action="store_true", help="CPU time instead of wall time")
    args = parser.parse_args()
    if args.command == "time":
        timed(args.rounds, args.n)
    else:
        profile(args.name, args.n, args.top, args.sort, args.cpu)


if __name__ == "__main__":
    main()
