"""s1 budget forcing: "Wait" and the forced end-of-thinking + answer prefix go exactly where specified."""

import pytest
import torch

from scaling.config import ModelConfig
from scaling.infer.budget import Budget, BudgetForcing, thinking_tokens
from scaling.model import make_policy
from scaling.rl.rollout import decode, encode_prompts, sample

CFG = ModelConfig(hidden_size=32, layers=1, heads=2, intermediate_size=64)
EOS = "<eos>"


def _scripted(scripts: list[list[str]]):
    """A model whose greedy choice at decoding step i of row r is scripts[r][i] (call 0 is the prefill)."""
    model, tok = make_policy(CFG, seed=0)
    model.eval()
    ids = [[tok.convert_tokens_to_ids(t) for t in row] for row in scripts]
    calls = {"n": 0}

    def hook(module, args, logits):
        step = calls["n"]
        calls["n"] += 1
        logits = torch.full_like(logits, -1e4)
        for r, row in enumerate(ids):
            logits[r, -1, row[min(step, len(row) - 1)]] = 1e4
        return logits

    model.lm_head.register_forward_hook(hook)
    return model, tok


def _run(scripts, budget, max_new_tokens):
    model, tok = _scripted(scripts)
    ids, mask = encode_prompts(tok, ["1+1="] * len(scripts))
    forcing = BudgetForcing(len(scripts), budget, end_id=tok.convert_tokens_to_ids("|"), eos_id=tok.eos_token_id,
                            wait_ids=tok.encode("Wait", add_special_tokens=False),
                            stop_ids=tok.encode("|A:", add_special_tokens=False), device=ids.device)
    out = sample(model, ids, mask, max_new_tokens=max_new_tokens, temperature=1.0, eos_id=tok.eos_token_id,
                 pad_id=tok.pad_token_id, greedy=True, forcing=forcing)
    return out, tok, forcing


def test_maximum_forces_end_marker_and_answer_prefix_after_exactly_max_thinking_tokens():
    never_stops = ["7"] * 12
    stops_itself = ["5", "|", "A", ":", "5", EOS]
    out, tok, forcing = _run([never_stops, stops_itself], Budget(0, 3), max_new_tokens=8)
    assert decode(tok, out) == ["777|A:77", "5|A:5"]
    assert out.forced[0].tolist() == [False] * 3 + [True] * 3 + [False] * 2
    assert not out.forced[1].any()
    # Forced tokens are not the policy's: no loss, no sampler log-prob, not counted as model tokens.
    assert out.action_mask[0].tolist() == [1, 1, 1, 0, 0, 0, 1, 1]
    assert (out.logprobs[0, 3:6] == 0).all()
    counted = thinking_tokens(out.tokens, out.action_mask, tok.convert_tokens_to_ids("|"), tok.eos_token_id)
    assert counted.tolist() == [3, 1] == forcing.count.tolist()


def test_minimum_replaces_an_early_stop_with_wait_and_thinking_continues():
    script = ["1", "|", "x", "x", "x", "2", "|", "A", ":", "5", EOS]
    out, tok, forcing = _run([script], Budget(2, None), max_new_tokens=16)
    assert decode(tok, out) == ["1Wait2|A:5"]
    assert out.forced[0].tolist() == [False] + [True] * 4 + [False] * 6
    assert forcing.count.tolist() == [2]
    counted = thinking_tokens(out.tokens, out.action_mask, tok.convert_tokens_to_ids("|"), tok.eos_token_id)
    assert counted.tolist() == [2]


def test_zero_budget_forces_the_answer_at_once_and_eos_below_minimum_is_also_a_stop():
    out, tok, _ = _run([["9", "9", "9", "9", EOS]], Budget(0, 0), max_new_tokens=6)
    assert decode(tok, out) == ["|A:9"] and out.forced[0, :3].all() and not out.forced[0, 3:].any()
    out, tok, _ = _run([[EOS, "x", "x", "x", "3", "|", "A", ":", "3", EOS]], Budget(1, 4), max_new_tokens=12)
    assert decode(tok, out) == ["Wait3|A:3"]


def test_budget_parsing_and_validation():
    assert Budget.parse("8") == Budget(0, 8) and Budget.parse("4:16") == Budget(4, 16)
    assert Budget.parse("12:") == Budget(12, None) and Budget.parse("4:16").label == "4:16"
    with pytest.raises(ValueError, match="minimum exceeds"):
        Budget.parse("9:3")
    with pytest.raises(ValueError, match="expected MAX"):
        Budget.parse("lots")
