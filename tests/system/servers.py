"""Private PostgreSQL and Redis servers for the system tier's fault tests.

The machine's own PostgreSQL (5432) and Redis (6379) are never stopped or signalled. A test that needs
a fault starts its own servers here (``initdb`` + ``pg_ctl`` on a free port in a temporary directory,
as the ``postgres`` OS user when running as root, and ``redis-server`` on a free port) and stops only
those.
"""

from __future__ import annotations

import os
import pwd
import random
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

PG_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")


def free_port() -> int:
    """A port free now, below the kernel's ephemeral range: a port the kernel hands out (bind to 0) is
    also one it gives to outgoing connections (to PostgreSQL, Redis, the stack's own HTTP clients), so
    one could take it before the server binds it; below the range only another explicit bind can."""
    low = _ephemeral_low()
    if low < 4096:  # no room below the range: the kernel's choice it is
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])
    for _ in range(200):
        port = random.randint(max(2048, low - 12000), low - 1)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("0.0.0.0", port))  # noqa: S104 (free on every interface, as gunicorn binds)
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range after 200 tries")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def wait_for_port(port: int, *, timeout: float = 30.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s")


def wait_for_listener(process: subprocess.Popen[bytes], port: int, *, timeout: float) -> bool:
    """Waits until ``process`` itself listens on ``port``: True; False if it exited first (the port was
    taken); TimeoutError otherwise. Unlike ``wait_for_port``, another process on the port does not count."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            sockets = psutil.Process(process.pid).net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            return False
        if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in sockets):
            return True
        time.sleep(0.05)
    raise TimeoutError(f"process {process.pid} does not listen on {port} after {timeout} s")


def _pg_bin(name: str) -> str:
    for folder in PG_BIN_CANDIDATES:
        path = Path(folder) / name
        if path.exists():
            return str(path)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found (PostgreSQL server binaries)")
    return found


def _as_postgres_user() -> list[str]:
    """Prefix that runs a command as the ``postgres`` OS user when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


def _chown_to_postgres(path: Path) -> None:
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam("postgres")
    os.chown(path, entry.pw_uid, entry.pw_gid)


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free port (trust auth for local TCP connections)."""

    def __init__(self, root: Path | None = None, *, port: int | None = None) -> None:
        self.root = Path(root or tempfile.mkdtemp(prefix="resee-pg-"))
        self.root.mkdir(parents=True, exist_ok=True)
        _chown_to_postgres(self.root)
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = port or free_port()
        self.user = "postgres"

    # --- lifecycle -------------------------------------------------------------------------------
    def init(self) -> PrivatePostgres:
        self._run(
            [
                _pg_bin("initdb"),
                "-D",
                str(self.data),
                "-U",
                self.user,
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.root}'\nfsync = off\nsynchronous_commit = off\n"
                "full_page_writes = off\nmax_connections = 200\nwal_level = replica\n"
                "max_wal_senders = 5\nhot_standby = on\n"
            )
        with (self.data / "pg_hba.conf").open("a") as hba:
            hba.write("host replication all 127.0.0.1/32 trust\n")
        return self

    def start(self, *, timeout: int = 30) -> None:
        """``pg_ctl start -w``. The port was found free and released, so another process may hold it by
        now: then the cluster moves to a new free port (at most twice) instead of failing."""
        for attempt in range(3):
            result = self._run(
                [
                    _pg_bin("pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log),
                    "-w",
                    "-t",
                    str(timeout),
                    "start",
                ],
                check=False,
            )
            if result.returncode == 0:
                return
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            if "Address already in use" not in log or attempt == 2:
                raise RuntimeError(f"pg_ctl start failed: {result.stdout}{result.stderr}{log[-2000:]}")
            self.port = free_port()
            with (self.data / "postgresql.conf").open("a") as conf:
                conf.write(f"\nport = {self.port}\n")  # the last setting wins
            self.log.write_text("")

    def stop(self, *, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._run([_pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"], check=False)

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        self.stop(mode="immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    # --- use ---------------------------------------------------------------------------------------
    def url(self, database: str = "resee") -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, *, database: str = "postgres") -> str:
        result = subprocess.run(  # noqa: S603
            [
                _pg_bin("psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return result.stdout.strip()

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def standby(self, *, apply_delay: str = "2s") -> PrivatePostgres:
        """A streaming replica of this cluster (``pg_basebackup -R``) on its own free port."""
        replica = PrivatePostgres()
        self._run(
            [
                _pg_bin("pg_basebackup"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-D",
                str(replica.data),
                "-R",
                "-X",
                "stream",
                "--checkpoint=fast",  # the default spread checkpoint makes the copy wait ~90 s
                "--no-sync",
            ]
        )
        with (replica.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nport = {replica.port}\nunix_socket_directories = '{replica.root}'\n"
                f"recovery_min_apply_delay = '{apply_delay}'\n"
            )
        replica.start()
        return replica

    def _run(self, argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603
            _as_postgres_user() + argv, capture_output=True, text=True, check=check, timeout=120
        )


class PrivateRedis:
    """A throwaway redis-server on a free port, nothing persisted."""

    def __init__(self, *, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """redis-server on ``self.port``; a port taken since it was found free moves the server to a new
        one (at most twice). Ready means this process listens, not merely that something does."""
        for _attempt in range(3):
            self.process = subprocess.Popen(  # noqa: S603
                [
                    shutil.which("redis-server") or "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--loglevel",
                    "warning",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if wait_for_listener(self.process, self.port, timeout=10):
                return
            self.port = free_port()
        raise RuntimeError("redis-server found no free port in 3 tries")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"
