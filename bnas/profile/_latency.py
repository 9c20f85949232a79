"""Measured latency as a cost: the latency table of a backbone on this CPU, built and cached.

The model (:mod:`bnas.latency_table`): the all-static network's latency plus, for each dynamic
site, what making that one site dynamic with that setting adds to the whole network. Both are
measured here on the bit-packed OpenVINO model (:mod:`bnas.deploy`), in context: a site's
extra compares the network with that one site dynamic against the all-static network, timed
back to back.

**Noise.** Tiny networks run in tens to hundreds of µs, and a shared machine's load comes and
goes. Measured on a 2-core VM at load 7–11 (ReActNet-A tiny, 8 px): the fastest of 25 calls
was 83–90 µs for seconds at a time, then 140–200 µs for up to 8 s (the CPU time per call rose
alike: contention for the core, not descheduling), then fast again; the median of a round
moved by ±25 %. The ratio of two networks timed back to back stayed within ±1–2 % in both
states. At load 14, calls of a few ms (binary CCT tiny, 1.9 ms) were rarely left alone: the
fastest of 45 wall-clock calls came out 2–7× the network's latency, while the CPU time of
the calling thread, which is where the CPU plugin runs a one-thread inference (its fastest
call: 1.889 ms wall, 1.890 ms CPU), stayed at 1.9–2.1 ms. Hence:

- a call is timed by the CPU time of the calling thread (``time.thread_time``) when the model
  runs on one thread, by the wall clock otherwise (several threads: measure on a quiet
  machine);
- a latency is the **fastest call** of a probe over rounds that span at least
  :func:`measuring_seconds` (each round: a few ms of consecutive calls, probes in a shuffled
  order), i.e. what the network costs when the core is its own, which is also what an idle
  target measures; a short measurement inside a slow stretch would be tens of percent high.
  A table's all-static latency is the median, over its site probes, of the fastest
  all-static call paired with each (so it is the fastest of as many calls as any network
  measured alone);
- a site's extra is a **ratio** from quiet moments: in every round the all-static probe is
  timed right before the site's probe, and extra = static latency × (median of site /
  all-static over the eighth of the rounds in which the pair was fastest together − 1).
  Measured at load 11–15 (ReActNet-A small, 16 sites, 24 random candidates): the median
  over all rounds followed the load (contention slows the memory-bound generator ops more
  than the binary convolutions: extras ~1.5× too large, predictions up to 15–28 % high); the
  ratio of each probe's fastest call to its paired all-static fastest, which may come from
  different rounds, was unbiased but noisy when quiet moments were rare (single extras
  ±5 % of the network; predictions of 16-site candidates off by up to 31 %); the quietest
  rounds of each pair keep both calls of a ratio in the same moment.

**Cache.** A table is kept per CPU (model name and ISA flags), OpenVINO version, threads,
precision, batch, backbone and resolved arguments, in ``$BNAS_LATENCY_CACHE`` (default
``$XDG_CACHE_HOME/bnas/latency``, i.e. ``~/.cache/bnas/latency``); a later build for the same
key measures only what the cached table lacks, and nothing when it has it all. A table
measured elsewhere (an edge box: ``bnas profile --latency SPACE.yaml --out table.json``) is
given by path instead and never measured into.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from bnas.architecture import Architecture
from bnas.deploy.latency import LatencyProbe, runtime_ops, time_calls
from bnas.deploy.runtime import check_settings, openvino_core
from bnas.errors import BnasError
from bnas.latency_table import (
    LatencyDevice,
    LatencyTable,
    SiteExtra,
    SiteSetting,
    resolved_args,
)

if TYPE_CHECKING:
    import openvino as ov

Progress = Callable[[str], None]

MIN_ROUNDS = 5
QUIET_ROUNDS = 3  # a site's ratio comes from at least this many of its quietest rounds
ROUND_MS = 3.0  # a probe's calls per visit take about this long (at least MIN_CALLS)
MIN_CALLS, MAX_CALLS = 3, 40
WARMUP_CALLS = 5
# Rounds go on until this many seconds have passed (per group of probes): longer than the slow
# stretches seen on a busy machine (up to ~8 s), so each probe gets fast moments to be timed in.
SECONDS_ENV, DEFAULT_SECONDS = "BNAS_LATENCY_SECONDS", 20.0
# Probes compiled and timed together, so that all of them share the same stretch of time (in
# groups of 32 timed one after the other, a later group's probes could miss the quiet moments
# an earlier group had: binary CCT tiny's candidates then measured 10 % above the table). Also
# bounds memory (a compiled full ReActNet-A holds ~10 MB).
GROUP = 96
# The CPU flags OpenVINO's binary-convolution kernels choose between (jit_avx512_u1 needs
# AVX-512 and uses VPOPCNTDQ when present; jit_avx2_u1; jit_sse42_u1), and bf16 arithmetic.
ISA_FLAGS = ("avx512_vpopcntdq", "avx512bw", "avx512f", "avx512_bf16", "amx_bf16", "avx2",
             "sse4_1")
CACHE_ENV = "BNAS_LATENCY_CACHE"


def measuring_seconds() -> float:
    """How long the rounds of one group of probes last at least: ``$BNAS_LATENCY_SECONDS``,
    default 20 (a steadier table on a busy machine takes longer; tests take less)."""
    text = os.environ.get(SECONDS_ENV, "")
    try:
        seconds = float(text) if text else DEFAULT_SECONDS
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise BnasError(f"${SECONDS_ENV}: expected a number of seconds >= 0, got {text!r}")
    return seconds


# -- where: this CPU and the cache ---------------------------------------------------------------


def cpu_identity() -> tuple[str, tuple[str, ...]]:
    """This CPU's model name and which of :data:`ISA_FLAGS` it has (Linux's /proc/cpuinfo;
    elsewhere the platform's processor string and no flags)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return platform.processor() or platform.machine() or "unknown CPU", ()
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    name = fields.get("model name") or platform.processor() or "unknown CPU"
    return name, tuple(flag for flag in ISA_FLAGS if flag in flags)


