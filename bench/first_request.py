"""What the first requests of a fresh gunicorn worker cost, against the steady state.

    python bench/first_request.py [--rounds 3] [--boot-wait 25]

Each round starts the image's ``web`` role (docker/entrypoint.sh: gunicorn, one worker here, DEBUG off,
PostgreSQL, Redis) with ``AI_PROVIDER=claude`` pointed at a local stand-in for Anthropic's API
(tests/system/peers.py), waits ``--boot-wait`` seconds so the worker has booted, then times, in
milliseconds: ``/api/health/live/`` twice and ``/api/ai-review/analyze/`` twice. The first of each
pair is what a learner meets after a deploy or a worker restart; modules/common/warmup.py moves it to
the worker's start. A database ``resee_first_request`` is recreated on the machine's PostgreSQL
(``BENCH_PG``, default postgres://postgres@127.0.0.1:5432); Redis db 12 (``BENCH_REDIS_URL``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.system.peers import AnthropicServer  # noqa: E402
from tests.system.servers import free_port, wait_for_port  # noqa: E402

PASSWORD = "a-long-passphrase-1"
MATERIAL = "Photosynthesis converts light energy into chemical energy. Chlorophyll absorbs sunlight."


def _timed(
    http: httpx.Client, times: dict[str, int], name: str, method: str, path: str, **kwargs: Any
) -> None:
    started = time.perf_counter()
    answer = http.request(method, path, **kwargs)
    times[name] = round((time.perf_counter() - started) * 1000)
    assert answer.status_code < 300, answer.text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--boot-wait", type=float, default=25.0)
    args = parser.parse_args()
    server = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    python = sys.executable
    with AnthropicServer() as anthropic:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "Q_"))},
            "DEBUG": "0",
            "SECRET_KEY": "first-request-bench-" + "x" * 40,
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "0",
            "DATABASE_URL": f"{server}/resee_first_request",
            "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12"),
            "AI_PROVIDER": "claude",
            "ANTHROPIC_API_KEY": "sk-ant-bench",
            "ANTHROPIC_BASE_URL": anthropic.url,
            "THROTTLES_ENABLED": "0",
            "LOG_LEVEL": "WARNING",
            "PATH": f"{Path(python).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        for sql in ("DROP DATABASE IF EXISTS resee_first_request", "CREATE DATABASE resee_first_request"):
            subprocess.run(["psql", f"{server}/postgres", "-qc", sql], check=True, capture_output=True)
        manage = [python, "manage.py"]
        subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        make_user = (
            "from modules.identity.testing import make_user; "
            f"make_user(email='first@example.com', password={PASSWORD!r}, tier='PRO')"
        )
        subprocess.run([*manage, "shell", "-c", make_user], cwd=ROOT, env=env, check=True)
        content_id = None
        for _ in range(args.rounds):
            port = free_port()
            web = subprocess.Popen(
                ["/bin/sh", "docker/entrypoint.sh", "web"],
                cwd=ROOT,
                env={**env, "PORT": str(port), "WEB_CONCURRENCY": "1"},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                wait_for_port(port, timeout=60)
                time.sleep(args.boot_wait)
                times: dict[str, int] = {}
                with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
                    _timed(http, times, "live_first_ms", "GET", "/api/health/live/")
                    _timed(http, times, "live_second_ms", "GET", "/api/health/live/")
                    login = {"email": "first@example.com", "password": PASSWORD}
                    token = http.post("/api/auth/token/", json=login).json()["access"]
                    headers = {"Authorization": f"Bearer {token}"}
                    if content_id is None:
                        body = {"title": "Plants", "body": MATERIAL}
                        content_id = http.post("/api/content/", json=body, headers=headers).json()["id"]
                    for name in ("analyze_first_ms", "analyze_second_ms"):
                        body = {"content_id": content_id}
                        _timed(
                            http, times, name, "POST", "/api/ai-review/analyze/", json=body, headers=headers
                        )
                print(json.dumps(times), flush=True)
            finally:
                os.killpg(web.pid, signal.SIGTERM)
                web.wait(timeout=30)


if __name__ == "__main__":
    main()
