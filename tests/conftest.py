"""Fixtures shared by several test modules."""

import pytest
import torch


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models gain nothing from 2 threads; on a shared machine they lose a lot. Also how
    a search's evaluation workers run (1 CPU each). The previous count is restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session", autouse=True)
def latency_cache(tmp_path_factory):
    """Latency tables go to a folder of the test session (never the user's cache), and are
    timed for the fewest rounds: the tests check what is built, cached and printed, not how
    steady the numbers are (bench/latency_model.py does)."""
    import os

    folder = tmp_path_factory.mktemp("latency-cache")
    saved = {key: os.environ.get(key) for key in ("BNAS_LATENCY_CACHE", "BNAS_LATENCY_SECONDS")}
    os.environ["BNAS_LATENCY_CACHE"] = str(folder)
    os.environ["BNAS_LATENCY_SECONDS"] = "0"
    yield folder
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
