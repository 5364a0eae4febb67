"""The addition task: seeded prompt sets, the reversed-digit format, and exact-match scoring."""

from types import SimpleNamespace

import pytest

from scaling.config import TaskConfig
from scaling.tasks import make_task, task_names
from scaling.tasks.addition import Addition, make_example


def _task(seed: int = 0, **fields) -> Addition:
    config = TaskConfig(name="addition", **{"digits": 2, "train_size": 300, "val_size": 50, **fields})
    return make_task(config, seed)


def test_same_seed_same_sets_and_other_seed_differs():
    a, b, c = _task(seed=3), _task(seed=3), _task(seed=4)
    assert a.train_examples() == b.train_examples() and a.val_examples() == b.val_examples()
    assert a.train_examples() != c.train_examples()


def test_sizes_and_train_val_disjoint():
    task = _task()
    train, val = task.train_examples(), task.val_examples()
    assert (len(train), len(val)) == (300, 50)
    assert len({e.prompt for e in train + val}) == 350
    assert not {e.prompt for e in train} & {e.prompt for e in val}


def test_format_is_reversed_and_zero_padded():
    example = make_example(47, 85, digits=2)  # 47 + 85 = 132
    assert example.prompt == "74+58="
    assert example.answer == "231" and example.demonstration == "231"


def test_every_prompt_matches_its_answer():
    for example in _task().train_examples()[:100]:
        a, b = example.prompt[:-1].split("+")
        assert int(example.answer[::-1]) == int(a[::-1]) + int(b[::-1])


def test_score_right_and_wrong():
    task, example = _task(), make_example(47, 85, digits=2)
    assert task.score(example, "231") == 1.0
    assert task.score(example, " 231 ") == 1.0  # surrounding space is not an error
    for wrong in ["132", "23", "2310", "", "231+0", "__import__('os')"]:
        assert task.score(example, wrong) == 0.0


def test_too_many_prompts_for_the_space():
    with pytest.raises(ValueError, match="1-digit addition has 100"):
        _task(digits=1, train_size=90, val_size=20)


def test_unknown_task_name_is_a_clear_error():
    assert {"addition", "countdown", "dataset"} <= set(task_names())
    with pytest.raises(ValueError, match=r"task.name: unknown task 'sorting' \(known: addition, addition_think, countdown, dataset"):
        make_task(SimpleNamespace(name="sorting"), seed=0)


def test_extract_answer_is_the_digits_the_score_compares():
    task = Addition(digits=2, train_size=10, val_size=2, seed=0)
    example = make_example(12, 34, 2)
    assert task.extract_answer(" " + example.answer + " ") == example.answer == "640"
    assert task.extract_answer("64a") is None and task.extract_answer("") is None and task.extract_answer("６") is None
    for completion in ("640", "641", "x"):  # equal extracted answers <=> equal scores against the reference
        assert (task.extract_answer(completion) == example.answer) == (task.score(example, completion) == 1.0)
