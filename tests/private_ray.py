"""Ray processes a test module starts, all under one private temp dir, and ended by it alone.

Every Ray process a test starts inherits ``RAY_TMPDIR`` (:meth:`PrivateRay.env`), so
:meth:`PrivateRay.stop` can end exactly those: ``ray stop`` would also end other Ray clusters on
the machine. Ray Train and Tune drivers run in subprocesses (Ray's driver state, signal
handlers and import-time settings stay out of the test process).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HEAD_IP, WORKER_IP = "127.0.0.2", "127.0.0.3"


class PrivateRay:
    """A private ``RAY_TMPDIR`` and the processes started under it."""

    def __init__(self) -> None:
        # Short: Ray puts Unix sockets below it, and their paths may not exceed 107 bytes.
        self.tmp = tempfile.mkdtemp(prefix="bnas-ray-", dir="/tmp")

    def env(self, **extra: str) -> dict[str, str]:
        # TMPDIR too: what a killed process leaves in its temp folders goes with this one.
        return {**os.environ, "PYTHONUNBUFFERED": "1", "RAY_TMPDIR": self.tmp,
                "TMPDIR": self.tmp, **extra}

    def processes(self, name: str = "") -> list[int]:
        """Process ids started under this temp dir (their environment or command line names
        it; Ray renames some processes, e.g. ``ray::DashboardAgent``, but they inherit the
        environment) whose command line contains ``name``."""
        marker = self.tmp.encode()
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes()
                if (marker in (proc / "environ").read_bytes() or marker in cmdline) and (
                        name.encode() in cmdline):
                    found.append(int(proc.name))
            except OSError:
                continue
        return found

    def kill(self, name: str = "") -> list[int]:
        """SIGKILL :meth:`processes` (``name``); returns their ids."""
        killed = []
        for pid in self.processes(name):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        return killed

    def stop(self) -> None:
        """SIGKILL every process started under this temp dir."""
        self.kill()
        time.sleep(1)
        # A dead cluster's address file would make the next `ray start` / ray.init look for it.
        Path(self.tmp, "ray", "ray_current_cluster").unlink(missing_ok=True)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    @contextlib.contextmanager
    def two_node_cluster(self, port: int) -> Iterator[tuple[str, dict[str, str]]]:
        """A real 2-node Ray cluster on loopback addresses, one CPU each: (address, env)."""
        ray = str(Path(sys.executable).with_name("ray"))
        # Token auth: joining nodes fail with InvalidAuthToken without it. Multi-node on: a
        # library caller may have set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, which makes worker
        # nodes refuse.
        env = self.env(RAY_AUTH_MODE="token", RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="1")
        self.stop()
        try:
            head = subprocess.run(
                [ray, "start", "--head", f"--node-ip-address={HEAD_IP}", f"--port={port}",
                 "--num-cpus=1", "--object-store-memory=200000000",
                 "--include-dashboard=false", "--disable-usage-stats"],
                capture_output=True, text=True, env=env, timeout=180,
            )
            assert head.returncode == 0, head.stderr[-2000:]
            worker = subprocess.run(
                [ray, "start", f"--address={HEAD_IP}:{port}", f"--node-ip-address={WORKER_IP}",
                 "--num-cpus=1", "--object-store-memory=200000000", "--disable-usage-stats"],
                capture_output=True, text=True, env=env, timeout=180,
            )
            assert worker.returncode == 0, worker.stderr[-2000:]
            yield f"{HEAD_IP}:{port}", env
        finally:
            self.stop()
