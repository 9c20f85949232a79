"""A pytest plugin (``-p bnas_models_only``) that runs the ``test_model_*`` tests of timm's own
``tests/test_models.py`` on the ``bnas_*`` models only; tests/test_timm_conventions.py loads it.

timm parametrizes those tests with ``timm.list_models(...)`` when pytest imports its test
module. This plugin is imported before that: it registers the bnas models and narrows
``list_models`` to them (``list_pretrained`` to nothing: bnas has no weights). timm picks the
models for its ``forward_intermediates`` tests by their source module (``module=``, its own
model files); the bnas models implement that API too, so they take part. Tests of other
functions, and those naming timm's own models, are deselected.

The TorchScript tests are skipped, as timm's test module skips its own unscriptable models
(``EXCLUDE_JIT_FILTERS``): the bnas binarizers are autograd Functions with surrogate
gradients, which TorchScript cannot compile (and ``torch.jit.script`` is deprecated in favour
of ``torch.compile`` / ``torch.export``).
"""

import pytest
import timm
import torch

import bnas.models  # noqa: F401  (registers the bnas_* models with timm)

UNSCRIPTABLE = (
    "bnas binarizers are autograd Functions, which TorchScript cannot compile; timm excludes "
    "its own unscriptable models from these tests too (EXCLUDE_JIT_FILTERS)"
)

# One thread per process, as in the other tests: on a shared 2-core machine a second one loses.
torch.set_num_threads(1)

_list_models = timm.list_models


def list_bnas_models(filter: str = "", module: str = "", *args, **kwargs) -> list[str]:
    return [name for name in _list_models(filter, "", *args, **kwargs) if name.startswith("bnas_")]


timm.list_models = list_bnas_models
timm.list_pretrained = lambda *args, **kwargs: []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected, deselected = [], []
    for item in items:
        params = getattr(item, "callspec", None)
        model_name = str(params.params.get("model_name", "")) if params else ""
        if item.originalname.startswith("test_model_") and model_name.startswith("bnas_"):
            selected.append(item)
        else:
            deselected.append(item)
        if "torchscript" in item.name:
            item.add_marker(pytest.mark.skip(reason=UNSCRIPTABLE))
    config.hook.pytest_deselected(items=deselected)
    items[:] = selected
