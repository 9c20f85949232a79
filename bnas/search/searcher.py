"""Ray's ``OptunaSearch``, told which trials failed by themselves.

A trial that fails deterministically ends with a report naming the failure instead of raising
(so Ray does not retry it, see :mod:`bnas.search.trainable`); its objectives are NaN there,
which Optuna refuses as values. This searcher tells Optuna such a trial failed — as it would
have been told of a raised trial — and keeps the NaN out of the intermediate values.
"""

from __future__ import annotations

from typing import Any

from ray.tune.search.optuna import OptunaSearch

from bnas.search.trainable import FAILURE_KEY


class FailureAwareOptunaSearch(OptunaSearch):
    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        if not result.get(FAILURE_KEY):
            super().on_trial_result(trial_id, result)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        if result and result.get(FAILURE_KEY):
            result, error = None, True
        super().on_trial_complete(trial_id, result=result, error=error)
