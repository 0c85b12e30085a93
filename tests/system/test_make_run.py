"""`make run` as a developer uses it: one Ctrl-C (or a SIGTERM) stops the API and the worker, cleanly.

The first tests start the real `make run` in a new session, as a terminal starts a foreground job, on a
private SQLite file and a free port, wait until the API answers and the Django-Q2 cluster runs, then
signal it and check that every process it started is gone in time and that nothing crashed. One sends
a review reminder on that SQLite file: the round runs in its own process (`manage.py
send_review_reminders`, as a scheduler would start it) and the run's worker delivers the email. The last
ones check the supervisor's escalation rules (scripts/devserver.py) on stand-in children, in seconds.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
import pytest

from tests.system.servers import free_port
from tests.system.stack import read_mailbox

pytestmark = pytest.mark.system

ROOT = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make") or "make"
START_TIMEOUT = 120.0  # install-if-needed, migrate a fresh SQLite file, seed, start both processes
STOP_TIMEOUT = 25.0  # the supervisor gives the children 20 s, then kills what is left
CRASH_MARKERS = re.compile(r"Segmentation fault|Traceback \(most recent call last\)|make(\[\d+\])?: \*\*\*")
# What the test process's own environment must not hand to `make run`: the suite's PostgreSQL, Redis
# and settings, make's jobserver, and pytest-cov's hooks for subprocesses.
_INHERITED_NOT_WANTED = (
    "DATABASE_URL",
    "DATABASE_REPLICA_URL",
    "REDIS_URL",
    "Q_BROKER",
    "Q_SYNC",
    "SENTRY_DSN",
)
_INHERITED_PREFIXES_NOT_WANTED = ("MAKE", "MFLAGS", "COV_CORE_", "PYTEST_", "DJANGO_")


def _run_environment(tmp_path: Path, port: int, **overrides: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in _INHERITED_NOT_WANTED and not name.startswith(_INHERITED_PREFIXES_NOT_WANTED)
    }
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        HOST="127.0.0.1",
        PORT=str(port),
        DEBUG="1",
        EMAIL_BACKEND="django.core.mail.backends.console.EmailBackend",
    )
    env.update(overrides)
    return env


@dataclass
class MakeRun:
    """A `make run` started in its own session; `seen` remembers every process of its tree."""

    process: subprocess.Popen[bytes]
    log_path: Path
    port: int
    env: dict[str, str] = field(default_factory=dict)  # what `make run` was started with
    seen: dict[int, float] = field(default_factory=dict)  # pid -> create_time (pids get reused)
    sessions: set[int] = field(default_factory=set)

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def remember_tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.process.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        for proc in tree:
            try:
                self.seen[proc.pid] = proc.create_time()
                self.sessions.add(os.getsid(proc.pid))
            except (psutil.NoSuchProcess, ProcessLookupError):
                continue
        return tree

    def survivors(self) -> list[psutil.Process]:
        """Processes of the run still alive: any process seen in its tree, or living in one of its sessions."""
        alive: list[psutil.Process] = []
        for proc in psutil.process_iter(["pid", "create_time", "status"]):
            pid = proc.info["pid"]
            try:
                in_tree = self.seen.get(pid) == proc.info["create_time"]
                in_session = os.getsid(pid) in self.sessions
            except (ProcessLookupError, PermissionError):
                continue
            if (in_tree or in_session) and proc.info["status"] != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        return alive

    def kill_everything(self) -> None:
        for proc in self.survivors():
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                continue
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[MakeRun]:
    yield from _make_run(tmp_path)


@pytest.fixture
def make_run_mailing(tmp_path: Path) -> Iterator[MakeRun]:
    """`make run` whose emails go to files in ``tmp_path / "mail"`` (Django's file backend)."""
    yield from _make_run(
        tmp_path,
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        EMAIL_FILE_PATH=str(tmp_path / "mail"),
    )


def _make_run(tmp_path: Path, **overrides: str) -> Iterator[MakeRun]:
    port = free_port()
    env = _run_environment(tmp_path, port, **overrides)
    log_path = tmp_path / "make-run.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 (the repository's own make target)
            [MAKE, "--no-print-directory", "run"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own session and process group, like a job in a terminal
        )
    run = MakeRun(process=process, log_path=log_path, port=port, env=env)
    try:
        yield run
    finally:
        run.kill_everything()  # never leave processes behind on the machine, even when a test fails


def _api_is_live(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health/live/", timeout=2) as response:
            status: int = response.status
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False
    return status == 200


def _cluster_processes(tree: list[psutil.Process]) -> list[psutil.Process]:
    """The qcluster master and the processes it forked (sentinel, pusher, monitor, workers)."""
    masters = [proc for proc in tree if _is_qcluster_master(proc)]
    forked: list[psutil.Process] = []
    for master in masters:
        try:
            forked.extend(master.children(recursive=True))
        except psutil.NoSuchProcess:
            continue
    return masters + forked


def _is_qcluster_master(proc: psutil.Process) -> bool:
    try:
        # Django-Q2 retitles its processes with setproctitle ("qcluster MainProcess resee", "qcluster
        # Process-… idle"), so the title is searched, not the argument list.
        parent = proc.parent()
        return "qcluster" in " ".join(proc.cmdline()) and (
            parent is None or "qcluster" not in " ".join(parent.cmdline())
        )
    except psutil.NoSuchProcess:
        return False


def _wait_until_serving(run: MakeRun) -> None:
    """Until the API answers over HTTP and the worker cluster (master, sentinel, workers...) is up."""
    deadline = time.monotonic() + START_TIMEOUT
    api_live = False
    while time.monotonic() < deadline:
        if run.process.poll() is not None:
            pytest.fail(f"make run exited with {run.process.returncode} before serving:\n{run.output}")
        tree = run.remember_tree()
        api_live = api_live or _api_is_live(run.port)
        # 2 workers (Q_WORKERS' default) + sentinel + pusher + monitor, under the master
        if api_live and len(_cluster_processes(tree)) >= 6 and "running." in run.output:
            run.remember_tree()
            return
        time.sleep(0.2)
    pytest.fail(f"make run did not serve within {START_TIMEOUT:.0f} s (API live: {api_live}):\n{run.output}")


def _wait_for_exit(run: MakeRun) -> float:
    """Seconds until make and every process of the run are gone (fails after STOP_TIMEOUT)."""
    started = time.monotonic()
    while time.monotonic() - started < STOP_TIMEOUT:
        if run.process.poll() is not None and not run.survivors():
            return time.monotonic() - started
        time.sleep(0.1)
    left = [f"{proc.pid} {' '.join(proc.cmdline())}" for proc in run.survivors()]
    pytest.fail(
        f"still running {STOP_TIMEOUT:.0f} s after the signal (make: {run.process.returncode}): {left}\n{run.output}"
    )


def _assert_stopped_gracefully(run: MakeRun) -> None:
    """Nothing crashed, and nothing had to be killed: both children stopped on their SIGTERM."""
    output = run.output
    crash = CRASH_MARKERS.search(output)
    assert crash is None, f"{crash.group(0)!r} in the output of make run:\n{output}"
    assert "devserver | stopped\n" in output and "killing" not in output, output
    assert "has stopped." in output, output  # Django-Q2's master: sentinel and workers joined


def test_one_ctrl_c_stops_the_api_and_the_worker_without_a_crash_or_an_orphan(make_run: MakeRun) -> None:
    _wait_until_serving(make_run)

    os.killpg(make_run.process.pid, signal.SIGINT)  # a terminal's Ctrl-C: SIGINT to the foreground group
    took = _wait_for_exit(make_run)

    _assert_stopped_gracefully(make_run)
    # make dies of the SIGINT it got itself (the shell convention), after its recipe exited cleanly
    assert make_run.process.returncode in (0, -signal.SIGINT)
    assert not _api_is_live(make_run.port)
    assert took < STOP_TIMEOUT


DEMO_CREDENTIALS = re.compile(r"Demo account: (\S+) / password: (\S+)")


def test_a_review_reminder_round_on_sqlite_is_delivered_by_the_worker(make_run_mailing: MakeRun) -> None:
    """The reminder round holds the account open while it queues the email (``FOR SHARE`` on
    PostgreSQL, which SQLite's grammar has not: the round failed for every learner on `make run`)."""
    run = make_run_mailing
    _wait_until_serving(run)
    credentials = DEMO_CREDENTIALS.search(run.output)
    assert credentials, run.output
    address, password = credentials.groups()
    with httpx.Client(base_url=f"http://127.0.0.1:{run.port}", timeout=30) as http:
        login = http.post("/api/auth/token/", json={"email": address, "password": password})
        assert login.status_code == 200, login.text
        http.headers["Authorization"] = f"Bearer {login.json()['access']}"
        assert http.get("/api/review/today/").json()["count"] > 0  # the demo's notes include due ones

        queued = ""
        for _ in range(2):  # the reminder hour is the current hour: once more if it turned meanwhile
            hour = datetime.now(UTC).hour
            profile = {"timezone": "UTC", "daily_reminder_hour": hour, "notifications_enabled": True}
            answer = http.patch("/api/accounts/users/me/", json=profile)
            assert answer.status_code == 200, answer.text
            round_ = subprocess.run(
                [sys.executable, "manage.py", "send_review_reminders"],
                cwd=ROOT,
                env=run.env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert round_.returncode == 0, round_.stdout + round_.stderr
            queued = round_.stdout
            if "queued: 1" in queued or datetime.now(UTC).hour == hour:
                break
    assert "Review reminders queued: 1" in queued, queued

    mail_dir = Path(run.env["EMAIL_FILE_PATH"])
    deadline = time.monotonic() + 60
    while not (sent := [m for m in read_mailbox(mail_dir) if address in str(m["To"])]):
        assert time.monotonic() < deadline, f"no reminder delivered to {address}:\n{run.output}"
        time.sleep(0.2)
    body = sent[0].get_body(preferencelist=("plain",))
    assert body is not None and "due" in body.get_content().lower()


def test_sigterm_to_the_supervisor_stops_everything_and_make_exits_zero(make_run: MakeRun) -> None:
    _wait_until_serving(make_run)
    supervisor = psutil.Process(make_run.process.pid).children()[0]  # what make's recipe runs

    supervisor.send_signal(signal.SIGTERM)
    took = _wait_for_exit(make_run)

    _assert_stopped_gracefully(make_run)
    assert make_run.process.returncode == 0
    assert not _api_is_live(make_run.port)
    assert took < STOP_TIMEOUT


# --- The supervisor's own rules, with stand-in children (fast: no Django) ----------------------------
_DRIVER = """
import sys
sys.path.insert(0, {scripts!r})
from devserver import Child, Supervisor
children = [
    Child({name!r}, [sys.executable, "-c", {code!r}], terminate_group=True),
    Child("calm", [sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(60)"], terminate_group=False),
]
sys.exit(Supervisor(children, grace={grace}).run())
"""
# Exits on SIGTERM, but leaves behind a process of its group that ignores it (as a stuck worker would).
_STUBBORN = """
import os, signal, time
if os.fork() == 0:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(60)
    os._exit(0)
print("ready", flush=True)
time.sleep(60)
"""
_DYING = "import time; print('ready', flush=True); time.sleep(1); raise SystemExit(3)"

Supervise = Callable[..., MakeRun]


@pytest.fixture
def supervise(tmp_path: Path) -> Iterator[Supervise]:
    """Start scripts/devserver.py's supervisor over a stand-in child and a calm one, once both are ready."""
    runs: list[MakeRun] = []

    def start(*, name: str, code: str, grace: float) -> MakeRun:
        log_path = tmp_path / f"supervisor{len(runs)}.log"
        driver = _DRIVER.format(scripts=str(ROOT / "scripts"), name=name, code=code, grace=grace)
        with log_path.open("wb") as log:
            process = subprocess.Popen(  # noqa: S603 (our interpreter, a fixed script)
                [sys.executable, "-c", driver],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        run = MakeRun(process=process, log_path=log_path, port=0)
        runs.append(run)
        deadline = time.monotonic() + 10
        while run.output.count("| ready") < 2 or len(run.remember_tree()) < 3:
            assert time.monotonic() < deadline, run.output
            time.sleep(0.05)
        return run

    yield start
    for run in runs:
        run.kill_everything()


def test_what_ignores_sigterm_is_killed_after_the_grace_period(supervise: Supervise) -> None:
    run = supervise(name="stubborn", code=_STUBBORN, grace=1.0)

    run.process.send_signal(signal.SIGTERM)
    took = _wait_for_exit(run)

    assert run.process.returncode == 0
    assert 1.0 <= took < 5.0
    assert "1 s passed: killing stubborn" in run.output
    assert "stubborn | ready" in run.output  # each child's lines carry its name


def test_a_second_ctrl_c_kills_at_once(supervise: Supervise) -> None:
    run = supervise(name="stubborn", code=_STUBBORN, grace=30.0)

    run.process.send_signal(signal.SIGINT)
    time.sleep(0.5)
    run.process.send_signal(signal.SIGINT)
    took = _wait_for_exit(run)

    assert run.process.returncode == 0
    assert took < 5.0
    assert "second signal: killing stubborn" in run.output


def test_when_a_child_dies_the_other_is_stopped_and_the_supervisor_fails(supervise: Supervise) -> None:
    run = supervise(name="dying", code=_DYING, grace=30.0)

    took = _wait_for_exit(run)

    assert run.process.returncode == 1
    assert "dying exited with status 3; stopping the others" in run.output
    assert took < 5.0
