"""`dataset`: prompts and math answers from a file or a saved HF dataset (see `files.py` for the formats).

Columns are `task.prompt_field` and `task.answer_field`. Validation comes from `val_path` if given (all
of its rows), else a seeded split of `val_size` rows out of `path`. Training rows whose prompt also
appears in validation are dropped, so the two sets stay disjoint even when a file repeats a prompt.

The reference answer is the answer column's boxed or '####' final answer when it holds a whole solution
(MATH, GSM8K), else the column itself; the demonstration for the warm start is the column as written.
Completions are scored by extracting their final answer (`task.answer_format`, see `answers.py`) and
comparing it with the reference: math-verify's equivalence where installed, else a normalised
exact/numeric/fraction match.
"""

from __future__ import annotations

import random

from scaling.tasks.answers import canonical, equivalent, extract, gold_answer
from scaling.tasks.base import Example, PromptStyle, register_task
from scaling.tasks.files import read_rows


def _examples(rows: list[tuple[str, str]], source: str, ids: list[int], fields: tuple[str, str]) -> list[Example]:
    return [Example(prompt=rows[i][0], answer=gold_answer(rows[i][1]), demonstration=rows[i][1],
                    meta={"source": source, "row": i + 1, "fields": fields}) for i in ids]


class Dataset:
    name = "dataset"
    prompt_style = PromptStyle()  # make_task sets the configured one

    def __init__(self, path: str | None, val_path: str | None, val_size: int, seed: int,
                 prompt_field: str = "prompt", answer_field: str = "answer", answer_format: str = "auto"):
        if not path:
            raise ValueError("task.path: the dataset task needs a .jsonl, .parquet or .csv file or a saved HF dataset")
        self.answer_format = answer_format
        fields = (prompt_field, answer_field)
        rows = read_rows(path, *fields)
        if val_path:
            val_rows = read_rows(val_path, *fields)
            self._val = _examples(val_rows, str(val_path), list(range(len(val_rows))), fields)
            train_ids = list(range(len(rows)))
        else:
            if val_size >= len(rows):
                raise ValueError(f"{path}: val_size={val_size} leaves no training rows out of {len(rows)}")
            order = list(range(len(rows)))
            random.Random(seed).shuffle(order)
            val_ids, train_ids = sorted(order[:val_size]), order[val_size:]
            self._val = _examples(rows, str(path), val_ids, fields)
        held_out = {example.prompt for example in self._val}
        train_ids = sorted(i for i in train_ids if rows[i][0] not in held_out)
        if not train_ids:
            raise ValueError(f"{path}: every training prompt also appears in the validation set")
        self._train = _examples(rows, str(path), train_ids, fields)

    def train_examples(self) -> list[Example]:
        return self._train

    def val_examples(self) -> list[Example]:
        return self._val

    def score(self, example: Example, completion: str) -> float:
        answer = extract(completion, self.answer_format)
        return 1.0 if answer is not None and equivalent(example.answer, answer) else 0.0

    def extract_answer(self, completion: str) -> str | None:
        """The extracted final answer in canonical form (`answers.canonical`: "0.50" -> "1/2", with math-verify
        "1+x" -> "x + 1")."""
        answer = extract(completion, self.answer_format)
        return canonical(answer) if answer is not None else None


@register_task("dataset")
def _build(config, seed: int) -> Dataset:
    return Dataset(config.path, config.val_path, config.val_size, seed, config.prompt_field, config.answer_field,
                   config.answer_format)
