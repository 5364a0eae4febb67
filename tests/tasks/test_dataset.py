"""The dataset task: JSONL/Parquet reading, errors naming file and line, splits, and answer matching."""

import json
import re

import pandas as pd
import pytest

from scaling.config import TaskConfig
from scaling.tasks import dataset, make_task
from scaling.tasks.base import Example
from scaling.tasks.dataset import Dataset, fallback_equal, normalize, read_rows

ROWS = [{"prompt": f"What is {i}+{i}?", "answer": str(2 * i)} for i in range(40)]


def _jsonl(path, rows, extra_lines=()):
    lines = [json.dumps(r) for r in rows] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _parquet(path, rows):
    pd.DataFrame(rows).to_parquet(path)
    return path


def _task(path, seed=0, val_path=None, val_size=10) -> Dataset:
    config = TaskConfig(name="dataset", path=str(path), val_path=val_path and str(val_path), val_size=val_size)
    return make_task(config, seed)


# ---------------------------------------------------------------- reading and splitting


def test_jsonl_and_parquet_give_the_same_task(tmp_path):
    a = _task(_jsonl(tmp_path / "d.jsonl", ROWS), seed=5)
    b = _task(_parquet(tmp_path / "d.parquet", ROWS), seed=5)
    assert [(e.prompt, e.answer) for e in a.train_examples()] == [(e.prompt, e.answer) for e in b.train_examples()]
    assert [(e.prompt, e.answer) for e in a.val_examples()] == [(e.prompt, e.answer) for e in b.val_examples()]
    assert all(e.demonstration == e.answer for e in a.train_examples())


def test_split_is_seeded_sized_and_disjoint(tmp_path):
    path = _jsonl(tmp_path / "d.jsonl", ROWS)
    a, b, c = _task(path, seed=1), _task(path, seed=1), _task(path, seed=2)
    assert a.val_examples() == b.val_examples() and a.train_examples() == b.train_examples()
    assert a.val_examples() != c.val_examples()
    train, val = {e.prompt for e in a.train_examples()}, {e.prompt for e in a.val_examples()}
    assert (len(train), len(val)) == (30, 10) and not train & val


def test_repeated_prompt_never_lands_in_both_sets(tmp_path):
    rows = [{"prompt": "same?", "answer": "1"}] * 20 + ROWS[:5]
    for seed in range(5):
        task = _task(_jsonl(tmp_path / "d.jsonl", rows), seed=seed, val_size=3)
        assert not {e.prompt for e in task.train_examples()} & {e.prompt for e in task.val_examples()}


def test_val_path_is_used_whole_and_overlap_leaves_training(tmp_path):
    val_rows = ROWS[:3] + [{"prompt": "held out?", "answer": "7"}]
    task = _task(_jsonl(tmp_path / "train.jsonl", ROWS), val_path=_parquet(tmp_path / "val.parquet", val_rows))
    assert [e.prompt for e in task.val_examples()] == [r["prompt"] for r in val_rows]
    assert [e.prompt for e in task.train_examples()] == [r["prompt"] for r in ROWS[3:]]


def test_numeric_answers_and_blank_lines_are_accepted(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"prompt": "1+1=", "answer": 2}\n\n{"prompt": "half=", "answer": 0.5, "id": 9}\n')
    assert read_rows(path) == [("1+1=", "2"), ("half=", "0.5")]


def _error(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError) as err:
        _task(path, val_size=1)
    return str(err.value)


@pytest.mark.parametrize("text,message", [
    ('{"prompt": "a", "answer": "1"}\n{"prompt": "b", "answer": "2"\n', r"d\.jsonl:2: invalid JSON"),
    ('{"prompt": "a", "answer": "1"}\n\n["b", "2"]\n', r"d\.jsonl:3: expected a JSON object, got list"),
    ('{"prompt": "a", "answer": "1"}\n{"prompt": "b"}\n', r"d\.jsonl:2: missing column 'answer'"),
    ('{"prompt": "a", "answer": null}\n', r"d\.jsonl:1: missing column 'answer'"),
    ('{"prompt": "a", "answer": "1"}\n{"prompt": "\u03c0 r^2", "answer": "2"}\n',
     r"d\.jsonl:2: column 'prompt' has non-printable-ASCII character .* \(U\+03C0\)"),
    ('{"prompt": "a\\nb", "answer": "1"}\n', r"d\.jsonl:1: column 'prompt' has non-printable-ASCII character '\\n' \(U\+000A\)"),
    ('{"prompt": "a", "answer": ["1"]}\n', r"d\.jsonl:1: column 'answer' must be a string or number, got list"),
    ('{"prompt": "  ", "answer": "1"}\n', r"d\.jsonl:1: column 'prompt' is empty"),
    ("", r"d\.jsonl: no rows"),
    ("\n\n", r"d\.jsonl: no rows"),
])
def test_malformed_jsonl_names_file_and_line(tmp_path, text, message):
    assert re.search(message, _error(tmp_path, "d.jsonl", text))


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"prompt": "a", "answer": "1"}\n{"prompt": "\xff", "answer": "1"}\n')
    with pytest.raises(ValueError, match=r"d\.jsonl:2: not UTF-8"):
        read_rows(path)