def cache_dir() -> Path:
    """``$BNAS_LATENCY_CACHE``, else ``$XDG_CACHE_HOME/bnas/latency``, else
    ``~/.cache/bnas/latency``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "bnas" / "latency"


def cache_path(backbone: str, args: dict, *, threads: int, precision: str, batch: int) -> Path:
    """The cached table of ``backbone`` with ``args`` on this CPU and OpenVINO version."""
    import openvino as ov

    cpu, isa = cpu_identity()
    key = json.dumps({"cpu": cpu, "isa": isa, "openvino": ov.__version__, "threads": threads,
                      "precision": precision, "batch": batch, "backbone": backbone,
                      "args": resolved_args(backbone, args)}, sort_keys=True)
    return cache_dir() / f"{backbone}-{hashlib.sha1(key.encode()).hexdigest()[:16]}.json"


# -- how: interleaved rounds ----------------------------------------------------------------------


def bit_packed(arch: Architecture) -> ov.Model:
    """``arch``'s bit-packed OpenVINO model, weights random (latency does not depend on them;
    drawing them does not move the caller's random state)."""
    from bnas.deploy import to_openvino
    from bnas.models import build_model

    with torch.random.fork_rng(devices=[]), torch.no_grad():
        return to_openvino(build_model(arch).eval())


def build_probe(arch: Architecture, *, threads: int, precision: str, batch: int) -> LatencyProbe:
    """``arch``'s bit-packed model compiled for timing."""
    return LatencyProbe(bit_packed(arch), threads=threads, precision=precision, batch=batch)


def clock_of(probe: LatencyProbe) -> Callable[[], float]:
    """The calling thread's CPU time for a one-thread model (the CPU plugin runs it on the
    calling thread), else the wall clock (module docstring)."""
    return time.thread_time if probe.threads == 1 else time.perf_counter


def _time(probe: LatencyProbe, calls: int, warmup: int = 1) -> np.ndarray:
    return time_calls(probe.infer, warmup=warmup, repeats=calls, clock=clock_of(probe))


def _calls_per_visit(probe: LatencyProbe) -> int:
    warm = _time(probe, MIN_CALLS, warmup=WARMUP_CALLS)
    return min(MAX_CALLS, max(MIN_CALLS, math.ceil(ROUND_MS / 1e3 / max(warm.min(), 1e-6))))


