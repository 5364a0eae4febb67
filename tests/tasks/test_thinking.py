"""addition_think: the scratchpad of per-column sums, the marker, answer extraction and scoring."""

from types import SimpleNamespace

from scaling.tasks import make_task
from scaling.tasks.thinking import scratchpad


def _task():
    return make_task(SimpleNamespace(name="addition_think", digits=3, train_size=50, val_size=10), seed=0)


def test_scratchpad_writes_each_column_sum_with_its_carry():
    assert scratchpad("321+654=") == "09,07,05"      # 123 + 456
    assert scratchpad("999+100=") == "10,10,10"      # 999 + 1 = 1000: every column carries


def test_demonstrations_think_then_answer_and_score_one():
    task = _task()
    for ex in task.val_examples() + task.train_examples()[:20]:
        think, answer = ex.demonstration.split("|A:")
        assert think == scratchpad(ex.prompt) and answer == ex.answer
        assert task.score(ex, ex.demonstration) == 1.0 and task.extract_answer(ex.demonstration) == ex.answer


def test_extraction_needs_the_marker_and_reads_a_forced_answer():
    task = _task()
    ex = task.val_examples()[0]
    assert task.extract_answer(ex.answer) is None and task.score(ex, ex.answer) == 0.0
    assert task.extract_answer("09,0Wait7,05|A:" + ex.answer) == ex.answer
    assert task.extract_answer("09|A:") is None and task.extract_answer("09|A:12x") is None
