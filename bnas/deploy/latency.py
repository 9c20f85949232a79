"""How long a model takes on this CPU, and where the time goes, per op.

:func:`measure_latency` times ``infer`` calls of one compiled model (CPU plugin, one stream,
the latency hint, ``threads`` threads) on a random batch: median and spread of ``repeats``
calls after ``warmup``. :func:`profile_ops` reads OpenVINO's own profiling counters instead:
each executed node of the compiled graph, its kernel (``jit_avx2_u1``, ``brgconv_avx2_f32``,
…), its median time and the original ops fused into it, which is how the converted graph's
fusions are seen. Torch-free, as :mod:`bnas.deploy.runtime`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from bnas.deploy.runtime import compile_model, input_dims, read_model
from bnas.errors import BnasError

if TYPE_CHECKING:
    import openvino as ov


@dataclass(frozen=True)
class Latency:
    """Wall time of one inference call, in milliseconds, and how it was measured."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    min_ms: float
    repeats: int
    warmup: int
    threads: int
    batch: int
    precision: str  # asked for
    runtime_precision: str  # what the CPU plugin ran its float ops in

    @property
    def spread(self) -> float:
        """(p90 − p10) / median: how noisy the measurement was."""
        return (self.p90_ms - self.p10_ms) / self.median_ms if self.median_ms else 0.0

    def describe(self) -> str:
        return (f"{self.median_ms:.3f} ms median of {self.repeats} (p10–p90 {self.p10_ms:.3f}–"
                f"{self.p90_ms:.3f}), batch {self.batch}, {self.threads} thread(s), "
                f"{self.runtime_precision}")


