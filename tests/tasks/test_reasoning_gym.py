"""reasoning-gym generators as tasks: deterministic prompt sets, its verifier, answer extraction, clear errors."""

from __future__ import annotations

import pytest

from scaling.config import TaskConfig
from scaling.tasks import make_task
from scaling.tasks import reasoning_gym as rg_task

pytest.importorskip("reasoning_gym")

SMALL = {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 2, "operators": ["+", "-"],
         "allow_parentheses": False, "allow_negation": False}


def _task(dataset="basic_arithmetic", options=SMALL, seed=0, train_size=60, val_size=10, **fields):
    config = TaskConfig(name="reasoning_gym", dataset=dataset, options=options, train_size=train_size,
                        val_size=val_size, **fields)
    return make_task(config, seed)


def test_prompt_sets_are_deterministic_from_the_seed_and_disjoint():
    a, b, c = _task(seed=3), _task(seed=3), _task(seed=4)
    assert [e.prompt for e in a.train_examples()] == [e.prompt for e in b.train_examples()]
    assert [e.prompt for e in a.val_examples()] == [e.prompt for e in b.val_examples()]
    assert [e.prompt for e in a.val_examples()] != [e.prompt for e in c.val_examples()]
    assert len(a.val_examples()) == 10 and not {e.prompt for e in a.train_examples()} & {e.prompt for e in a.val_examples()}
    example = a.train_examples()[0]
    assert example.prompt.startswith("Calculate ") and example.demonstration == example.answer


def test_options_reach_the_generator():
    ones = _task(options={**SMALL, "max_digits": 1})
    assert all(len(e.answer.lstrip("-")) <= 2 for e in ones.train_examples())
    three = _task(options={**SMALL, "min_terms": 3, "max_terms": 3})
    assert all(e.prompt.count("+") + e.prompt.count(" - ") == 2 for e in three.train_examples())


def test_basic_arithmetic_scored_by_its_verifier():
    task = _task()
    example = task.train_examples()[0]
    wrong = str(int(example.answer) + 1)
    assert task.score(example, example.answer) == 1.0 and task.score(example, f" {example.answer}\n") == 1.0
    assert task.score(example, f"<think>hmm</think><answer>{example.answer}</answer>") == 1.0
    assert task.score(example, wrong) == 0.0 and task.score(example, "") == 0.0
    assert task.extract_answer(f"<answer> {example.answer}.0 </answer>") == example.answer
    assert task.extract_answer("  ") is None


def test_countdown_scored_by_its_verifier_without_partial_credit():
    task = _task("countdown", options={}, train_size=4, val_size=2)
    example = task.train_examples()[0]
    entry = example.meta["entry"]
    assert task.score(example, example.answer) == 1.0
    assert task.data.score_answer("1+1", entry=entry) == pytest.approx(0.05)  # its partial credit ...
    assert task.score(example, "1+1") == 0.0                                   # ... is not a pass
    assert "\n" in example.prompt  # its prompts carry format instructions over several lines


def test_answer_format_applies():
    task = _task(answer_format="boxed")
    example = task.train_examples()[0]
    assert task.score(example, example.answer) == 0.0
    assert task.score(example, f"so \\boxed{{{example.answer}}}") == 1.0


@pytest.mark.parametrize("fields,message", [
    ({"dataset": None}, r"task.dataset: name a reasoning-gym generator"),
    ({"dataset": "no_such_generator"}, r"task.dataset: unknown reasoning-gym generator 'no_such_generator'"),
    ({"options": {"bogus": 1}}, r"task.options: basic_arithmetic: .*unexpected keyword argument 'bogus'"),
    ({"options": {"min_terms": 5, "max_terms": 2}}, r"task.options: basic_arithmetic: max_terms must be >= min_terms"),
])
def test_bad_generator_or_options_are_one_line_errors(fields, message):
    with pytest.raises(ValueError, match=message):
        _task(**fields)


