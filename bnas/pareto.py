"""Pareto fronts over trial metrics (plain Python: every room may use it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """``a`` dominates ``b`` when it is no worse in every objective and better in one.

    Both are given in *minimisation* form; :func:`pareto_front` flips maximised objectives.
    """
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def pareto_front(
    points: Sequence[Mapping[str, float]], objectives: Mapping[str, str]
) -> list[int]:
    """Indices of the non-dominated ``points``, in input order.

    ``objectives`` maps a metric name to ``"max"`` or ``"min"``, e.g.
    ``{"val_top1": "max", "ops": "min"}``. Points missing a metric are never on the front.
    Exact duplicates are all kept: neither dominates the other.
    """
    keys = list(objectives)
    signs = [-1.0 if objectives[key] == "max" else 1.0 for key in keys]
    vectors: list[tuple[float, ...] | None] = []
    for point in points:
        if all(point.get(key) is not None for key in keys):
            vectors.append(tuple(sign * float(point[key]) for sign, key in zip(signs, keys)))
        else:
            vectors.append(None)
    return [
        index
        for index, vector in enumerate(vectors)
        if vector is not None
        and not any(other is not None and dominates(other, vector) for other in vectors)
    ]
