"""The README's examples are code: its YAML must validate and its model snippet must run."""

from pathlib import Path

import pytest

from bnas import Architecture
from bnas.space import parse_space

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def blocks(language: str) -> list[str]:
    return [part.split("```")[0] for part in README.split(f"```{language}\n")[1:]]


@pytest.mark.parametrize("text", [b for b in blocks("yaml") if "search:" in b])
def test_search_space_examples_validate(text):
    assert parse_space(text, source="README").size() > 1


@pytest.mark.parametrize("text", [b for b in blocks("yaml") if "search:" not in b])
def test_architecture_examples_validate(text):
    assert Architecture.from_yaml(text, source="README").num_dynamic_sites() > 0


def test_model_snippet_runs():
    snippet = next(b for b in blocks("python") if "build_model(arch)" in b)
    namespace: dict = {}
    exec(compile(snippet, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert tuple(namespace["logits"].shape) == (4, 10)
