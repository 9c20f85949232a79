"""Connecting to Ray: an embedded local cluster on loopback, or an existing cluster.

Ray picks the machine's external interface as its node address unless told otherwise, even
for a single-machine run; bnas keeps a local run on 127.0.0.1 (Ray 2.60 needs
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` for that, or it rewrites the loopback address).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from bnas.errors import BnasError

LOCAL_NODE_IP = "127.0.0.1"
# Tiny tensors travel through the object store; Ray's default claims ~30 % of RAM.
LOCAL_OBJECT_STORE_BYTES = 256 * 1024 * 1024


@contextlib.contextmanager
def _ray_environment(local: bool) -> Iterator[None]:
    """Ray's settings for this session, the caller's environment restored afterwards.

    (A library caller, e.g. an experiment running several searches in one process, must not
    be left with them: a later ``ray start`` of a worker node would refuse to run.)
    """
    settings = {
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_DEDUP_LOGS": "1",
        # Metrics go to our own progress lines; Ray's new console output would repeat them.
        "RAY_AIR_NEW_OUTPUT": "0",
        # Tiny trials checkpoint every few seconds; Ray would warn at each experiment snapshot.
        "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
    }
    if local:  # keeps the embedded cluster on 127.0.0.1 (see the module docstring)
        settings["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    previous = {name: os.environ.get(name) for name in settings}
    for name, value in settings.items():
        os.environ.setdefault(name, value)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[None]:
    """Start an embedded loopback cluster (``address=None``) or join ``address``.

    An embedded cluster is shut down on exit; a joined one is left running (it is not ours).
    """
    with _ray_environment(local=address is None):
        yield from _connected(address, num_cpus)


def _connected(address: str | None, num_cpus: int | None) -> Iterator[None]:
    import ray

    if ray.is_initialized():  # a caller (e.g. a notebook) already connected: use that
        yield
        return
    kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if address is None:
        ray.init(
            address="local",  # always a new embedded cluster, never one found on the machine
            _node_ip_address=LOCAL_NODE_IP,
            num_cpus=num_cpus,
            object_store_memory=LOCAL_OBJECT_STORE_BYTES,
            **kwargs,
        )
    else:
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise BnasError(
                f"--address {address}: cannot join the Ray cluster ({first_line})"
            ) from None
    try:
        yield
    finally:
        ray.shutdown()
