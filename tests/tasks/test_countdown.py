"""The countdown task: seeded distinct problems with demonstrations, and a verifier that never evals."""

import random
from fractions import Fraction

import pytest

from scaling.config import TaskConfig
from scaling.tasks import make_task
from scaling.tasks.countdown import Countdown, check, evaluate, make_example, parse_prompt, random_expression


def _task(seed: int = 0, **fields) -> Countdown:
    config = TaskConfig(name="countdown", **{"numbers": 3, "max_number": 20, "train_size": 400, "val_size": 100, **fields})
    return make_task(config, seed)


EXAMPLE = make_example([3, 5, 2], 16, "(3+5)*2")


def _key(example):
    numbers, target = parse_prompt(example.prompt)
    return tuple(sorted(numbers)), target


def test_prompt_format_is_short():
    assert EXAMPLE.prompt == "3,5,2=16:" and EXAMPLE.answer == "16"
    assert parse_prompt(EXAMPLE.prompt) == ([3, 5, 2], 16)


def test_same_seed_same_sets_and_other_seed_differs():
    a, b, c = _task(seed=1), _task(seed=1), _task(seed=2)
    assert a.train_examples() == b.train_examples() and a.val_examples() == b.val_examples()
    assert a.train_examples() != c.train_examples()


def test_train_val_disjoint_even_up_to_reordering():
    task = _task()
    train, val = task.train_examples(), task.val_examples()
    assert (len(train), len(val)) == (400, 100)
    train_keys, val_keys = {_key(e) for e in train}, {_key(e) for e in val}
    assert len(train_keys) == 400 and len(val_keys) == 100
    assert not train_keys & val_keys


@pytest.mark.parametrize("numbers,max_number", [(2, 30), (3, 20), (4, 10), (6, 50)])
def test_every_demonstration_solves_its_problem(numbers, max_number):
    task = _task(numbers=numbers, max_number=max_number, train_size=150, val_size=20)
    for example in task.train_examples() + task.val_examples():
        given, target = parse_prompt(example.prompt)
        assert len(given) == numbers and all(1 <= n <= max_number for n in given)
        assert target > 0 and target not in given  # copying a number must not solve it
        assert task.score(example, example.demonstration) == 1.0
        assert sorted(evaluate(example.demonstration)[1]) == sorted(given)  # demonstrations use all numbers


def test_generated_intermediates_stay_positive_integers():
    # Every parenthesised or partial expression the generator builds evaluates to a positive integer.
    rng = random.Random(0)
    for _ in range(300):
        numbers = [rng.randint(1, 12) for _ in range(4)]
        text, value = random_expression(numbers, rng)
        assert evaluate(text)[0] == Fraction(value) and value > 0


@pytest.mark.parametrize("completion", [
    "(3+5)*2", "2*(5+3)", " (3 + 5) * 2 ", "((3+5))*2", "(5+3)*2", "2*(3+5)",
])
def test_correct_completions_score_one(completion):
    assert _task().score(EXAMPLE, completion) == 1.0


def test_exact_rational_arithmetic():
    # 16 = 8/3*6 is exact over the rationals; integer division would give 12.
    assert check([8, 3, 6], 16, "8/3*6") == 1.0
    assert check([7, 2, 4], 14, "7/2*4") == 1.0
    assert check([7, 2, 4], 12, "7/2*4") == 0.0


def test_subset_of_numbers_is_allowed():
    assert check([3, 5, 2], 8, "3+5") == 1.0


@pytest.mark.parametrize("completion", [
    "3+5*2",          # wrong value (13)
    "(3+5)*2*1",      # 1 is not given
    "(3+5)*2=16",     # only the expression is asked for
    "8*2",            # 8 is not given
    "(3+3+2)*2",      # 3 used twice, 2 used twice
    "3*2+5*2",        # right value, but 2 used twice
    "16",             # the target itself is not a given number
    "",
    "   ",
    "(3+5",
    "3+5)*2",
    "(3+5)*2)",
    "3++5",
    "-3+19",          # no unary minus
    "(3+5)**2",
    "3/0+16",
    "(5-5)/(3-3)",
    "16.0",
    "0x10",
    "(3+5)\u00d72",   # unicode multiplication sign
    "\u0663+5",       # Arabic-Indic digit three
    "__import__('os')",
    "__import__('os').system('echo pwned')",
    "exec('x=1')",
    "[3,5,2]",
    "lambda: 16",
    "(" * 150 + "16" + ")" * 150,
    "1" * 300,
])
def test_wrong_or_malformed_completions_score_zero_without_raising(completion):
    assert _task().score(EXAMPLE, completion) == 0.0


def test_number_reuse_is_detected():
    assert check([3, 5, 2], 10, "5*2") == 1.0
    assert check([3, 5, 2], 10, "5+5") == 0.0        # 5 given once
    assert check([5, 5, 2], 10, "5+5") == 1.0        # 5 given twice
    assert check([5, 5, 2], 15, "5+5+5") == 0.0      # ...but not three times


def test_evaluate_reports_literals_and_rejects_junk():
    assert evaluate("(3+5)*2") == (Fraction(16), [3, 5, 2])
    for junk in ["__import__('os')", "3 5", "()", "2^3"]:
        with pytest.raises(ValueError):
            evaluate(junk)


def test_too_small_problem_space_is_a_clear_error():
    with pytest.raises(ValueError, match="could not draw 2000 distinct countdown problems"):
        _task(numbers=2, max_number=5, train_size=1900, val_size=100)


def test_malformed_prompt_is_rejected():
    with pytest.raises(ValueError, match="not a countdown prompt"):
        parse_prompt("3+5=")


def test_extract_answer_is_the_exact_value():
    task = Countdown(numbers=3, max_number=20, train_size=5, val_size=1, seed=0)
    assert task.extract_answer("(3+5)*2") == task.extract_answer("2*(5+3) ") == "16"  # one vote per value
    assert task.extract_answer("8/3*6") == "16" and task.extract_answer("8/3") == "8/3"
    assert task.extract_answer("3+") is None and task.extract_answer("") is None
    assert task.extract_answer("1/0") is None and task.extract_answer("9" * 300) is None