def check_counts(warmup: int, repeats: int) -> None:
    for name, value, least in (("warmup", warmup, 0), ("repeats", repeats, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise BnasError(f"{name}: expected an integer >= {least}, got {value!r}")


def time_calls(call: Callable[[], object], *, warmup: int, repeats: int,
               clock: Callable[[], float] = time.perf_counter) -> np.ndarray:
    """Seconds of each of ``repeats`` calls of ``call`` after ``warmup`` untimed ones, by
    ``clock`` (wall time; ``time.thread_time`` counts only this thread's CPU time)."""
    check_counts(warmup, repeats)
    for _ in range(warmup):
        call()
    times = np.empty(repeats)
    for index in range(repeats):
        start = clock()
        call()
        times[index] = clock() - start
    return times


def summarize(times: np.ndarray, *, warmup: int, threads: int, batch: int, precision: str,
              runtime_precision: str) -> Latency:
    """A :class:`Latency` from per-call seconds."""
    ms = np.asarray(times) * 1e3
    p10, median, p90 = np.percentile(ms, [10, 50, 90])
    return Latency(float(median), float(p10), float(p90), float(ms.min()), len(ms), warmup,
                   threads, batch, precision, runtime_precision)


class Probe(Protocol):
    """Something that runs one inference per :meth:`infer` call, and says how."""

    threads: int
    precision: str
    batch: int

    @property
    def runtime_precision(self) -> str: ...

    def infer(self) -> None: ...


def measure_probe(probe: Probe, *, warmup: int, repeats: int) -> Latency:
    """:class:`Latency` of ``repeats`` ``probe.infer()`` calls after ``warmup``."""
    times = time_calls(probe.infer, warmup=warmup, repeats=repeats)
    return summarize(times, warmup=warmup, threads=probe.threads, batch=probe.batch,
                     precision=probe.precision, runtime_precision=probe.runtime_precision)


def compare_latencies(probes: Mapping[str, Probe], *, rounds: int, warmup: int,
                      repeats: int) -> dict[str, Latency]:
    """Each probe's latency over ``rounds`` interleaved rounds of ``repeats`` calls (all
    probes once per round, so they share the machine's load alike), samples pooled."""
    check_counts(warmup, repeats)
    for probe in probes.values():
        time_calls(probe.infer, warmup=warmup, repeats=1)
    samples: dict[str, list[np.ndarray]] = {name: [] for name in probes}
    for _ in range(max(1, rounds)):
        for name, probe in probes.items():
            samples[name].append(time_calls(probe.infer, warmup=1, repeats=repeats))
    return {name: summarize(np.concatenate(samples[name]), warmup=warmup, threads=probe.threads,
                            batch=probe.batch, precision=probe.precision,
                            runtime_precision=probe.runtime_precision)
            for name, probe in probes.items()}


class LatencyProbe:
    """One model compiled once and timed as often as asked (a :class:`Probe`): interleave
    several probes (:func:`compare_latencies`) to compare models under the same load."""

    def __init__(self, model: ov.Model | str | Path, *, threads: int = 1,
                 precision: str = "f32", batch: int = 1, profile: bool = False,
                 seed: int = 0) -> None:
        source = read_model(model)
        self.compiled = compile_model(source, batch=batch, threads=threads, precision=precision,
                                      profile=profile)
        self.request = self.compiled.create_infer_request()
        self.inputs = np.random.default_rng(seed).standard_normal(
            (batch, *input_dims(source))).astype(np.float32)
        self.threads, self.precision, self.batch = threads, precision, batch

    @property
    def runtime_precision(self) -> str:
        return self.compiled.get_property("INFERENCE_PRECISION_HINT").to_string()

    def infer(self) -> None:
        self.request.infer({0: self.inputs}, share_inputs=True)

    def measure(self, *, warmup: int, repeats: int) -> Latency:
        return measure_probe(self, warmup=warmup, repeats=repeats)


def measure_latency(model: ov.Model | str | Path, *, threads: int = 1, precision: str = "f32",
                    batch: int = 1, warmup: int, repeats: int) -> Latency:
    """Median and spread of ``repeats`` inference calls of ``model`` (an ``openvino.Model``,
    or the path of an IR or ONNX file) on this CPU after ``warmup`` calls."""
    check_counts(warmup, repeats)
    probe = LatencyProbe(model, threads=threads, precision=precision, batch=batch)
    return probe.measure(warmup=warmup, repeats=repeats)


@dataclass(frozen=True)
class OpTime:
    """One executed node of the compiled graph."""

    name: str
    layer_type: str  # the CPU plugin's node type: BinaryConvolution, FakeQuantize, Eltwise…
    kernel: str  # the implementation that ran: jit_avx2_u1, brgconv_avx2_f32, …
    median_ms: float
    fused: tuple[str, ...]  # the original ops this node computes (itself and what it fused)


def runtime_ops(compiled: ov.CompiledModel) -> list[dict[str, str]]:
    """The compiled graph's nodes in execution order, with the rt_info the plugin records
    (``layerType``, ``primitiveType`` = the kernel, ``runtimePrecision``,
    ``originalLayersNames`` = what was fused into the node)."""
    nodes = []
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        entry = {key: info[key].astype(str) for key in info.keys()}
        entry["name"] = op.get_friendly_name()
        nodes.append(entry)
    return nodes


def profile_ops(model: ov.Model | str | Path, *, threads: int = 1, precision: str = "f32",
                batch: int = 1, warmup: int = 5, repeats: int = 20) -> list[OpTime]:
    """Per-node median time over ``repeats`` profiled calls (OpenVINO's ``PERF_COUNT``), in
    execution order; nodes that did not run (constants, reorders folded away) are left out."""
    check_counts(warmup, repeats)
    probe = LatencyProbe(model, threads=threads, precision=precision, batch=batch, profile=True)
    for _ in range(warmup):
        probe.infer()
    samples: dict[str, list[float]] = {}
    kinds: dict[str, tuple[str, str]] = {}
    for _ in range(repeats):
        probe.infer()
        for info in probe.request.get_profiling_info():
            if info.status != info.Status.EXECUTED:
                continue
            samples.setdefault(info.node_name, []).append(info.real_time.total_seconds() * 1e3)
            kinds[info.node_name] = (info.node_type, info.exec_type)
    fused = {node["name"]: tuple(filter(None, node.get("originalLayersNames", "").split(",")))
             for node in runtime_ops(probe.compiled)}
    return [OpTime(name, kinds[name][0], kinds[name][1], float(np.median(times)),
                   fused.get(name, (name,)))
            for name, times in samples.items()]
