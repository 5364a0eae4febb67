"""Several stop ids: a chat model's generation_config lists its end-of-turn and end-of-text tokens (Qwen2.5-Instruct:
<|im_end|> and <|endoftext|>), and sampling, decoding, truncation and evaluation treat either as a proper end."""

from __future__ import annotations

import pytest
import torch
from tiny_chat import save_tiny_chat_model

from scaling.config import ModelConfig, RolloutConfig
from scaling.model import make_policy, stop_ids
from scaling.rl.evaluate import evaluate
from scaling.rl.rollout import decode, encode_prompts, sample, sampling_options
from scaling.rl.step import soft_overlong_penalty
from scaling.tasks.addition import Addition

CORPUS = ["What is 2+3? The answer is 5.", "What is 7+1? The answer is 8."]
PROMPTS = ["What is 2+3?", "What is 7+1?"]


@pytest.fixture(scope="module")
def chat(tmp_path_factory):
    folder = save_tiny_chat_model(tmp_path_factory.mktemp("chat"), CORPUS, stop_tokens=["<|im_end|>", "<|endoftext|>"])
    model, tok = make_policy(ModelConfig(name_or_path=str(folder)), seed=0)
    return model, tok


def _ids(tok, *names):
    return [tok.convert_tokens_to_ids(n) for n in names]


def _pin(model, logits: dict[int, float]):
    """Every step's logit for each token id set to the given value (a hook; the saved model is untouched)."""

    def hook(module, args, out):
        for token, value in logits.items():
            out[..., token] = value
        return out

    return model.lm_head.register_forward_hook(hook)


def test_stop_ids_are_the_tokenizers_eos_then_the_generation_configs(chat):
    model, tok = chat
    assert tok.eos_token_id == _ids(tok, "<|im_end|>")[0]
    assert stop_ids(model, tok) == _ids(tok, "<|im_end|>", "<|endoftext|>")
    assert sampling_options(RolloutConfig(), tok, model)["eos_id"] == _ids(tok, "<|im_end|>", "<|endoftext|>")
    tiny, char_tok = make_policy(ModelConfig(hidden_size=32, layers=1, heads=2, intermediate_size=64), seed=0)
    assert stop_ids(tiny, char_tok) == [char_tok.eos_token_id]  # the built-in model keeps its single EOS


def test_either_stop_id_ends_a_row_untruncated_and_is_not_in_the_text(chat):
    model, tok = chat
    end_turn, end_text = _ids(tok, "<|im_end|>", "<|endoftext|>")
    ids, mask = encode_prompts(tok, PROMPTS * 8, None)
    handle = _pin(model, {end_turn: 3.0, end_text: 3.0})  # each ends about one row in three, per step
    try:
        out = sample(model, ids, mask, max_new_tokens=6, temperature=1.0, eos_id=[end_turn, end_text],
                     pad_id=tok.pad_token_id, generator=torch.Generator(device="cpu").manual_seed(0))
    finally:
        handle.remove()
    last = out.tokens.gather(1, (out.lengths.long() - 1)[:, None]).squeeze(1)
    ends_turn, ends_text = last == end_turn, last == end_text
    assert bool(ends_turn.any()) and bool(ends_text.any())  # both kinds of end occur in this batch
    assert torch.equal(out.truncated, ~(ends_turn | ends_text))
    assert bool((out.lengths[out.truncated] == 6).all())
    for row, length in zip(out.tokens, out.lengths.long()):  # no stop id before a row's end
        assert not bool(torch.isin(row[:length - 1], torch.tensor([end_turn, end_text])).any())
    # DAPO's soft penalty and overlong masking see an end, not a cut completion.
    penalty = soft_overlong_penalty(out.lengths, out.truncated, 6, 0)
    assert torch.equal(penalty == 0, ~out.truncated)
    assert not any("<|im_end|>" in t or "<|endoftext|>" in t for t in decode(tok, out))


def test_a_stop_id_that_is_no_special_token_is_dropped_from_the_text():
    """The tokenizer skips special tokens itself; a plain token named as a stop id is removed by `decode`."""
    model, tok = make_policy(ModelConfig(hidden_size=32, layers=1, heads=2, intermediate_size=64), seed=0)
    ids, mask = encode_prompts(tok, ["1+1="], None)
    period = tok.convert_tokens_to_ids(".")
    handle = _pin(model, {period: 1e4})
    try:
        out = sample(model, ids, mask, max_new_tokens=4, temperature=1.0, eos_id=[tok.eos_token_id, period],
                     pad_id=tok.pad_token_id, greedy=True)
    finally:
        handle.remove()
    assert out.tokens.tolist() == [[period]] and not out.truncated.any()
    assert decode(tok, out) == [""]


def test_evaluation_stops_at_the_generation_configs_second_stop_id(chat):
    model, tok = chat
    end_text = _ids(tok, "<|endoftext|>")[0]
    task = Addition(digits=1, train_size=0, val_size=4, seed=0)  # chat-rendered, scored on the text before the end
    examples = task.val_examples()
    rollout = RolloutConfig(max_new_tokens=5)
    handle = _pin(model, {end_text: 1e4})  # the model ends every completion with <|endoftext|> at once
    try:
        both = evaluate(model, tok, task, examples, k=2, greedy=True, rollout=rollout, seed=0)
        model.generation_config.eos_token_id = tok.eos_token_id  # as if the config named only <|im_end|>
        one = evaluate(model, tok, task, examples, k=2, greedy=True, rollout=rollout, seed=0)
    finally:
        handle.remove()
        model.generation_config.eos_token_id = _ids(tok, "<|im_end|>", "<|endoftext|>")
    assert both.mean_response_tokens == 1.0
    assert one.mean_response_tokens == 5.0  # the old behaviour: sampled on past the end of the turn
