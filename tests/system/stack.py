"""The deployed topology as real processes: gunicorn (2 workers) and ``manage.py qcluster``.

A ``Stack`` runs the production configuration (DEBUG off, PostgreSQL with the connection pool, Redis,
the ORM broker, the file email backend) on free ports and is driven only from outside: HTTP, the
files the email backend writes, and whatever local webhook server a test gives it.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.system.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
SECRET = "system-tier-secret-" + "x" * 40
BROKER_ERRORS = (
    "Failed to pull task from broker",
    "Could not save task result",
    "reincarnated pusher",
    "reincarnated monitor",
    "can't change 'autocommit'",
    "the last operation didn't produce records",
    "Traceback",
)

_TASK_WORDS = ("processing", "Processed", "Failed", "reincarnated", "killed", "stopping", "running.")


def base_env(*, database_url: str, redis_url: str, workdir: Path, **overrides: str) -> dict[str, str]:
    """The production environment of the image, pointed at the given servers."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DATABASE_", "REDIS_", "Q_", "DJANGO_", "EMAIL_", "SLACK_", "PYTEST", "COV_"))
    }
    env.update(
        {
            "DEBUG": "0",
            "SECRET_KEY": SECRET,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CACHE_KEY_PREFIX": f"sys-{uuid.uuid4().hex[:8]}",
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(workdir / "mail"),
            "AI_PROVIDER": "local",
            "AUTH_THROTTLE_RATE": "100000/hour",
            "SITE_URL": "http://127.0.0.1",
            "PYTHONUNBUFFERED": "1",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "LOG_LEVEL": "INFO",
        }
    )
    env.update(overrides)
    return env


class _Exited(Exception):
    """The process waited on exited (its return code is the message)."""


