"""Final-answer extraction, canonical forms and equivalence, with and without math-verify."""

import pytest

from scaling.tasks import answers
from scaling.tasks.answers import canonical, equivalent, extract, fallback_equal, gold_answer, normalize


@pytest.fixture
def no_math_verify(monkeypatch):
    monkeypatch.setattr(answers, "_mv_parse", None)
    monkeypatch.setattr(answers, "_mv_verify", None)


@pytest.mark.parametrize("text,fmt,expected", [
    ("so \\boxed{\\frac{1}{2}} and \\boxed{3}", "boxed", "3"),
    ("Natalia sold 48/2 = 24 clips.\n#### 72\n", "gsm8k", "72"),
    ("I think the answer is 12.", "answer_is", "12"),
    ("Reasoning...\nThe final answer is $x^2$. Done", "answer_is", "$x^2$"),
    ("Answer: -3", "answer_is", "-3"),
    ("3 apples plus 4 pears is 7 fruits", "last_number", "7"),
    ("it costs 1,250.50 dollars", "last_number", "1,250.50"),
    (" 1+x \n", "whole", "1+x"),
    ("no answer here", "boxed", None), ("no hashes", "gsm8k", None), ("nothing", "last_number", None),
    ("", "whole", None), ("  ", "auto", None),
])
def test_each_format_finds_its_answer(text, fmt, expected):
    assert extract(text, fmt) == expected


@pytest.mark.parametrize("text,expected", [
    ("The answer is \\boxed{5}. Also #### 6", "5"),               # a box wins
    ("#### 6\nthe answer is 7", "6"),                               # then GSM8K's marker
    ("so the answer is 7", "7"),                                    # then 'the answer is'
    ("\\frac{1}{2}", "\\frac{1}{2}"), ("x + 1", "x + 1"), ("42", "42"),  # a bare answer is taken whole
    ("We add them: 3 and 4 make 7 apples", "7"),                    # else the last number (or math-verify's)
    ("line one 3\nline 4", "4"),
])
def test_auto_tries_the_formats_in_order(text, expected):
    assert extract(text, "auto") == expected


def test_auto_without_math_verify_falls_back_to_the_last_number(no_math_verify):
    assert extract("so we get 1/2 of 10 apples", "auto") == "10"
    assert extract("I do not know", "auto") is None


def test_unknown_format_is_an_error():
    with pytest.raises(ValueError, match="task.answer_format: unknown format 'latex'"):
        extract("1", "latex")


def test_gold_answer_reads_whole_solutions():
    assert gold_answer("She has 3+4=7 apples.\n#### 7") == "7"
    assert gold_answer("Thus $x=\\boxed{\\frac{1}{2}}$.") == "\\frac{1}{2}"
    assert gold_answer(" 42 ") == "42"


@pytest.mark.parametrize("gold,answer", [
    ("42", "42"), ("42", " 42 "), ("42", "42."), ("42", "$42$"), ("42", "\\boxed{42}"),
    ("0.5", "1/2"), ("1/2", "0.50"), ("1/2", "\\frac{1}{2}"),
    ("\\dfrac{3}{4}", "0.75"), ("-3", "-3.0"), ("1,000", "1000"), ("1000", "1,000"),
    ("x+1", "x + 1"), ("\\sqrt{2}", "$\\sqrt{2}$"), ("(1,2)", "\\left(1, 2\\right)"),
    ("\\boxed{\\frac{a}{b}}", "\\frac{a}{b}"), ("7", "\\(7\\)"), ("π r^2", "πr^2"),
])
def test_equivalent_answers_match_without_math_verify(no_math_verify, gold, answer):
    assert equivalent(gold, answer)


@pytest.mark.parametrize("gold,answer", [
    ("42", "43"), ("42", ""), ("42", "   "), ("42", "4 2 0x"), ("0.5", "0.51"),
    ("1/2", "2/1"), ("1,2", "12"), ("x+1", "x-1"), ("42", "1e99999999"), ("1/0", "1/0.0"),
    ("42", "__import__('os')"),
])
def test_different_answers_do_not_match(no_math_verify, gold, answer):
    assert not fallback_equal(gold, answer) and not equivalent(gold, answer)


def test_normalize_details():
    assert normalize("The answer is \\boxed{\\frac{1}{2}}.") == "1/2"
    assert normalize("\\boxed{\\{1, 2\\}}") == "\\{1,2\\}"  # nested braces survive box extraction
    assert normalize("$$3$$") == "3"


def test_canonical_forms_for_majority_votes(no_math_verify):
    assert canonical("0.50") == canonical("\\frac{1}{2}") == canonical("$1/2$") == "1/2"
    assert canonical("1,000") == canonical("1000.0") == "1000"
    assert canonical("x + 1") == "x+1" != canonical("1+x")  # symbolic equality needs math-verify


def test_canonical_with_math_verify():
    pytest.importorskip("math_verify")
    assert canonical("x+1") == canonical("1 + x")
    assert canonical("\\sqrt{2}") == canonical("2^{1/2}")


def test_math_verify_is_consulted_only_after_the_fallback_fails(monkeypatch):
    calls = []

    def fake_parse(text):
        calls.append(text)
        if text == "$boom$":
            raise TimeoutError("math-verify timed out")
        return [text.strip("$")]

    monkeypatch.setattr(answers, "_mv_parse", fake_parse)
    monkeypatch.setattr(answers, "_mv_verify", lambda gold, pred: {gold[0], pred[0]} == {"\\pi", "pi"})
    assert equivalent("42", "42") and calls == []                  # fallback decides, no parse
    assert equivalent("\\pi", "pi") and calls == ["$\\pi$", "$pi$"]  # bare text wrapped
    assert not equivalent("\\pi", "3")
    assert not equivalent("\\pi", "boom")                          # its errors score 0, never raise


def test_bare_answers_are_read_as_whole_expressions():
    # Bare, math-verify would extract only the number from "1+x" and match the answer "1".
    assert answers._as_math(" 1+x ") == "$1+x$"
    assert answers._as_math("so \\boxed{2}") == "so \\boxed{2}"
    assert answers._as_math("$y$") == "$y$"


@pytest.mark.parametrize("gold,answer,expected", [
    ("\\sqrt{2}", "2^{1/2}", True), ("x+1", "1+x", True), ("1/2", "\\boxed{\\frac{2}{4}}", True),
    ("1", "1+x", False), ("2", "2^{1/2}", False), ("42", "__import__('os')", False),
])
def test_real_math_verify_when_installed(gold, answer, expected):
    pytest.importorskip("math_verify")
    assert equivalent(gold, answer) is expected
