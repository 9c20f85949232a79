"""A one-shot run's phases as they go: ``RUN_DIR/oneshot.json`` (:class:`PhaseState`).

The file is the typed :class:`bnas.run_record.OneShotState`: per phase whether it is done,
what it cost so far and what the next phases need of it, read back validated on ``--resume``
(a damaged file is one line naming the field) with every path it names kept inside the run
folder (:func:`bnas.run_paths.inside_run`).

**Costs of every process.** A phase's seconds are added as they pass, not when it ends:
while a phase runs (:meth:`PhaseState.working`), a clock thread adds the time gone by to the
file every :data:`TICK_SECONDS`, so a run killed with ``kill -9`` loses at most that much of
its time, and a resumed run adds its own. ``processes`` counts the processes that worked on a
phase (the first run and each ``--resume``).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bnas.files import ONESHOT_STATE_FILE
from bnas.run_paths import inside_run
from bnas.run_record import OneShotState, PhaseProgress

# How often a running phase's seconds reach oneshot.json: what a kill -9 can lose of them.
TICK_SECONDS = 2.0


class PhaseState:
    """``RUN_DIR/oneshot.json`` (see the module docstring), written atomically on every change."""

    def __init__(self, run_dir: Path, record: OneShotState | None = None) -> None:
        self.run_dir = run_dir
        self.path = inside_run(run_dir, ONESHOT_STATE_FILE, "one-shot phase record")
        self.record = record or OneShotState()
        self._lock = threading.Lock()  # the clock thread writes too

    @classmethod
    def load(cls, run_dir: Path) -> PhaseState:
        """The run's phases (all to do when it has no ``oneshot.json`` yet), validated."""
        state = cls(run_dir)
        if state.path.is_file():
            state.record = OneShotState.load(state.path)
        return state

    def __getitem__(self, phase: str) -> Any:
        return getattr(self.record.phases, phase)

    def done(self, phase: str) -> bool:
        return bool(self[phase].done)

    def path_of(self, relative: str, field: str) -> Path:
        """A path the file names (``field`` for the message), inside the run folder."""
        return inside_run(self.run_dir, relative, f"{ONESHOT_STATE_FILE} {field}")

    def update(self, phase: str, **facts: Any) -> None:
        """Set ``facts`` of ``phase`` and write the file."""
        with self._lock:
            entry: PhaseProgress = self[phase]
            for key, value in facts.items():
                setattr(entry, key, value)
            self._save()

    @contextlib.contextmanager
    def working(self, phase: str) -> Iterator[None]:
        """Count this process as one working on ``phase`` and add its seconds as they pass."""
        self.update(phase, processes=self[phase].processes + 1)
        stop = threading.Event()
        last = [time.monotonic()]

        def add_elapsed() -> None:
            with self._lock:
                now = time.monotonic()
                self[phase].seconds += now - last[0]
                last[0] = now
                self._save()

        def tick() -> None:
            while not stop.wait(TICK_SECONDS):
                add_elapsed()

        clock = threading.Thread(target=tick, name=f"bnas-{phase}-clock", daemon=True)
        clock.start()
        try:
            yield
        finally:
            stop.set()
            clock.join()
            add_elapsed()

    def _save(self) -> None:
        self.record.save(self.path)