@dataclass
class Stack:
    workdir: Path
    env: dict[str, str]
    web_workers: int = 2
    port: int = field(default_factory=free_port)
    web: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    _workers_started: int = 0

    # --- processes ---------------------------------------------------------------------------------
    def manage(self, *args: str, timeout: float = 120, input_text: str | None = None) -> str:
        result = subprocess.run(  # noqa: S603
            [PYTHON, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input_text,
        )
        if result.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def shell(self, code: str, *, timeout: float = 120) -> str:
        """Runs Python in a Django shell of this stack (set-up only: tests observe over HTTP)."""
        return self.manage("shell", "-c", code, timeout=timeout)

    def release(self) -> None:
        """The image's ``release`` role: migrations and schedules."""
        result = subprocess.run(  # noqa: S603
            ["/bin/sh", str(ENTRYPOINT), "release"],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if result.returncode != 0:
            raise RuntimeError(f"release failed:\n{result.stdout}\n{result.stderr}")

    @property
    def web_log(self) -> Path:
        return self.workdir / "web.log"

    def worker_log(self, index: int | None = None) -> Path:
        return self.workdir / f"worker{self._workers_started if index is None else index}.log"

    def start_web(self) -> None:
        """The image's ``web`` role (docker/entrypoint.sh): gunicorn, 2 workers, redacting logger.

        The port is chosen free and then released, so another process may take it before gunicorn
        binds: gunicorn then exits with "Connection in use", and the stack starts again on a new port.
        A gunicorn that exits for any other reason fails at once, with its log on the error's line."""
        for _attempt in range(3):
            if self._spawn_web():
                return
            self.port = free_port()
        raise RuntimeError(f"gunicorn found no free port in 3 tries: {self._web_log_line()}")

    def _spawn_web(self) -> bool:
        log = self.web_log.open("ab")
        self.web = subprocess.Popen(  # noqa: S603
            ["/bin/sh", str(ENTRYPOINT), "web", "--graceful-timeout", "5"],
            cwd=ROOT,
            env={**self.env, "PORT": str(self.port), "WEB_CONCURRENCY": str(self.web_workers)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        web = self.web

        def answers() -> bool:
            if web.poll() is not None:
                raise _Exited(web.returncode)
            return self.get("/api/health/live/").status_code == 200

        try:
            self.wait_until(
                answers,
                timeout=60,
                what=f"gunicorn to answer /api/health/live/ on port {self.port}",
                explain=self._web_log_line,
            )
        except _Exited as exited:
            self.web = None
            if "Connection in use" in self.web_log.read_text(errors="replace"):
                return False
            raise RuntimeError(
                f"gunicorn exited ({exited}) before answering: {self._web_log_line()}"
            ) from None
        return True

    def _web_log_line(self, lines: int = 12) -> str:
        """The web log's last lines and gunicorn's state, one line (CI shows a failure's first line)."""
        alive = "running" if self.web is not None and self.web.poll() is None else "not running"
        tail = self.web_log.read_text(errors="replace").splitlines()[-lines:] if self.web_log.exists() else []
        return f"gunicorn {alive}; web.log: " + " | ".join(line[:160] for line in tail)

    def start_worker(self) -> subprocess.Popen[bytes]:
        self._workers_started += 1
        log = self.worker_log().open("ab")
        self.worker = subprocess.Popen(  # noqa: S603
            ["/bin/sh", str(ENTRYPOINT), "worker"],  # the image's ``worker`` role: exec qcluster
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_until(
            lambda: "running" in self.worker_log().read_text(errors="replace"),
            timeout=30,
            what="the cluster to run",
            explain=lambda: self.worker_log().read_text(errors="replace")[-1500:].replace("\n", " | "),
        )
        return self.worker

    def stop_worker(self, *, timeout: float = 20) -> float:
        """SIGTERM to the qcluster master; returns the seconds until it and all its children exited."""
        if self.worker is None:
            return 0.0
        seconds = terminate_tree(self.worker, timeout=timeout)
        self.worker = None
        return seconds

    def kill_worker(self) -> None:
        """SIGKILL to the whole cluster (master, sentinel, pusher, monitor, workers) at once."""
        if self.worker is None:
            return
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait(timeout=10)
        self.worker = None

    def stop(self) -> None:
        self.stop_worker()
        if self.web is not None:
            terminate_tree(self.web, timeout=20)
            self.web = None

    # --- HTTP ----------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, token: str | None = None, *, timeout: float = 30) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        with self.client() as http:
            return http.get(path, **kwargs)

    def post(self, path: str, json: Any = None, *, token: str | None = None, **kwargs: Any) -> httpx.Response:
        with self.client(token) as http:
            return http.post(path, json=json, **kwargs)

    def login(self, email_address: str, password: str) -> str:
        answer = self.post("/api/auth/token/", {"email": email_address, "password": password})
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access"])

    # --- email --------------------------------------------------------------------------------------
    @property
    def mail_dir(self) -> Path:
        return Path(self.env["EMAIL_FILE_PATH"])

    def mails(self) -> list[EmailMessage]:
        return read_mailbox(self.mail_dir)

    def mails_to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.mails() if address in str(m["To"])]

    def wait_for_mail(self, address: str, *, subject: str = "", timeout: float = 30) -> EmailMessage:
        found: list[EmailMessage] = []

        def arrived() -> bool:
            found[:] = [m for m in self.mails_to(address) if subject.lower() in str(m["Subject"]).lower()]
            return bool(found)

        self.wait_until(arrived, timeout=timeout, what=f"an email to {address}", explain=self.worker_events)
        return found[0]

    # --- logs ---------------------------------------------------------------------------------------
    def worker_log_text(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in self._worker_logs() if path.exists())

    def broker_errors(self) -> list[str]:
        return [line for line in self.worker_log_text().splitlines() if any(e in line for e in BROKER_ERRORS)]

    def swallowed_exceptions(self) -> list[str]:
        """Where Python printed an exception and dropped it ("Exception ignored in ..."): raised in a
        finalizer, for one, as Django-Q2's task alarm once was (docs/ops.md, "A task past Q_TIMEOUT").
        Every system test ends with none, in the web's log and every worker's."""
        web = self.web_log.read_text(errors="replace") if self.web_log.exists() else ""
        text = f"{web}\n{self.worker_log_text()}"
        return [line for line in text.splitlines() if "Exception ignored" in line]

    def _worker_logs(self) -> list[Path]:
        return [self.worker_log(index) for index in range(1, self._workers_started + 1)]

    def worker_events(self, *, limit: int = 12) -> str:
        """The worker logs' task and failure lines, one line: what a timeout message should carry, since
        CI shows a failure's first line and little else."""
        events = []
        for index in range(1, self._workers_started + 1):
            path = self.worker_log(index)
            if not path.exists():
                continue
            for line in path.read_text(errors="replace").splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # not one of the JSON log lines (a traceback's continuation)
                level, message = str(record.get("level", "")), str(record.get("message", ""))
                if level in {"WARNING", "ERROR", "CRITICAL"} or any(w in message for w in _TASK_WORDS):
                    clock = str(record.get("ts", ""))[11:19]
                    events.append(f"w{index} {clock} {level[:1]} {message[:110]}")
        shown = events[-limit:]
        return f"worker events ({len(events)}, last {len(shown)}): " + " | ".join(shown)

    def queue_state(self) -> str:
        """The broker's queue (ORM) and the last task results, one line, read through a Django shell."""
        code = (
            "from django.utils import timezone; from django_q.models import OrmQ, Task; now = timezone.now()\n"
            "queued = [f'{q.name()} lock{(q.lock - now).total_seconds():+.0f}s' for q in OrmQ.objects.all()]\n"
            "done = [f'{t.name} ok={t.success} tries={t.attempt_count}' for t in Task.objects.order_by('-stopped')[:5]]\n"
            "print(f'queue={queued} results={done}')"
        )
        return (self.shell(code, timeout=60).strip().splitlines() or [""])[-1]  # after Django's banner

    def job_diagnosis(self, access: str, job_id: int) -> str:
        """Where an AI job stands (its API view, the queue, the workers' events), one line."""
        with self.client(access) as http:
            job = http.get(f"/api/ai-review/jobs/{job_id}/").json()
        fields = {key: job.get(key) for key in ("status", "error", "started_at", "finished_at")}
        return f"job={fields} {self.queue_state()} {self.worker_events()}"

    def log_tails(self, *, lines: int = 40) -> str:
        """The last lines of every log of this stack, for a failed test's report."""
        parts = []
        for path in [self.web_log, *(self.worker_log(i) for i in range(1, self._workers_started + 1))]:
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path.name} (last {len(tail)} lines)\n" + "\n".join(tail))
        return "\n".join(parts)

    # --- waiting ------------------------------------------------------------------------------------
    @staticmethod
    def wait_until(
        check: Callable[[], bool],
        *,
        timeout: float,
        what: str = "the condition",
        explain: Callable[[], str] | None = None,
    ) -> float:
        """Polls ``check`` until it holds; on timeout the error names ``what`` and, on the same line,
        whatever ``explain`` says about the state it was stuck in."""
        start = time.monotonic()
        while True:
            try:
                if check():
                    return time.monotonic() - start
            except (httpx.HTTPError, OSError):
                pass
            if time.monotonic() - start > timeout:
                detail = ""
                if explain is not None:
                    try:
                        detail = f"; {explain()}"
                    except Exception as exc:  # the diagnosis must not hide the timeout
                        last = (str(exc).strip().splitlines() or [""])[-1]
                        detail = f"; (no diagnosis: {type(exc).__name__}: {last})"
                raise TimeoutError(f"waited {timeout} s for {what}{detail}")
            time.sleep(0.1)


def token_from(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else str(message.get_payload())
    match = re.search(r"token=([^\s&\"'<>]+)", text)
    assert match, f"no token link in: {text[:500]}"
    from urllib.parse import unquote

    return unquote(match.group(1))


def read_mailbox(folder: Path) -> list[EmailMessage]:
    """Every message Django's file backend wrote (one file per connection, messages split by dashes)."""
    messages: list[EmailMessage] = []
    if not folder.exists():
        return messages
    separator = "\n" + "-" * 79 + "\n"
    for path in sorted(folder.glob("*.log")):
        for chunk in path.read_text(errors="replace").split(separator):
            if chunk.strip():
                parsed = email.message_from_string(chunk.lstrip("\n"), policy=email.policy.default)
                messages.append(parsed)  # type: ignore[arg-type]
    return messages


def terminate_tree(process: subprocess.Popen[bytes], *, timeout: float) -> float:
    """SIGTERM to one process; waits for it and every descendant; SIGKILLs what is left after
    ``timeout`` and then fails. Returns the seconds it took."""
    start = time.monotonic()
    try:
        family = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    process.send_signal(signal.SIGTERM)
    _gone, alive = psutil.wait_procs(family, timeout=timeout)
    elapsed = time.monotonic() - start
    if alive:
        for proc in alive:
            with suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(alive, timeout=5)
        process.wait(timeout=5)
        raise AssertionError(f"{len(alive)} processes still alive {timeout} s after SIGTERM: {alive}")
    process.wait(timeout=5)
    return elapsed


@contextmanager
def running(stack: Stack, *, worker: bool = True) -> Iterator[Stack]:
    try:
        stack.start_web()
        if worker:
            stack.start_worker()
        yield stack
    finally:
        stack.stop()
