"""Connecting to Ray: an embedded local cluster on loopback, or an existing cluster.

Ray picks the machine's external interface as its node address unless told otherwise, even
for a single-machine run; bnas keeps a local run on 127.0.0.1. Ray 2.60 rewrites 127.0.0.1 to
the external address unless ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` is 0 — and reads that
variable once, when ``ray`` is first imported, so in a process that imported Ray before the
session (a library caller, a test) the variable alone is too late: the driver's copy of the
setting is switched for the ``ray.init`` too. The workers read the variable when they start.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

from bnas.errors import BnasError
from bnas.search.shutdown import StopSignals, reap, session_processes

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
        # A retried trial gets one progress line, a failed one its reason in summary.json; Tune
        # would print each trial's traceback as well.
        "TUNE_PRINT_ALL_TRIAL_ERRORS": "0",
    }
    if local:  # keeps the embedded cluster on 127.0.0.1 (see the module docstring)
        settings["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    # bnas handles SIGINT itself, as it does SIGTERM (bnas.search.shutdown): not a user's choice
    forced = {"TUNE_DISABLE_SIGINT_HANDLER": "1"}
    previous = {name: os.environ.get(name) for name in {**settings, **forced}}
    for name, value in settings.items():
        os.environ.setdefault(name, value)
    os.environ.update(forced)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _loopback_node() -> Iterator[None]:
    """``ray.init`` keeps 127.0.0.1 as the node's address (see the module docstring)."""
    from ray._private import ray_constants

    previous = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = previous


@contextlib.contextmanager
def ray_session(
    address: str | None = None, num_cpus: int | None = None, signals: StopSignals | None = None
) -> Iterator[None]:
    """Start an embedded loopback cluster (``address=None``) or join ``address``.

    An embedded cluster is shut down on exit, every process of it ended and its temporary
    files removed (its logs stay in Ray's session folder); a joined one is left running (it
    is not ours). ``signals``: a SIGINT/SIGTERM during the shutdown waits until it is done.
    """
    with _ray_environment(local=address is None):
        yield from _connected(address, num_cpus, signals or StopSignals())


def _connected(address: str | None, num_cpus: int | None, signals: StopSignals) -> Iterator[None]:
    import ray

    if ray.is_initialized():  # a caller (e.g. a notebook) already connected: use that
        yield
        return
    kwargs = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    session_dir = None
    with signals.held():  # a signal during start-up is acted on once there is a cluster to stop
        if address is None:
            with _loopback_node():
                context = ray.init(
                    address="local",  # a new embedded cluster, never one found on the machine
                    _node_ip_address=LOCAL_NODE_IP,
                    num_cpus=num_cpus,
                    object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                    **kwargs,
                )
            session_dir = context.address_info["session_dir"]
        else:
            try:
                # 127.0.0.1 stays 127.0.0.1 (Ray would rewrite it to the external address)
                with _loopback_node() if _is_loopback(address) else contextlib.nullcontext():
                    ray.init(address=address, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as error:
                first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
                raise BnasError(
                    f"--address {address}: cannot join the Ray cluster ({first_line})"
                ) from None
    try:
        signals.install()
        signals.raise_if_received()
        yield
    finally:
        with signals.held():
            if session_dir is None:
                ray.shutdown()
            else:
                _shut_down_embedded(session_dir)


def _shut_down_embedded(session_dir: str) -> None:
    """``ray.shutdown()``, then make sure: no process of the cluster is left (one stuck in a
    long step is killed after a grace period), and the trials' working folders and Tune's
    staging copies (``artifacts/`` of the session folder, which is this cluster's alone) are
    removed."""
    import ray

    processes = session_processes(session_dir)
    ray.shutdown()
    reap(processes)
    shutil.rmtree(Path(session_dir) / "artifacts", ignore_errors=True)


# How long a search on a joined cluster waits for a node that can hold one trial (an
# autoscaling cluster may still be adding it) before it gives up with exit 2; the environment
# variable BNAS_CLUSTER_WAIT_SECONDS sets it.
CLUSTER_WAIT_SECONDS = 60.0
WAIT_VARIABLE = "BNAS_CLUSTER_WAIT_SECONDS"
# How long `--address HOST:PORT` may take to accept a connection before the search gives up:
# Ray itself retries a silent address for over a minute.
ADDRESS_ANSWER_SECONDS = 5.0


def cluster_wait_seconds() -> float:
    """:data:`CLUSTER_WAIT_SECONDS`, or the environment's BNAS_CLUSTER_WAIT_SECONDS (a number
    of seconds >= 0; anything else is one BnasError line)."""
    raw = os.environ.get(WAIT_VARIABLE)
    if raw is None:
        return CLUSTER_WAIT_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds >= 0):
        raise BnasError(f"{WAIT_VARIABLE}={raw!r}: expected a number of seconds >= 0")
    return seconds


def check_address(address: str, answer_seconds: float = ADDRESS_ANSWER_SECONDS) -> None:
    """Before anything starts: ``--address HOST:PORT`` must accept a connection within
    ``answer_seconds``, and BNAS_CLUSTER_WAIT_SECONDS must be a number; one BnasError line
    otherwise. (Other forms, such as ``auto`` or ``ray://…``, are left to Ray.)"""
    cluster_wait_seconds()
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or "/" in address:
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=answer_seconds):
            pass
    except TimeoutError:
        raise BnasError(f"--address {address}: no answer within {answer_seconds:g} s (is a "
                        "Ray head node running there?)") from None
    except OSError as error:
        raise BnasError(f"--address {address}: cannot connect ({error.strerror or error}): is "
                        "a Ray head node running there?") from None


def _is_loopback(address: str) -> bool:
    host = address.rpartition(":")[0].strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def wait_for_a_node(per_trial: dict[str, float], address: str,
                    timeout_s: float | None = None) -> None:
    """Return once a live node of the joined cluster has the CPUs and GPUs of one trial; a
    BnasError after ``timeout_s`` (default :func:`cluster_wait_seconds`) when none does (Ray
    would leave every trial pending)."""
    import time

    import ray

    timeout_s = cluster_wait_seconds() if timeout_s is None else timeout_s
    per_trial = {key: need for key, need in per_trial.items() if need > 0}
    deadline = time.monotonic() + timeout_s
    announced = False
    while True:
        nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
        if any(all(node.get(key.upper(), 0.0) >= need for key, need in per_trial.items())
               for node in nodes):
            return
        largest = max(nodes, key=lambda node: node.get("CPU", 0.0), default={})
        have = ", ".join(f"{largest.get(key.upper(), 0.0):g} {key.upper()}"
                         for key in per_trial)
        want = ", ".join(f"{need:g} {key.upper()}" for key, need in per_trial.items())
        if time.monotonic() >= deadline:
            raise BnasError(
                f"--address {address}: no node of the cluster has what one trial asks for "
                f"({want}; the largest has {have}) after waiting {timeout_s:g} s: lower "
                "search.resources_per_trial or add such a node"
            )
        if not announced:
            print(f"waiting up to {timeout_s:g} s for a node with {want} (the largest has "
                  f"{have})", flush=True)
            announced = True
        time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
