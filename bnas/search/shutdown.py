"""Ending a search cleanly: on SIGINT / SIGTERM, and without leaving processes behind.

**Signals.** The first SIGINT (Ctrl-C) or SIGTERM while Tune runs trials stops the run the way
Tune's own Ctrl-C handling does: it saves the experiment state one last time and ends the
trials so that ``--resume`` continues them (bnas calls the handler Tune installs for that, on
SIGUSR1). A second signal, or one outside Tune's run, stops at once; one while Ray starts or
shuts down takes effect when that is done. Either way the search ends with
:class:`SearchInterrupted` (exit status 128 + the signal number, as a shell reports a process
killed by it) and the embedded cluster is shut down. Tune's own SIGINT handler is switched off
(``TUNE_DISABLE_SIGINT_HANDLER``, see :mod:`bnas.search.cluster`) so that both signals take
the same path and the search knows it was interrupted instead of summarising a half-finished
run.

**Processes.** ``ray.shutdown()`` ends an embedded cluster's processes, all of which descend
from the driver; :func:`reap` makes sure of it, and kills what is still there after a grace
period (a worker stuck in a long step).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SearchInterrupted(KeyboardInterrupt):
    """A search stopped by SIGINT or SIGTERM; ``exit_code`` is 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.signal_name = signal.Signals(signum).name
        self.exit_code = 128 + signum
        super().__init__(f"interrupted by {self.signal_name}")


class StopSignals:
    """SIGINT and SIGTERM handlers for the duration of a search (see the module docstring).

    Only the main thread can install handlers; elsewhere (a search started from a thread) the
    process keeps its own.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._tuning = False
        self._holding = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            # Tune leaves its SIGUSR1 handler installed after a run: restored on exit too.
            for signum in (*STOP_SIGNALS, signal.SIGUSR1):
                self._previous[signum] = signal.getsignal(signum)
            self.install()
        return self

    def install(self) -> None:
        """Put the handlers (back) in place: ``ray.init`` installs Ray's own for SIGTERM in
        the driver, which aborts the process with a stack dump."""
        if self._previous:
            for signum in STOP_SIGNALS:
                signal.signal(signum, self._handle)

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.received is None
        if first:
            self.received = signum
        if self._holding:
            return  # shutting down: raised by raise_if_received once that is done
        if first and self._tuning:
            # Tune's graceful stop: the handler it installs (for SIGUSR1 and, unless disabled,
            # SIGINT) while a run is in progress; without one, stop at once.
            tune_stop = signal.getsignal(signal.SIGUSR1)
            if callable(tune_stop) and tune_stop is not self._handle:
                tune_stop(signum, frame)
                return
        raise SearchInterrupted(self.received)

    @contextlib.contextmanager
    def tuning(self) -> Iterator[None]:
        """While Tune runs trials: a first signal stops it gracefully."""
        self._tuning = True
        try:
            yield
        finally:
            self._tuning = False

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Starting or shutting down Ray, which a signal must not cut short: a signal is noted,
        and raised by :meth:`raise_if_received` afterwards."""
        previous, self._holding = self._holding, True
        try:
            yield
        finally:
            self._holding = previous

    def raise_if_received(self) -> None:
        if self.received is not None:
            raise SearchInterrupted(self.received)


def session_processes(session_dir: str) -> list[int]:
    """The processes of the embedded cluster whose session folder is ``session_dir``: this
    process's children that name the folder on their command line (GCS, raylet, monitors) and
    everything below them (workers, agents). Read from ``/proc``; empty where there is none.
    Other children of this process are not Ray's and are left alone."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found = []
    todo = [pid for pid in children.get(os.getpid(), []) if session_dir in _cmdline(pid)]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def reap(pids: list[int], grace_seconds: float = 3.0) -> list[int]:
    """Wait up to ``grace_seconds`` for ``pids`` to exit, then SIGKILL the rest; returns those
    killed. (A process that exited and whose id was reused meanwhile is spared: its start
    time differs.)"""
    started = {pid: _start_time(pid) for pid in pids}
    alive = [pid for pid in pids if started[pid] is not None]
    deadline = time.monotonic() + grace_seconds
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [pid for pid in alive if _start_time(pid) == started[pid] and _running(pid)]
    killed = []
    for pid in alive:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    return killed


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of ``/proc/PID/stat`` after the command name (which may hold spaces and
    parentheses): state, ppid, …, starttime at index 19."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace")
    except OSError:
        return ""


def _start_time(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def _running(pid: int) -> bool:
    """Alive and not a zombie (an exited child its parent has not waited for yet)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")
