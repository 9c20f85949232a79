"""Writing files and folders so that nothing is ever half written, and naming the path when
the file system says no.

- :func:`write_text_atomic` writes a file under a temporary name beside it and renames it
  into place: a reader (or a rerun after a full disk) sees the old file or the new one.
- :func:`staged_folder` builds a whole output folder (a report, an export) under a temporary
  name beside it and renames it into place only when every file of it was written.

The temporary file or folder is always a fresh one, made by this process with a name no one
could have chosen beforehand (``tempfile``'s exclusive create), and the rename replaces a
link at the final name instead of following it: nothing is ever written through a link
someone planted in a run folder. An output folder that *is* a link is refused.
- :func:`check_folder_target` refuses, before any work, an output folder that cannot be made
  (``--out`` naming a file, a path under a file, a read-only place).
- :func:`os_problem` turns an ``OSError`` (no space left, permission denied, name too long)
  into one :class:`~bnas.errors.BnasError` line naming the path; the CLI shows every
  ``OSError`` that way.

File-system failures stay ``OSError`` (naming the file a user knows, not a temporary name)
until the CLI prints them, so a writer that must clean up (a training run) can tell them
from bad input.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

from bnas.errors import BnasError


def _read_umask() -> int:
    """This process's umask, read without changing it where the system says (Linux): setting
    it to read it back would race with threads creating files meanwhile."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# What files and folders made under a temporary name get (tempfile makes them private), so
# they end up as a plain write would have made them.
_FILE_MODE = 0o666 & ~_read_umask()
_FOLDER_MODE = 0o777 & ~_read_umask()


def os_problem(error: OSError, path: str | Path | None = None) -> BnasError:
    """``PATH: No space left on device``: the path the system names, else ``path``."""
    where = error.filename if error.filename is not None else path
    reason = error.strerror or str(error) or type(error).__name__
    return BnasError(f"{where}: {reason}" if where is not None else reason)


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` (its folder must exist) under a temporary name, then rename.

    On failure the temporary file is removed and the ``OSError`` names ``path``, not it.
    """
    path = Path(path)
    temporary = None
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
        temporary = Path(name)
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), _FILE_MODE)
            handle.write(data)
        os.replace(temporary, path)  # a link at ``path`` is replaced, not followed
    except OSError as error:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        raise OSError(error.errno, error.strerror, str(path)) from None
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """:func:`write_bytes_atomic` of ``text`` in UTF-8."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def check_folder_target(path: str | Path, what: str) -> None:
    """Refuse, before any work, an output folder that cannot be made or written into.

    ``what`` names it in the message (``--out``, ``report folder``). Nothing is created.
    """
    path = Path(path)
    try:
        existing = next(candidate for candidate in (path, *path.parents) if candidate.exists())
    except OSError as error:  # e.g. a parent we may not look into
        raise BnasError(f"{what} {path}: {error.strerror or error}") from None
    if not existing.is_dir():
        blame = "exists and is not a folder" if existing == path else f"{existing} is a file"
        raise BnasError(f"{what} {path}: {blame}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise BnasError(f"{what} {path}: {existing} is not writable")


@contextmanager
def staged_folder(final: str | Path, owned: Collection[str] = ()) -> Iterator[Path]:
    """Yield a fresh, empty hidden folder beside ``final``; when the block succeeds it
    becomes ``final``, when it fails it is removed and ``final`` is as it was.

    An existing ``final`` is replaced, except for entries this writer did not make: those the
    block did not write and that are not in ``owned`` (the names this writer may write, e.g.
    a figure it skipped this time) move into the new folder, so a user's notes or a
    ``retrain/`` run inside an export survive. A ``final`` that is a link is refused (the
    rename would replace the link, and moving what it points to is not this writer's call).
    Folders above ``final`` that had to be created are removed again on failure.
    """
    final = Path(final)
    if final.is_symlink():
        raise BnasError(f"output folder {final} is a link (to {os.readlink(final)}): bnas writes "
                        "a folder there, never through a link; name the folder itself instead")
    check_folder_target(final, "output folder")
    missing = [parent for parent in final.parents if not parent.exists()]
    stage = None
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial",
                                      dir=final.parent))
        os.chmod(stage, _FOLDER_MODE)
        yield stage
        written = {entry.name for entry in stage.iterdir()}
        if final.exists():
            # renamed over a fresh empty folder: no name a link could have been planted at
            previous = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".previous",
                                             dir=final.parent))
            final.rename(previous)
            try:
                stage.rename(final)
            except OSError:
                previous.rename(final)
                raise
            for entry in previous.iterdir():
                if entry.name not in written and entry.name not in owned:
                    entry.rename(final / entry.name)
            shutil.rmtree(previous)
        else:
            stage.rename(final)
    except BaseException:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
        for folder in missing:  # deepest first; only folders this call made, and only if empty
            try:
                folder.rmdir()
            except OSError:
                break
        raise
