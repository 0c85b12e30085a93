"""Run the development API (runserver) and a Django-Q2 worker (qcluster) side by side; `make run` execs this.

Each child runs in its own session, so a terminal's Ctrl-C reaches only this supervisor, which then stops
the children the way each expects:

- runserver (its autoreloader and the server it forks): SIGTERM to its process group;
- qcluster: SIGTERM to the master only. Its master stops its sentinel, which drains the pusher, sends
  each worker a stop pill and waits for the monitor (a SIGTERM to the cluster's whole group would do
  the same: its processes leave the stop to the master, modules/ops/management/commands/qcluster.py).

After GRACE_SECONDS (or on a second Ctrl-C) whatever is left of either process group is SIGKILLed. The
supervisor exits 0 when asked to stop, so `make` reports no error; if a child dies on its own, the
other is stopped and the exit status is 1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
GRACE_SECONDS = 20.0  # qcluster lets a running task finish; its own default is far longer
KILL_WAIT_SECONDS = 5.0  # after SIGKILL, how long to wait for the kernel to reap
POLL_SECONDS = 0.2
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _write(data: bytes) -> None:
    """Write to our output; a closed terminal or pipe must not stop the supervisor from stopping the rest."""
    with contextlib.suppress(OSError):
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


def _say(message: str) -> None:
    _write(f"devserver | {message}\n".encode())


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group is still running (zombies waiting for their reaper do not count)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not proc.is_dir():  # not Linux: the kernel's answer is all there is
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after it
            state, _ppid, pgrp = stat.read_text().rpartition(")")[2].split()[:3]
        except (OSError, ValueError):
            continue
        if int(pgrp) == pgid and state not in ("Z", "X"):
            return True
    return False


@dataclass
class Child:
    name: str
    argv: list[str]
    # True: SIGTERM the whole process group; False: only the leader (it stops its own children).
    terminate_group: bool
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    prefix: bytes = field(default=b"", init=False)
    partial: bytes = field(default=b"", init=False)  # output after the last newline
    returncode: int | None = field(default=None, init=False)

    def start(self, selector: selectors.BaseSelector, width: int) -> None:
        self.process = subprocess.Popen(  # noqa: S603 (our interpreter, fixed manage.py commands)
            self.argv,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own session and group: the terminal's signals skip it
        )
        assert self.process.stdout is not None
        os.set_blocking(self.process.stdout.fileno(), False)
        selector.register(self.process.stdout, selectors.EVENT_READ, self)
        self.prefix = f"{self.name:<{width}} | ".encode()
        _say(f"{self.name} started (pid {self.process.pid}): {' '.join(self.argv[1:])}")

    @property
    def pgid(self) -> int:
        assert self.process is not None
        return self.process.pid  # a session leader leads its process group

    def exited(self) -> bool:
        """Whether the leader has exited (and is reaped)."""
        if self.process is None:
            return True
        if self.returncode is None:
            self.returncode = self.process.poll()
        return self.returncode is not None

    def gone(self) -> bool:
        return self.process is None or (self.exited() and not _group_alive(self.pgid))

    def terminate(self) -> None:
        if self.process is None:
            return
        if self.terminate_group or self.exited():
            _signal_group(self.pgid, signal.SIGTERM)
        else:
            self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        if self.process is not None:
            _signal_group(self.pgid, signal.SIGKILL)
            self.exited()

    def relay(self, selector: selectors.BaseSelector) -> None:
        """Copy what the child printed, a prefixed line at a time; close on end of output."""
        assert self.process is not None and self.process.stdout is not None
        try:
            data = os.read(self.process.stdout.fileno(), 65536)
        except BlockingIOError:
            return
        if not data:
            selector.unregister(self.process.stdout)
            self.process.stdout.close()
            data = b"\n" if self.partial else b""
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        if lines:
            _write(b"".join(self.prefix + line + b"\n" for line in lines))


class Supervisor:
    def __init__(self, children: list[Child], grace: float = GRACE_SECONDS) -> None:
        self.children = children
        self.grace = grace
        self.selector = selectors.DefaultSelector()
        self.received: list[int] = []

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.received.append(signum)

    def run(self) -> int:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)
        width = max(len(child.name) for child in self.children)
        for child in self.children:
            if not self.received:
                child.start(self.selector, width)

        status = self._serve()
        if not self._stop(signals_seen=len(self.received)):
            status = 1
        if self.selector.get_map():
            self._relay_output(1.0)  # what the children printed last
        _say("stopped" if status == 0 else f"stopped (exit status {status})")
        return status

    def _serve(self) -> int:
        """Relay output until asked to stop (0) or until a child exits on its own (1)."""
        while not self.received:
            self._relay_output(POLL_SECONDS)
            for child in self.children:
                if child.exited():
                    _say(f"{child.name} exited with status {child.returncode}; stopping the others")
                    return 1
        _say(f"{signal.Signals(self.received[0]).name}: stopping (again to kill at once)")
        return 0

    def _stop(self, signals_seen: int) -> bool:
        """SIGTERM, then SIGKILL after the grace period or a further signal; whether all are gone."""
        for child in self.children:
            child.terminate()
        deadline = time.monotonic() + self.grace
        while not all(child.gone() for child in self.children):
            if len(self.received) > signals_seen or time.monotonic() > deadline:
                reason = (
                    "second signal" if len(self.received) > signals_seen else f"{self.grace:.0f} s passed"
                )
                left = ", ".join(child.name for child in self.children if not child.gone())
                _say(f"{reason}: killing {left}")
                return self._kill_all()
            self._relay_output(POLL_SECONDS)
        return True

    def _kill_all(self) -> bool:
        for child in self.children:
            child.kill()
        deadline = time.monotonic() + KILL_WAIT_SECONDS
        while not all(child.gone() for child in self.children):
            if time.monotonic() > deadline:
                left = ", ".join(
                    f"{child.name} (group {child.pgid})" for child in self.children if not child.gone()
                )
                _say(f"could not stop {left}")
                return False
            self._relay_output(POLL_SECONDS)
        return True

    def _relay_output(self, seconds: float) -> None:
        """Relay the children's output for `seconds` (signals are seen within POLL_SECONDS)."""
        until = time.monotonic() + seconds
        while self.selector.get_map():
            timeout = until - time.monotonic()
            if timeout <= 0:
                return
            for key, _events in self.selector.select(timeout):
                key.data.relay(self.selector)
        time.sleep(max(0.0, until - time.monotonic()))  # every output closed: still pace the caller


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1", help="address runserver listens on")
    parser.add_argument("--port", type=int, default=8000, help="port runserver listens on")
    args = parser.parse_args(argv)

    python = sys.executable
    children = [
        Child(
            "web", [python, "manage.py", "runserver", _address(args.host, args.port)], terminate_group=True
        ),
        Child("worker", [python, "manage.py", "qcluster"], terminate_group=False),
    ]
    return Supervisor(children).run()


if __name__ == "__main__":
    sys.exit(main())