def test_parquet_errors_name_file_and_row(tmp_path):
    missing = _parquet(tmp_path / "m.parquet", [{"prompt": "a", "question": "1"}])
    with pytest.raises(ValueError, match=r"m\.parquet: missing column 'answer'"):
        read_rows(missing)
    nulls = _parquet(tmp_path / "n.parquet", [{"prompt": "a", "answer": "1"}, {"prompt": None, "answer": "2"}])
    with pytest.raises(ValueError, match=r"n\.parquet: row 2: missing column 'prompt'"):
        read_rows(nulls)
    empty = _parquet(tmp_path / "e.parquet", pd.DataFrame({"prompt": pd.Series([], dtype=str), "answer": pd.Series([], dtype=str)}))
    with pytest.raises(ValueError, match=r"e\.parquet: no rows"):
        read_rows(empty)
    corrupt = tmp_path / "c.parquet"
    corrupt.write_text("not parquet")
    with pytest.raises(ValueError, match=r"c\.parquet: unreadable Parquet"):
        read_rows(corrupt)


def test_file_level_errors(tmp_path):
    with pytest.raises(ValueError, match=r"d\.csv: unknown file type '\.csv'"):
        read_rows(tmp_path / "d.csv")
    with pytest.raises(ValueError, match=r"nope\.jsonl: no such file"):
        read_rows(tmp_path / "nope.jsonl")
    with pytest.raises(ValueError, match="task.path"):
        make_task(TaskConfig(name="dataset"), seed=0)
    path = _jsonl(tmp_path / "d.jsonl", ROWS[:5])
    with pytest.raises(ValueError, match=r"d\.jsonl: val_size=5 leaves no training rows out of 5"):
        _task(path, val_size=5)
    with pytest.raises(ValueError, match="every training prompt also appears"):
        _task(path, val_path=path)


# ---------------------------------------------------------------- answer matching (fallback path)


@pytest.fixture
def no_math_verify(monkeypatch):
    monkeypatch.setattr(dataset, "_mv_parse", None)
    monkeypatch.setattr(dataset, "_mv_verify", None)


@pytest.fixture
def task(tmp_path):
    return _task(_jsonl(tmp_path / "d.jsonl", ROWS))


@pytest.mark.parametrize("answer,completion", [
    ("42", "42"), ("42", " 42 "), ("42", "42."), ("42", "$42$"), ("42", "\\boxed{42}"),
    ("42", "The answer is $\\boxed{42}$."), ("0.5", "1/2"), ("1/2", "0.50"), ("1/2", "\\frac{1}{2}"),
    ("\\dfrac{3}{4}", "0.75"), ("-3", "-3.0"), ("1,000", "1000"), ("1000", "1,000"),
    ("x+1", "x + 1"), ("\\sqrt{2}", "$\\sqrt{2}$"), ("(1,2)", "\\left(1, 2\\right)"),
    ("\\boxed{\\frac{a}{b}}", "\\frac{a}{b}"), ("7", "\\(7\\)"), ("10", "\\boxed{10}"),
])
def test_equivalent_answers_match(no_math_verify, task, answer, completion):
    assert task.score(Example(prompt="q", answer=answer, demonstration=answer), completion) == 1.0


@pytest.mark.parametrize("answer,completion", [
    ("42", "43"), ("42", ""), ("42", "   "), ("42", "4 2 0"), ("42", "\\boxed{41} 42"), ("0.5", "0.51"),
    ("1/2", "2/1"), ("1,2", "12"), ("x+1", "x-1"), ("42", "1e99999999"), ("1/0", "1/0.0"), ("3", "\\boxed{3"),
    ("42", "__import__('os')"),
])
def test_different_answers_do_not_match(no_math_verify, task, answer, completion):
    assert not fallback_equal(answer, completion)
    assert task.score(Example(prompt="q", answer=answer), completion) == 0.0


def test_normalize_details():
    assert normalize("The answer is \\boxed{\\frac{1}{2}}.") == "1/2"
    assert normalize("\\boxed{\\{1, 2\\}}") == "\\{1,2\\}"  # nested braces survive box extraction
    assert normalize("$$3$$") == "3"


def test_math_verify_is_consulted_only_after_the_fallback_fails(monkeypatch):
    calls = []

    def fake_parse(text):
        calls.append(text)
        if text == "boom":
            raise TimeoutError("math-verify timed out")
        return [text.strip("$")]

    monkeypatch.setattr(dataset, "_mv_parse", fake_parse)
    monkeypatch.setattr(dataset, "_mv_verify", lambda gold, pred: {gold[0], pred[0]} == {"\\pi", "pi"})
    assert dataset.answers_match("42", "42") and calls == []         # fallback decides, no parse
    assert dataset.answers_match("\\pi", "pi") and calls == ["$\\pi$", "$pi$"]  # bare text wrapped
    assert not dataset.answers_match("\\pi", "3")
    assert not dataset.answers_match("\\pi", "boom")                 # its errors score 0, never raise


def test_bare_answers_are_read_as_whole_expressions():
    # Bare, math-verify would extract only the number from "1+x" and match the answer "1".
    assert dataset._as_math(" 1+x ") == "$1+x$"
    assert dataset._as_math("so \\boxed{2}") == "so \\boxed{2}"
    assert dataset._as_math("$y$") == "$y$"


@pytest.mark.parametrize("answer,completion,expected", [
    ("\\sqrt{2}", "2^{1/2}", True), ("x+1", "1+x", True), ("1/2", "\\boxed{\\frac{2}{4}}", True),
    ("1", "1+x", False), ("2", "2^{1/2}", False), ("42", "i think 42", False), ("42", "__import__('os')", False),
])
def test_real_math_verify_when_installed(answer, completion, expected):
    pytest.importorskip("math_verify")
    assert dataset.answers_match(answer, completion) is expected
