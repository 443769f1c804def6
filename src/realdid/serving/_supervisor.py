"""Pre-fork worker processes: one parent that binds and supervises, N children that serve.

``realdid serve --workers N`` binds every listening socket in the parent, then forks N
children; each inherits the sockets and runs the whole service on them (the kernel spreads
new connections over the processes accepting on a socket). The parent serves nothing: it
waits for signals, replaces a child that dies, and stops them all on SIGTERM or SIGINT.

Why fork here rather than ``uvicorn --workers`` or gunicorn: one RealDID process serves
several apps on several ports (node, authority, demo sites), which neither runs; and
forking after the sockets are bound keeps "port in use" a single error line before
anything starts. ADR 0015 records the measurements behind the choice of server.

The parent must not have started a thread or opened a database before forking (a child
would inherit a lock held by a thread that does not exist in it); the callers build
everything inside the child.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["WorkerPool", "default_workers"]

log = logging.getLogger(__name__)

#: A child that exits with an error sooner than this after its start failed to start
#: (a bad set-up, the database unreachable); one killed by a signal did not.
FAST_EXIT_SECONDS = 5.0
#: Consecutive failed starts after which the parent gives up instead of restarting.
MAX_FAST_EXITS = 3
#: Pause before replacing a child that lived less than FAST_EXIT_SECONDS (no busy loop).
RESPAWN_PAUSE = 0.5
_PR_SET_PDEATHSIG = 1
_WATCHED = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT}


def default_workers() -> int:
    """One worker per core this process may run on."""
    return len(os.sched_getaffinity(0)) or 1


@dataclass
class _Child:
    index: int
    pid: int
    started: float


@dataclass
class WorkerPool:
    """``count`` children running ``work(index)``; :meth:`run` supervises until stopped.

    ``work`` returns the child's exit code; an exception in it is logged and exits 1.
    ``grace`` is how long children have to stop after SIGTERM before they are killed.
    ``ended(pid)`` is called in the parent for every child that ended.
    """

    count: int
    work: Callable[[int], int]
    grace: float = 30.0
    ended: Callable[[int], None] = lambda _pid: None
    _children: dict[int, _Child] = field(default_factory=dict)
    _fast_exits: int = 0

    def run(self) -> int:
        """Start the children and supervise them; the exit code for the whole service."""
        if self.count < 1:
            raise ValueError("a worker pool needs at least one worker")
        if threading.active_count() > 1:
            raise RuntimeError("a worker pool must fork before any thread starts")
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
        try:
            for index in range(self.count):
                self._spawn(index, previous)
            log.info("%d worker processes started (parent pid %d)", self.count, os.getpid())
            return self._supervise(previous)
        finally:
            self._stop_children()
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    # -- the parent ------------------------------------------------------------------------
    def _supervise(self, mask: set[signal.Signals | int]) -> int:
        while True:
            received = signal.sigtimedwait(_WATCHED, 1.0)
            if received is None:
                continue
            if received.si_signo in (signal.SIGTERM, signal.SIGINT):
                log.info("stopping %d worker processes", len(self._children))
                return 0
            for child, status in self._reap():
                self.ended(child.pid)
                code = os.waitstatus_to_exitcode(status)
                lived = time.monotonic() - child.started
                failed_start = code > 0 and lived < FAST_EXIT_SECONDS
                self._fast_exits = self._fast_exits + 1 if failed_start else 0
                log.warning(
                    "worker %d (pid %d) ended with %s after %.1f s",
                    child.index,
                    child.pid,
                    _describe(code),
                    lived,
                )
                if self._fast_exits >= MAX_FAST_EXITS:
                    log.error("workers keep failing at start-up; stopping (see the lines above)")
                    return code
                if lived < FAST_EXIT_SECONDS:
                    time.sleep(RESPAWN_PAUSE)
                self._spawn(child.index, mask)

    def _reap(self) -> list[tuple[_Child, int]]:
        ended = []
        while self._children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            child = self._children.pop(pid, None)
            if child is not None:
                ended.append((child, status))
        return ended

    def _stop_children(self) -> None:
        for child in self._children.values():
            _signal(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while self._children and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.05)
        for child in self._children.values():
            log.warning("worker %d (pid %d) did not stop in time; killed", child.index, child.pid)
            _signal(child.pid, signal.SIGKILL)
        while self._children:
            pid, _ = os.waitpid(-1, 0)
            self._children.pop(pid, None)

    def _spawn(self, index: int, mask: set[signal.Signals | int]) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: never returns into the parent's code
            os._exit(self._child(index, parent, mask))
        self._children[pid] = _Child(index, pid, time.monotonic())

    # -- a child ---------------------------------------------------------------------------
    def _child(self, index: int, parent: int, mask: set[signal.Signals | int]) -> int:
        code = 1
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            _die_with_parent(parent)
            code = self.work(index)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:
            log.exception("worker %d failed", index)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        return code


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGTERM this child when the parent dies (even by SIGKILL), so that no
    orphan keeps serving on the sockets. ``prctl`` has no binding in the standard library."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is not None:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        raise SystemExit(1)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
        os.kill(pid, sig)


def _describe(code: int) -> str:
    return f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
