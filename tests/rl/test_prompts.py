"""Prompt rendering: chat templates, system prompts, templates, special tokens, and unencodable characters."""

from __future__ import annotations

import json

import pytest
import torch
from tiny_chat import save_tiny_chat_model
from tokenizers import processors
from transformers import AutoTokenizer

from scaling.config import TaskConfig
from scaling.model import char_tokenizer
from scaling.rl.prompts import check_encodable, encode_prompts, prompt_ids, render
from scaling.rl.warmstart import _batches
from scaling.tasks import make_task
from scaling.tasks.base import Example, PromptStyle

CORPUS = ["Let $x = 3$.\nCompute $\\frac{x}{2}$.", "\\boxed{\\frac{3}{2}}", "What is 2+2? π ≈ 3.14"] * 5


@pytest.fixture(scope="module")
def chat_dir(tmp_path_factory):
    return save_tiny_chat_model(tmp_path_factory.mktemp("chat"), CORPUS)


def test_char_tokenizer_default_encoding_is_unchanged():
    tok = char_tokenizer()
    ids, mask = encode_prompts(tok, ["12+34=", "5+6="])
    expected = tok(["12+34=", "5+6="], padding=True, add_special_tokens=False, return_tensors="pt")
    assert torch.equal(ids, expected["input_ids"]) and torch.equal(mask, expected["attention_mask"])


def test_chat_template_system_prompt_and_template(chat_dir):
    tok = AutoTokenizer.from_pretrained(chat_dir)
    style = PromptStyle(template="Solve; put the answer in \\boxed{}.\n{question}", system="You are terse.")
    text = render(tok, "Let $x=1$.\nFind $x$.", style)
    assert text == ("<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nSolve; put the answer in "
                    "\\boxed{}.\nLet $x=1$.\nFind $x$.<|im_end|>\n<|im_start|>assistant\n")
    ids = prompt_ids(tok, "Let $x=1$.\nFind $x$.", style)
    assert tok.decode(ids) == text and ids.count(tok.convert_tokens_to_ids("<|im_start|>")) == 3
    none = PromptStyle(template=style.template, system=style.system, chat_template="none")
    assert render(tok, "q", none) == "You are terse.\n\nSolve; put the answer in \\boxed{}.\nq"


def test_raw_text_gets_the_tokenizers_own_bos_and_a_chat_template_none(chat_dir):
    tok = AutoTokenizer.from_pretrained(chat_dir)
    tok.add_special_tokens({"bos_token": "<|endoftext|>"})
    tok._tokenizer.post_processor = processors.TemplateProcessing(  # a Llama-style tokenizer: BOS before raw text
        single="<|endoftext|> $A", special_tokens=[("<|endoftext|>", tok.bos_token_id)])
    raw = prompt_ids(tok, "q", PromptStyle(chat_template="none"))
    assert raw[0] == tok.bos_token_id and raw.count(tok.bos_token_id) == 1
    chat = prompt_ids(tok, "q", PromptStyle())  # the template's text is tokenized without adding a BOS
    assert tok.bos_token_id not in chat


def test_batched_encoding_left_pads_to_the_same_ids(chat_dir):
    tok = AutoTokenizer.from_pretrained(chat_dir)
    style = PromptStyle(system="s")
    ids, mask = encode_prompts(tok, ["short", "a much longer\nquestion"], style)
    for row, question in enumerate(["short", "a much longer\nquestion"]):
        assert ids[row][mask[row].bool()].tolist() == prompt_ids(tok, question, style)
    assert mask[0, 0] == 0 and mask[1].all()


def test_warm_start_trains_on_the_prompt_rl_samples_from(chat_dir):
    tok = AutoTokenizer.from_pretrained(chat_dir)
    style = PromptStyle(system="You are terse.")
    example = Example(prompt="Let $x=1$.\nFind $x$.", answer="1", demonstration="\\boxed{1}")
    ids, labels, mask = next(_batches([example], tok, 1, torch.Generator().manual_seed(0), style))
    prompt = prompt_ids(tok, example.prompt, style)
    assert ids[0, :len(prompt)].tolist() == prompt
    assert labels[0, len(prompt):].tolist() == tok.encode("\\boxed{1}", add_special_tokens=False) + [tok.eos_token_id]


def _dataset(tmp_path, prompt, answer="1"):
    path = tmp_path / "d.jsonl"
    rows = [{"q": "ok 1", "a": "1"}, {"q": "ok 2", "a": "2"}, {"q": prompt, "a": answer}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    task = make_task(TaskConfig(name="dataset", path=str(path), val_size=1, prompt_field="q", answer_field="a"), 0)
    return path, task


@pytest.mark.parametrize("prompt,answer,message", [
    ("two\nlines", "1", r"d\.jsonl: row 3: column 'q': character '\\n' \(U\+000A\) is not in the tokenizer's vocabulary"),
    ("area π r^2", "1", r"d\.jsonl: row 3: column 'q': character 'π' \(U\+03C0\)"),
    ("fine", "½", r"d\.jsonl: row 3: column 'a': character '½' \(U\+00BD\)"),
])
def test_char_tokenizer_names_file_row_column_and_character(tmp_path, prompt, answer, message):
    _, task = _dataset(tmp_path, prompt, answer)
    with pytest.raises(ValueError, match=message):
        check_encodable(char_tokenizer(), task.train_examples() + task.val_examples(), task.prompt_style)


def test_unencodable_system_prompt_and_byte_level_tokenizers(tmp_path, chat_dir):
    _, task = _dataset(tmp_path, "two\nlines π")
    examples = task.train_examples() + task.val_examples()
    with pytest.raises(ValueError, match=r"task.system_prompt: character '—'"):
        check_encodable(char_tokenizer(), examples[:1], PromptStyle(system="Be brief — please."))
    with pytest.raises(ValueError, match=r"task.prompt_template: character '\\n'"):
        check_encodable(char_tokenizer(), examples[:1], PromptStyle(template="Q:\n{question}"))
    with pytest.raises(ValueError, match=r"task.system_prompt \(without a chat template it is put before the prompt "
                                         r"after a blank line\): character '\\n'"):
        check_encodable(char_tokenizer(), examples[:1], PromptStyle(system="Be brief."))
    check_encodable(AutoTokenizer.from_pretrained(chat_dir), examples, task.prompt_style)  # byte-level: no unknowns
