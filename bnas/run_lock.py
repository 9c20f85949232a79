"""One bnas command at a time per run folder: an OS lock held while a command reads or writes it.

Two searches started together under one name, or a ``--resume`` started while the run still
goes on, wrote into the same folder: two studies in one journal, one run's trials in the
other's summary. Every command that works on a run folder — ``bnas search`` (new or
``--resume``), ``bnas export``, ``bnas report`` — therefore holds an exclusive
``fcntl.flock`` on ``RUN_DIR/.bnas.lock`` (:data:`bnas.files.LOCK_FILE`) for as long as it
runs; a second one is refused at once, before Ray starts, with one line naming the holder's
process id and command, which the holder writes into the lock file.

The lock belongs to the open file, not to the file's existence: when its holder ends, however
it ends (``kill -9`` included), the operating system releases it, so a lock file left behind
blocks no one. A holder removes the file while it still holds the lock, as it ends; whoever
locked the file meanwhile finds it is no longer the file at that name and locks the new one.
A folder this lock had to create and that holds nothing else when the command ends is
removed again, with the folders above it that were made for it. A command that may yet find
its input bad checks first that no one holds the lock (:meth:`RunLock.check_free`, which
creates nothing), and takes it once it is about to write.

Processes the holder starts do not inherit the lock (Python opens files close-on-exec):
Ray's workers write into the run on the holder's behalf, and end with it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from pathlib import Path
from types import TracebackType

from bnas.errors import BnasError
from bnas.files import LOCK_FILE


class RunLock:
    """``with RunLock(run_dir, "bnas search"):`` — hold ``run_dir``'s lock (see the module
    docstring); ``create`` makes the folder when it does not exist yet (a new run)."""

    def __init__(self, run_dir: str | Path, command: str, *, create: bool = False,
                 reads_only: bool = False) -> None:
        self.run_dir = Path(run_dir)
        self.command = command
        self.create = create
        # a command that writes nothing into the run (``--out`` elsewhere) reads a run folder
        # it may not write, where no lock file can be made, without one
        self.reads_only = reads_only
        self._fd: int | None = None
        self._made: list[Path] = []  # folders this lock created, deepest first

    @property
    def path(self) -> Path:
        return self.run_dir / LOCK_FILE

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock, or a one-line BnasError naming the process that holds it."""
        if self.create:
            self._made = [folder for folder in (self.run_dir, *self.run_dir.parents)
                          if not folder.exists()]
            self.run_dir.mkdir(parents=True, exist_ok=True)
        elif not self.run_dir.is_dir():
            raise BnasError(f"{self.run_dir}: no such run directory")
        while True:
            opened = self._open()
            if opened is None:
                return
            fd, writable = opened
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                holder = _read_holder(fd)
                os.close(fd)
                if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                self._forget_made()
                raise BnasError(self._in_use(holder)) from None
            # The holder we waited on may have removed the file as it ended (and someone made a
            # new one): a lock on the removed file guards nothing; lock the one there now.
            if _same_file(fd, self.path):
                break
            os.close(fd)
        self._fd = fd
        if writable:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {self.command}\n".encode(), 0)

    def check_free(self) -> None:
        """A one-line BnasError when another process holds the lock; creates nothing."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return  # no lock file: no command holds the folder (each makes it first)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise BnasError(self._in_use(_read_holder(fd))) from None
        finally:
            os.close(fd)

    def release(self) -> None:
        """Let go of the lock, removing the lock file first; remove a folder it made that
        holds nothing else."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if _same_file(fd, self.path):
                with contextlib.suppress(OSError):  # a folder we may only read keeps it
                    self.path.unlink()
            if self._made:
                self._forget_made()
        finally:
            os.close(fd)  # closing the file releases the lock

    def _in_use(self, holder: str) -> str:
        return (f"{self.run_dir} is in use by {holder}: one bnas command at a time works on a "
                "run folder; wait for it to end, or stop it")

    def _open(self) -> tuple[int, bool] | None:
        """(descriptor, writable), or None when a reader cannot make the lock file."""
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644), True
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise BnasError(f"{self.path} is a symbolic link: bnas follows no link in a "
                                "run folder") from None
            if error.errno not in (errno.EACCES, errno.EROFS, errno.EPERM):
                raise
            if self.path.is_file():  # a run folder we may only read: locking needs no write
                return os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW), False
            if self.reads_only:
                return None
            raise

    def _forget_made(self) -> None:
        """Remove the (empty) folders :meth:`acquire` made, deepest first."""
        for folder in self._made:
            try:
                folder.rmdir()
            except OSError:
                break
        self._made = []


def _read_holder(fd: int) -> str:
    """``bnas search (PID 1234)`` from the lock file, or what can be said without it. (A
    holder writes its line just after it took the lock: a moment's wait for it.)"""
    text = ""
    for _ in range(10):
        try:
            text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
        except OSError:
            break
        if text:
            break
        time.sleep(0.05)
    pid, _, command = text.partition(" ")
    if not pid.isdigit():
        return "another bnas process"
    return f"{command or 'another bnas process'} (PID {pid})"


def _same_file(fd: int, path: Path) -> bool:
    try:
        there = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (there.st_dev, there.st_ino)