def timed_rounds(probes: Sequence[LatencyProbe], *, reference: LatencyProbe | None = None,
                 seconds: float | None = None, seed: int = 0
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """Each probe's fastest call per round, in seconds (probes × rounds), and with a
    ``reference`` the reference's fastest call timed right before each of them. Rounds visit
    the probes in a shuffled order until :data:`MIN_ROUNDS` are done and ``seconds`` (default
    :func:`measuring_seconds`) have passed."""
    seconds = measuring_seconds() if seconds is None else seconds
    calls = [_calls_per_visit(probe) for probe in probes]
    reference_calls = _calls_per_visit(reference) if reference is not None else 0
    fastest, paired = [], []
    order = np.random.default_rng(seed)
    started = time.monotonic()
    while len(fastest) < MIN_ROUNDS or time.monotonic() - started < seconds:
        row, reference_row = np.empty(len(probes)), np.empty(len(probes))
        for index in order.permutation(len(probes)):
            if reference is not None:
                reference_row[index] = _time(reference, reference_calls).min()
            row[index] = _time(probes[index], calls[index]).min()
        fastest.append(row)
        paired.append(reference_row)
    return np.array(fastest).T, (np.array(paired).T if reference is not None else None)


def measure_networks(archs: Sequence[Architecture], *, threads: int = 1, precision: str = "f32",
                     batch: int = 1, seconds: float | None = None, seed: int = 0,
                     progress: Progress | None = None) -> list[float]:
    """Whole-network latencies of ``archs`` in ms, the fastest call of each over rounds (the
    statistic of a table's all-static latency), timed interleaved in groups of :data:`GROUP`."""
    check_settings(threads, precision)
    result: list[float] = []
    for start in range(0, len(archs), GROUP):
        probes = [build_probe(arch, threads=threads, precision=precision, batch=batch)
                  for arch in archs[start:start + GROUP]]
        fastest, _ = timed_rounds(probes, seconds=seconds, seed=seed + start)
        result += [float(value) * 1e3 for value in fastest.min(axis=1)]
        if progress is not None and len(archs) > GROUP:
            progress(f"measured {len(result)}/{len(archs)} networks")
    return result


def binary_kernel(probe: LatencyProbe) -> str:
    """The kernel(s) the CPU plugin runs the model's BinaryConvolutions with."""
    kernels = {node.get("primitiveType", "?") for node in runtime_ops(probe.compiled)
               if node.get("layerType") == "BinaryConvolution"}
    return "/".join(sorted(kernels)) or "none"


def _with_sites(base: Architecture, settings: Iterable[SiteSetting]) -> Architecture:
    data = base.to_dict()
    for setting in settings:
        data["blocks"][setting.block][setting.site] = setting.threshold.to_data()
    return Architecture.from_dict(data)


def quiet_ratios(fastest: np.ndarray, paired: np.ndarray) -> list[float]:
    """Per probe (a row: its fastest call per round, and the all-static one's timed right
    before it), the median ratio over its quietest rounds: the eighth (at least
    :data:`QUIET_ROUNDS`) in which the pair took least time together, so both calls of each
    ratio come from the same quiet moment."""
    keep = max(QUIET_ROUNDS, fastest.shape[1] // 8)
    ratios = []
    for probe, static in zip(fastest, paired):
        quiet = np.argsort(probe + static)[:keep]
        ratios.append(float(np.median(probe[quiet] / static[quiet])))
    return ratios


def _ratios(static: LatencyProbe, archs: Sequence[Architecture], *, threads: int,
            precision: str, batch: int, seconds: float | None) -> tuple[list[float], float, int]:
    """Each network's fastest call as a ratio to the fastest of the all-static visits timed
    right before its own; the all-static latency (s); the rounds.

    The all-static latency is the median over the networks of those paired fastest calls,
    not the fastest of them all: each is the fastest of as many calls as a whole network
    measured alone gets, and the fastest of many more calls is lower (the all-static visits
    of a 36-network table are 36 times as many; its fastest made every prediction 1–7 % low).
    """
    if not archs:
        fastest, _ = timed_rounds([static], seconds=seconds)
        return [], float(fastest.min()), fastest.shape[1]
    ratios, floors, rounds = [], [], 0
    for start in range(0, len(archs), GROUP):
        probes = [build_probe(arch, threads=threads, precision=precision, batch=batch)
                  for arch in archs[start:start + GROUP]]
        fastest, paired = timed_rounds(probes, reference=static, seconds=seconds, seed=start)
        assert paired is not None
        ratios += quiet_ratios(fastest, paired)
        floors += [float(value) for value in paired.min(axis=1)]
        rounds = max(rounds, paired.shape[1])
    return ratios, float(np.median(floors)), rounds


def measure_table(backbone: str, args: dict, rprelus: Iterable[str],
                  settings: Iterable[SiteSetting], *, threads: int = 1, precision: str = "f32",
                  batch: int = 1, seconds: float | None = None,
                  shared_ms: dict[str, float] | None = None, progress: Progress | None = None
                  ) -> LatencyTable:
    """A new table: per RPReLU kind in ``rprelus`` (and in ``settings``) the all-static
    network, the cost all dynamic sites share and each site setting's own extra.

    Measured as ratios to the all-static network (module docstring): each site setting alone,
    and per threshold every one of its sites at once. A single site's extra includes a cost
    that several dynamic sites pay only once (ReActNet-A tiny at 8 px: 4.8–6.1 µs per site
    alone, but 29.5 µs for all 8 together, 42.0 µs summed; binary CCT tiny: 155 µs against
    273 µs), so with n sites of a threshold dynamic together costing X,
    shared = (Σ single − X) / (n − 1), the median over thresholds, and a site's own extra is
    its single extra − shared. ``shared_ms`` (a kind → ms) is used instead where given: the
    table being extended already has it, and its extras are net of it.
    """
    check_settings(threads, precision)
    openvino_core()  # no OpenVINO or no CPU device: one line before anything is built
    started = time.monotonic()
    args = resolved_args(backbone, args)
    wanted = list(dict.fromkeys(settings))
    kinds = list(dict.fromkeys([*rprelus, *(setting.rprelu for setting in wanted)]))
    shared_ms = dict(shared_ms or {})
    plans = {}
    for kind in kinds:
        mine = [setting for setting in wanted if setting.rprelu == kind]
        together: dict = {}  # threshold → its sites, all dynamic at once
        if kind not in shared_ms:
            for setting in mine:
                together.setdefault(setting.threshold, []).append(setting)
        plans[kind] = (mine, [group for group in together.values() if len(group) > 1])
    total = sum(1 + len(mine) + len(groups) for mine, groups in plans.values())
    static_ms: dict[str, float] = {}
    extras: list[SiteExtra] = []
    device, done, rounds = None, 0, 0
    for kind, (mine, groups) in plans.items():
        base = Architecture.from_dict({"backbone": backbone, "args": args, "rprelu": kind,
                                       "blocks": "static"})
        static = build_probe(base, threads=threads, precision=precision, batch=batch)
        if device is None:
            device = _device(static, threads=threads, precision=precision, batch=batch)
            if progress is not None:
                progress(f"latency table: measuring {total} networks of {backbone} on "
                         f"{device.describe()}")
        archs = [_with_sites(base, [setting]) for setting in mine]
        archs += [_with_sites(base, group) for group in groups]
        ratios, floor, kind_rounds = _ratios(static, archs, threads=threads,
                                             precision=precision, batch=batch, seconds=seconds)
        rounds = max(rounds, kind_rounds)
        static_ms[kind] = floor * 1e3
        single = {setting: static_ms[kind] * (ratio - 1.0)
                  for setting, ratio in zip(mine, ratios)}
        if kind not in shared_ms:
            estimates = [(sum(single[s] for s in group) - static_ms[kind] * (ratio - 1.0))
                         / (len(group) - 1)
                         for group, ratio in zip(groups, ratios[len(mine):])]
            shared_ms[kind] = float(np.median(estimates)) if estimates else 0.0
        extras += [SiteExtra(rprelu=kind, block=setting.block, site=setting.site,
                             threshold=setting.threshold, extra_ms=ms - shared_ms[kind])
                   for setting, ms in single.items()]
        done += 1 + len(archs)
        if progress is not None:
            progress(f"latency table: {done}/{total} networks measured "
                     f"({time.monotonic() - started:.0f} s)")
    assert device is not None
    return LatencyTable(device=device, backbone=backbone, args=args, rounds=rounds,
                        static_ms=static_ms, shared_ms=shared_ms, extras=tuple(extras),
                        seconds=time.monotonic() - started,
                        load_average=round(os.getloadavg()[0], 2))


def _device(probe: LatencyProbe, *, threads: int, precision: str, batch: int) -> LatencyDevice:
    import openvino as ov

    cpu, isa = cpu_identity()
    return LatencyDevice(cpu=cpu, isa=isa, kernel=binary_kernel(probe), openvino=ov.__version__,
                         threads=threads, precision=precision,
                         runtime_precision=probe.runtime_precision, batch=batch)


# -- the table a search uses: given, cached, or measured ------------------------------------------

_TABLES: dict[tuple, LatencyTable] = {}  # this process's tables, by where they came from


def latency_table(backbone: str, args: dict, rprelus: Iterable[str],
                  settings: Iterable[SiteSetting], *, path: str | Path | None = None,
                  threads: int | None = None, precision: str | None = None,
                  batch: int | None = None, progress: Progress | None = None) -> LatencyTable:
    """The latency table that predicts every network of ``backbone`` with ``args`` whose
    RPReLU kind is in ``rprelus`` and whose dynamic sites are among ``settings``.

    ``path``: a table measured elsewhere, read and checked (backbone, arguments, the settings
    given here, and that it covers what is asked); nothing is measured. Without it: the
    cached table of this CPU (module docstring), with whatever it lacks measured and added
    (``progress`` hears about it). ``threads``, ``precision``, ``batch`` default to the given
    table's, or to 1, f32, 1. A problem is one BnasError line.
    """
    rprelus, settings = list(dict.fromkeys(rprelus)), list(dict.fromkeys(settings))
    if path is not None:
        table = _given_table(Path(path), backbone, args, threads, precision, batch)
        missing = table.missing(rprelus, settings)
        if missing:
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            raise BnasError(f"{path}: the latency table lacks {missing[0]}{more}: measure them "
                            "on the target (bnas profile --latency SPACE.yaml --out TABLE.json)")
        return table
    threads = 1 if threads is None else threads
    precision = "f32" if precision is None else precision
    batch = 1 if batch is None else batch
    check_settings(threads, precision)
    target = cache_path(backbone, args, threads=threads, precision=precision, batch=batch)
    table = _TABLES.get(("cache", str(target)))
    if table is None and target.is_file():
        table = LatencyTable.load(target)
        table.check_network(backbone, args)
    if table is not None and not table.missing(rprelus, settings):
        _TABLES["cache", str(target)] = table
        return table
    known = set(table.extras_by_setting()) if table is not None else set()
    measured = measure_table(backbone, args, rprelus,
                             [setting for setting in settings if setting not in known],
                             threads=threads, precision=precision, batch=batch,
                             shared_ms=table.shared_ms if table is not None else None,
                             progress=progress)
    table = measured if table is None else table.with_measurements(measured)
    table.save(target)
    if progress is not None:
        progress(f"latency table: {measured.seconds:.1f} s, cached in {target}")
    _TABLES["cache", str(target)] = table
    return table


def _given_table(path: Path, backbone: str, args: dict, threads: int | None,
                 precision: str | None, batch: int | None) -> LatencyTable:
    key = ("path", str(path.resolve()))
    table = _TABLES.get(key) or LatencyTable.load(path)
    try:
        table.check_network(backbone, args)
    except BnasError as error:
        raise BnasError(f"{path}: {error}") from None
    device = table.device
    for name, wanted, measured in (("threads", threads, device.threads),
                                   ("precision", precision, device.precision),
                                   ("batch", batch, device.batch)):
        if wanted is not None and wanted != measured:
            raise BnasError(f"{path}: the latency table was measured with {name} {measured}, "
                            f"not {wanted}")
    _TABLES[key] = table
    return table
