"""Where a search run lives (``STORAGE/NAME``), shared by both strategies: the run folder made
or checked (name, emptiness, resume trust) and locked for the search (:class:`RunFolder`), the
space it keeps and the space read back from it.

**One writer.** :meth:`RunFolder.writing` holds the run folder's lock
(:class:`bnas.run_lock.RunLock`) from after the preflight until the search ends: a second
search of the same name, or a ``--resume`` of a run that still goes on, is refused with one
line naming the process that holds it, before Ray starts (checked once when the folder is
looked at, without writing anything, and again when the lock is taken).

**Names.** ``--name`` follows the rule of the YAML's ``name:`` (:data:`bnas.files.RUN_NAME_PATTERN`,
at most :data:`bnas.files.RUN_NAME_MAX_LENGTH` characters): one plain folder name, so a run
cannot be written outside ``--storage``.

**Resume trust.** ``--resume`` hands the run folder to Ray Tune's restore, which unpickles its
state (``tuner.pkl``, the searcher's and the experiment's state): whoever could write those
files could make bnas run their code. So bnas resumes a run only when the rule ssh applies to
its keys holds: every file and folder of the run is owned by the current user and writable by
no one else, and no folder above it can be changed by another user (owned by the user or
root; writable by group or others only with the sticky bit, as ``/tmp``). As Debian's ssh
does, "writable by group" is fine when the group is the user's private group (named after the
user, the user's primary group, no other member): with such groups, as on Debian and Ubuntu,
the usual umask 002 makes every file group-writable without giving anyone else access.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from bnas.errors import BnasError
from bnas.files import (
    LOCK_FILE,
    OVERRIDES_FILE,
    RUN_NAME_MAX_LENGTH,
    RUN_NAME_PATTERN,
    SPACE_FILE,
)
from bnas.reading import read_yaml
from bnas.run_lock import RunLock
from bnas.writing import write_text_atomic

_WHY = ("resuming executes the run's pickled Ray state, so bnas resumes only runs nobody else "
        "can have changed")


def check_run_name(name: str, what: str = "--name") -> None:
    """A one-line BnasError unless ``name`` is one plain folder name (see module docstring)."""
    if len(name) > RUN_NAME_MAX_LENGTH:
        raise BnasError(f"{what} {name[:24]!r}...: {len(name)} characters; at most "
                        f"{RUN_NAME_MAX_LENGTH}")
    if not re.fullmatch(RUN_NAME_PATTERN, name):
        raise BnasError(f"{what} {name!r} must match {RUN_NAME_PATTERN} (one folder name "
                        "inside --storage)")


def check_resume_trust(run_dir: Path) -> None:
    """Refuse (one line naming the offending path) to resume a run someone else could have
    written: see the module docstring."""
    run_dir = Path(run_dir).resolve()
    user = os.geteuid()
    private_group = _private_group(user)
    for folder in reversed(run_dir.parents):
        info = os.stat(folder)
        if info.st_uid not in (user, 0) or (
            _writable_by_others(info, private_group) and not info.st_mode & stat.S_ISVTX
        ):
            _refuse(folder, info, user, "a folder above the run")
    for path in _walk(run_dir):
        try:
            info = os.lstat(path)
        except FileNotFoundError:  # gone since the walk saw it (a live run): nothing to trust
            continue
        if stat.S_ISLNK(info.st_mode):
            try:
                info = os.stat(path)  # a link is as trustworthy as what it points to
            except OSError:
                raise BnasError(f"--resume: {path} is a broken link; {_WHY}") from None
        if info.st_uid != user or _writable_by_others(info, private_group):
            _refuse(path, info, user, "")


class RunFolder:
    """A search's run directory, ``STORAGE/NAME`` (both absolute: :attr:`storage`,
    :attr:`path`), checked when made: the name must be a run name; a new run refuses a folder
    that holds anything, ``resume`` requires one that holds a run and that only the current
    user can have written; either refuses one another bnas command holds (see the module
    docstring). Nothing is written until :meth:`writing`."""

    def __init__(self, name: str, storage: str | Path, resume: bool) -> None:
        check_run_name(name)
        self.storage = Path(storage).expanduser().resolve()
        self.path = self.storage / name
        self.resume = resume
        if resume and not (self.path / SPACE_FILE).is_file():
            raise BnasError(f"--resume: no run to resume at {self.path}")
        if resume:
            check_resume_trust(self.path)
        self._lock = RunLock(self.path, "bnas search" + " --resume" * resume, create=not resume)
        self._lock.check_free()
        self._check_empty()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the run folder's lock (making the folder of a new run) until the block ends;
        a new run's folder is removed again if the block leaves nothing in it."""
        with self._lock:
            self._check_empty()  # another search may have started since
            yield

    def _check_empty(self) -> None:
        if not self.resume and self.path.is_dir() and any(
                entry.name != LOCK_FILE for entry in self.path.iterdir()):
            raise BnasError(f"{self.path} already holds a run; use --resume to continue it or "
                            "--name for a new one")


def write_space(space: Any, run_dir: Path) -> None:
    """Keep the space as given (and its ``--set`` overrides) in a new run directory."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_dir / SPACE_FILE, space.source_text)
    if space.overrides:
        write_text_atomic(run_dir / OVERRIDES_FILE, yaml.safe_dump(space.overrides))


def load_run_space(run_dir: Path) -> Any:
    """The space a run was started with: its ``space.yaml`` plus the ``--set`` overrides."""
    from bnas.space import load_space

    overrides_file = run_dir / OVERRIDES_FILE
    overrides = read_yaml(overrides_file, "overrides file").data if overrides_file.is_file() else []
    return load_space(run_dir / SPACE_FILE, overrides=overrides)


def _writable_by_others(info: os.stat_result, private_group: int | None) -> bool:
    group_may_write = info.st_mode & stat.S_IWGRP and info.st_gid != private_group
    return bool(group_may_write or info.st_mode & stat.S_IWOTH)


def _private_group(user: int) -> int | None:
    """The user's private group id (see the module docstring), or None."""
    try:
        import grp
        import pwd

        account = pwd.getpwuid(user)
        group = grp.getgrgid(account.pw_gid)
    except (ImportError, KeyError):
        return None
    private = group.gr_name == account.pw_name and set(group.gr_mem) <= {account.pw_name}
    return account.pw_gid if private else None


def _walk(run_dir: Path) -> list[Path]:
    """``run_dir`` and everything below it, links not followed."""
    found = [run_dir]
    for folder, subfolders, files in os.walk(run_dir):
        found.extend(Path(folder) / name for name in (*subfolders, *files))
    return found


def _refuse(path: Path, info: os.stat_result, user: int, what: str) -> None:
    what = f" ({what})" if what else ""
    if info.st_uid != user and not (what and info.st_uid == 0):
        raise BnasError(f"--resume: {path}{what} is owned by {_user_name(info.st_uid)}, not by "
                        f"you ({_user_name(user)}); {_WHY}")
    writers = " and ".join(who for who, bit in (("group", stat.S_IWGRP), ("others", stat.S_IWOTH))
                           if info.st_mode & bit)
    raise BnasError(f"--resume: {path}{what} is writable by {writers} (mode "
                    f"{stat.S_IMODE(info.st_mode):o}); {_WHY}: remove that (chmod go-w) if the "
                    "run is yours")


def _user_name(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return f"uid {uid}"
