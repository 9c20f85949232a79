"""timm's own model tests on the bnas models: ``tests/test_models.py`` of the sdist of the
installed timm (``make setup`` downloads it into ``.venv/timm-tests/``), restricted to the
``bnas_*`` models by the plugin in tests/bnas_models_only.py.

timm creates every model with its default arguments, i.e. the full presets at 224 px: the
run takes ~1 min on 2 cores.
"""

import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

TIMM_SDIST = Path(sys.prefix) / "timm-tests" / f"timm-{version('timm')}"
TESTS = Path(__file__).parent
# 10 test_model_* functions take the bnas models, 3 models each; the 2 TorchScript ones skip.
EXPECTED = {"passed": 24, "skipped": 6}


def test_timm_model_tests_pass_on_the_bnas_models():
    test_file = TIMM_SDIST / "tests" / "test_models.py"
    assert test_file.is_file(), f"{test_file} is missing: `make setup` fetches timm's tests"
    python_path = [str(TESTS), str(TESTS.parent), os.environ.get("PYTHONPATH", "")]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "bnas_models_only", "-p", "no:cacheprovider",
         "-q", "-rs", "tests/test_models.py"],
        cwd=TIMM_SDIST, env=os.environ | {"PYTHONPATH": os.pathsep.join(python_path)},
        capture_output=True, text=True, timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    counts = {key: int(n) for n, key in re.findall(r"(\d+) (passed|skipped|failed)", output)}
    assert counts == EXPECTED, output[-6000:]
    skips = [line for line in output.splitlines() if line.startswith("SKIPPED")]
    assert skips and all("autograd Functions, which TorchScript" in line for line in skips)
