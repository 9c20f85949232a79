"""Paths a run folder's own files name stay inside the run folder, links followed or not.

A run folder's files name other files of it: ``summary.json`` a trial's checkpoint,
``oneshot.json`` the supernet's and the warm-start weights, the run record the candidates
file. A damaged or planted file could name ``../../other-run/…``, and a planted link
(``export -> /elsewhere``) could lead a writer out of the folder. :func:`inside_run` is the
one place every such path is resolved: it must lie inside the run folder as written (the
typed records refuse ``..`` and absolute paths: :data:`bnas.run_record.RunPath`) and once
every link on the way is followed. A violation is one line naming the file that named it.
"""

from __future__ import annotations

import os
from pathlib import Path

from bnas.errors import BnasError


def inside_run(run_dir: str | Path, relative: str | Path, what: str) -> Path:
    """``run_dir / relative`` (as ``run_dir`` is written), or a one-line BnasError when it
    leaves the run folder; ``what`` says where the path came from (``oneshot.json
    supernet.checkpoint``)."""
    root = Path(run_dir).resolve()
    normal = os.path.normpath(str(relative))
    if os.path.isabs(normal) or normal == ".." or normal.startswith(".." + os.sep):
        raise BnasError(f"{what} {str(relative)!r} lies outside the run folder {run_dir}")
    path = Path(run_dir) / normal
    resolved = (root / normal).resolve()
    if resolved != root and root not in resolved.parents:
        raise BnasError(f"{what} {path} leads out of the run folder through a link (to "
                        f"{resolved}): bnas follows no link out of a run folder")
    return path


def inside(path: str | Path, run_dir: str | Path) -> bool:
    """Whether ``path`` (links followed) is ``run_dir`` or lies in it."""
    root, resolved = Path(run_dir).resolve(), Path(path).resolve()
    return resolved == root or root in resolved.parents
