"""The dataset task: JSONL/Parquet/CSV/saved-HF reading, errors naming file, row and column, splits, scoring."""

import json
import re

import pandas as pd
import pytest

from scaling.config import TaskConfig
from scaling.tasks import make_task
from scaling.tasks.base import Example
from scaling.tasks import answers
from scaling.tasks.dataset import Dataset
from scaling.tasks.files import read_rows

ROWS = [{"prompt": f"What is {i}+{i}?", "answer": str(2 * i)} for i in range(40)]


def _jsonl(path, rows, extra_lines=()):
    lines = [json.dumps(r) for r in rows] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _parquet(path, rows):
    pd.DataFrame(rows).to_parquet(path)
    return path


def _task(path, seed=0, val_path=None, val_size=10, **fields) -> Dataset:
    config = TaskConfig(name="dataset", path=str(path), val_path=val_path and str(val_path), val_size=val_size, **fields)
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
    with pytest.raises(ValueError, match=r"m\.parquet: missing column 'answer' \(columns: prompt, question; set task"):
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
    with pytest.raises(ValueError, match=r"d\.tsv: unknown file type '\.tsv'"):
        read_rows(tmp_path / "d.tsv")
    with pytest.raises(ValueError, match=r"nope\.jsonl: no such file"):
        read_rows(tmp_path / "nope.jsonl")
    with pytest.raises(ValueError, match="task.path"):
        make_task(TaskConfig(name="dataset"), seed=0)
    path = _jsonl(tmp_path / "d.jsonl", ROWS[:5])
    with pytest.raises(ValueError, match=r"d\.jsonl: val_size=5 leaves no training rows out of 5"):
        _task(path, val_size=5)
    with pytest.raises(ValueError, match="every training prompt also appears"):
        _task(path, val_path=path)


# ---------------------------------------------------------------- datasets as they are

LATEX = [{"problem": f"Let $x = {i}$.\nCompute $\\frac{{x}}{{2}}$ — ünïcode π.", "solution": f"So \\boxed{{\\frac{{{i}}}{{2}}}}"}
         for i in range(1, 13)]


def test_unicode_newlines_and_configured_columns_are_kept(tmp_path):
    task = _task(_jsonl(tmp_path / "d.jsonl", LATEX), val_size=2, prompt_field="problem", answer_field="solution")
    example = task.train_examples()[0]
    assert "\n" in example.prompt and "π" in example.prompt and "—" in example.prompt
    assert example.answer.startswith("\\frac{") and example.demonstration.startswith("So \\boxed")
    assert example.meta["fields"] == ("problem", "solution")


def test_csv_rows_and_errors(tmp_path):
    pd.DataFrame(LATEX).to_csv(tmp_path / "d.csv", index=False)
    rows = read_rows(tmp_path / "d.csv", "problem", "solution")
    assert rows == [(r["problem"], r["solution"]) for r in LATEX]
    (tmp_path / "bad.csv").write_text('problem,solution\n"a",1\n"b",\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.csv: row 2: missing column 'solution'"):
        read_rows(tmp_path / "bad.csv", "problem", "solution")
    with pytest.raises(ValueError, match=r"bad\.csv: missing column 'prompt' \(columns: problem, solution"):
        read_rows(tmp_path / "bad.csv")
    (tmp_path / "latin.csv").write_bytes(b"prompt,answer\n\xe9,1\n")
    with pytest.raises(ValueError, match=r"latin\.csv: not UTF-8"):
        read_rows(tmp_path / "latin.csv")


def test_gsm8k_style_solutions_score_on_their_final_answer(tmp_path):
    rows = [{"question": f"Q{i}: how many?", "answer": f"{i}+{i}={2 * i}\n#### {2 * i}"} for i in range(10)]
    task = _task(_jsonl(tmp_path / "g.jsonl", rows), val_size=2, prompt_field="question")
    example = next(e for e in task.train_examples() if e.answer != "0")
    assert example.answer == str(2 * int(example.prompt[1]))
    assert task.score(example, example.demonstration) == 1.0  # the warm start's target scores
    assert task.score(example, f"I think it is {example.answer}") == 1.0  # auto: the last number
    whole = _task(_jsonl(tmp_path / "g.jsonl", rows), val_size=2, prompt_field="question", answer_format="whole")
    assert whole.score(example, f"I think it is {example.answer}") == 0.0


def test_saved_hf_dataset_folders(tmp_path):
    datasets = pytest.importorskip("datasets")
    splits = datasets.DatasetDict({"train": datasets.Dataset.from_list(LATEX[:10]),
                                   "test": datasets.Dataset.from_list(LATEX[10:])})
    splits.save_to_disk(str(tmp_path / "math"))
    task = _task(tmp_path / "math" / "train", val_path=tmp_path / "math" / "test", prompt_field="problem",
                 answer_field="solution")
    assert [e.prompt for e in task.val_examples()] == [r["problem"] for r in LATEX[10:]]
    assert len(task.train_examples()) == 10
    with pytest.raises(ValueError, match=r"math: a DatasetDict with splits test, train; point task.path"):
        read_rows(tmp_path / "math")
    with pytest.raises(ValueError, match=r"math/train: missing column 'prompt' \(columns: problem, solution"):
        read_rows(tmp_path / "math" / "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty: not a folder saved by HF datasets"):
        read_rows(tmp_path / "empty")


def test_saved_folder_without_datasets_installed_says_what_to_install(tmp_path, monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_datasets(name, *args, **kwargs):
        if name == "datasets":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_datasets)
    (tmp_path / "folder").mkdir()
    with pytest.raises(ValueError, match=r"folder: a folder saved by HF datasets needs the `datasets` package"):
        read_rows(tmp_path / "folder")


@pytest.fixture
def task(tmp_path):
    return _task(_jsonl(tmp_path / "d.jsonl", ROWS))


@pytest.mark.parametrize("completion,expected", [
    ("42", 1.0), (" 42. ", 1.0), ("\\boxed{42}", 1.0), ("The answer is $\\boxed{42}$.", 1.0), ("#### 42", 1.0),
    ("so the answer is 42.", 1.0), ("I got 41 then 42", 1.0), ("\\boxed{41} 42", 0.0), ("4 2 0", 0.0),
    ("", 0.0), ("no idea", 0.0), ("42 then 43", 0.0),
])
def test_score_extracts_the_final_answer(task, completion, expected):
    assert task.score(Example(prompt="q", answer="42"), completion) == expected


def test_extract_answer_is_canonical_and_agrees_with_score(task, monkeypatch):
    monkeypatch.setattr(answers, "_mv_parse", None)
    monkeypatch.setattr(answers, "_mv_verify", None)
    example = Example(prompt="q", answer="1/2")
    votes = ["\\boxed{\\frac{1}{2}}", "the answer is 0.5", "1/2", "#### 0.50", "2/3", "nothing"]
    assert [task.extract_answer(c) for c in votes] == ["1/2", "1/2", "1/2", "1/2", "2/3", None]
    for completion in votes:
        assert (task.extract_answer(completion) == "1/2") == (task.score(example, completion) == 1.0)