def test_missing_package_says_what_to_install(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_gym(name, *args, **kwargs):
        if name == "reasoning_gym":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_gym)
    rg_task._cached.cache_clear()
    with pytest.raises(ValueError, match=r"reasoning-gym package \(pip install 'scaling\[reasoning-gym\]'\)"):
        _task()


def test_entries_are_generated_once_per_process(monkeypatch):
    import reasoning_gym

    rg_task._cached.cache_clear()
    calls = []
    real = reasoning_gym.create_dataset
    monkeypatch.setattr(reasoning_gym, "create_dataset", lambda *a, **k: calls.append(a) or real(*a, **k))
    options = {**SMALL, "max_digits": 1}
    first = _task(options=options, seed=11)
    made = len(calls)  # the generator under seed 11, and under further seeds for slots repeating held-out questions
    again = _task(options=dict(reversed(list(options.items()))), seed=11)
    assert len(calls) == made and [e.prompt for e in first.val_examples()] == [e.prompt for e in again.val_examples()]
    assert again.train_examples() is first.train_examples()  # training examples made once, shared
    _task(options=options, seed=12)
    assert len(calls) > made


def _count_entries(monkeypatch, generator: str) -> list[int]:
    """Indices of the generator's entries as they are made (reasoning-gym makes an entry on each indexing)."""
    import reasoning_gym

    cls = type(reasoning_gym.create_dataset(generator, seed=0, size=1))
    made, real = [], cls.__getitem__
    monkeypatch.setattr(cls, "__getitem__", lambda self, i: made.append(i) or real(self, i))
    rg_task._cached.cache_clear()
    return made


def test_training_prompts_are_made_on_first_use_and_depend_only_on_their_index(monkeypatch):
    """20,000 countdown prompts (~7 ms each) were all made before the first step; now the held-out set and the
    prompts checked up front are, and any other one when first read, identical in any order of reading."""
    made = _count_entries(monkeypatch, "countdown")
    task = _task("countdown", options={}, train_size=20_000, val_size=8)
    train = task.train_examples()
    assert len(train) == 20_000 and len(made) == 8 + rg_task.UPFRONT
    far = train[15_000]
    assert len(made) == 8 + rg_task.UPFRONT + 1 and far.prompt == task.data[8 + 15_000]["question"]
    rg_task._cached.cache_clear()
    fresh = _task("countdown", options={}, train_size=20_000, val_size=8).train_examples()
    assert fresh is not train and [fresh[i].prompt for i in (15_000, 3, 70)] == [far.prompt, train[3].prompt,
                                                                                 train[70].prompt]
    assert [e.prompt for e in fresh[10:13]] == [train[i].prompt for i in (10, 11, 12)]  # slices stay lazy views


def test_slots_repeating_held_out_questions_are_replaced_the_same_way_every_time():
    """One-digit a+b has 100 questions: many training entries repeat a held-out one. Such a slot takes the same slot
    under the next seed, so the pool keeps train_size prompts, none held out, the same in every build."""
    options = {**SMALL, "max_digits": 1, "operators": ["+"]}
    rg_task._cached.cache_clear()
    task = _task(options=options, train_size=300, val_size=40)
    held_out = {e.prompt for e in task.val_examples()}
    prompts = [e.prompt for e in task.train_examples()]
    assert len(prompts) == 300 and not set(prompts) & held_out
    raw = [task.data[40 + i]["question"] for i in range(300)]
    replaced = [i for i, q in enumerate(raw) if q in held_out]
    assert len(replaced) > 30 and all(prompts[i] == raw[i] for i in range(300) if i not in replaced)
    rg_task._cached.cache_clear()
    assert [e.prompt for e in _task(options=options, train_size=300, val_size=40).train_examples()] == prompts


def test_a_space_the_held_out_set_covers_fails_when_the_task_is_built():
    options = {**SMALL, "max_digits": 1, "operators": ["+"]}
    rg_task._cached.cache_clear()
    with pytest.raises(ValueError, match=r"task.dataset: basic_arithmetic: training prompt 0 repeats a held-out"):
        _task(options=options, train_size=10, val_size=3000)
