"""bnas.reading's limits at their edges, and bnas.writing's promise: whole files or none."""

from __future__ import annotations

import resource
import signal
import time
from pathlib import Path

import pytest

from bnas.errors import BnasError
from bnas.reading import MAX_ALIAS_VALUES, MAX_DEPTH, YamlProblem, load_yaml, read_json
from bnas.writing import check_folder_target, staged_folder, write_text_atomic


def _nested(levels: int) -> str:
    """A flow list nested ``levels`` deep (the scalar inside is one more level)."""
    return "[" * (levels - 1) + "1" + "]" * (levels - 1)


def test_nesting_up_to_the_limit_reads_and_one_more_level_does_not() -> None:
    assert load_yaml(_nested(MAX_DEPTH), "ok.yaml").data is not None
    with pytest.raises(YamlProblem, match=f"deep.yaml:1 not valid YAML: nested deeper than "
                                          f"{MAX_DEPTH} levels"):
        load_yaml(_nested(MAX_DEPTH + 1), "deep.yaml")


def _aliases_adding(values: int) -> str:
    """A list of ``values`` written once, then one alias of it: the alias adds values + 1."""
    items = ", ".join(["0"] * values)
    return f"a: &a [{items}]\nb: *a\n"


def test_aliases_may_add_up_to_the_limit() -> None:
    located = load_yaml(_aliases_adding(MAX_ALIAS_VALUES - 1), "shared.yaml")
    assert located.data["b"] is located.data["a"]  # shared, not copied
    with pytest.raises(YamlProblem, match=f"its aliases expand to {MAX_ALIAS_VALUES + 1:,} "
                                          "more values"):
        load_yaml(_aliases_adding(MAX_ALIAS_VALUES), "bomb.yaml")


def test_a_billion_laughs_is_refused_at_once() -> None:
    levels = ["l0: &l0 [" + ", ".join(["lol"] * 9) + "]"]
    levels += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 12)]
    started = time.perf_counter()
    with pytest.raises(YamlProblem, match="its aliases expand to"):
        load_yaml("\n".join(levels), "laughs.yaml")
    assert time.perf_counter() - started < 1.0  # 9**12 values, never expanded


def test_lines_survive_the_new_checks() -> None:
    located = load_yaml("a:\n  b: [1, 2e-3]\nc: &x {d: 1}\ne: *x\n", "f.yaml")
    assert located.data == {"a": {"b": [1, 0.002]}, "c": {"d": 1}, "e": {"d": 1}}
    assert located.where(("a", "b", 1)) == "f.yaml:2"
    assert located.where(("e",)) == "f.yaml:4"
    assert located.where(("e", "d")) == "f.yaml:3"  # reached through the alias: where written


def test_json_nested_too_deeply_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000)
    with pytest.raises(BnasError, match="deep.json: not valid JSON: nested too deeply"):
        read_json(path, "run record")


def test_a_failed_write_keeps_the_old_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    path.write_text("old\n")
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, limits[1]))
    try:
        with pytest.raises(OSError) as error:
            write_text_atomic(path, "x" * 10_000)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, previous_handler)
    assert error.value.filename == str(path)  # the file a user knows, not the temporary one
    assert path.read_text() == "old\n"
    assert [entry.name for entry in tmp_path.iterdir()] == ["summary.json"]


def test_a_staged_folder_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    final = tmp_path / "made" / "for" / "report"
    with pytest.raises(RuntimeError), staged_folder(final) as stage:
        (stage / "report.md").write_text("half")
        raise RuntimeError("drawing failed")
    assert list(tmp_path.iterdir()) == []  # no stage, no report, no parents made for it

    with staged_folder(final, owned=("old.png",)) as stage:
        (stage / "report.md").write_text("one")
        (stage / "old.png").write_text("figure")
    (final / "notes.txt").write_text("the user's")
    with staged_folder(final, owned=("old.png",)) as stage:
        (stage / "report.md").write_text("two")
    assert sorted(entry.name for entry in final.iterdir()) == ["notes.txt", "report.md"]
    assert (final / "report.md").read_text() == "two"
    assert sorted(entry.name for entry in final.parent.iterdir()) == ["report"]


def test_an_output_folder_that_cannot_be_made_is_refused_before_any_work(
    tmp_path: Path,
) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(BnasError, match="--out .*file: exists and is not a folder"):
        check_folder_target(tmp_path / "file", "--out")
    with pytest.raises(BnasError, match="--out .*file/run: .*file is a file"):
        check_folder_target(tmp_path / "file" / "run", "--out")
    check_folder_target(tmp_path / "new" / "run", "--out")
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["file"]
