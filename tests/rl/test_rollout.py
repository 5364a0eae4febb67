"""The KV-cache sampler: its log-probs, stopping, padding and determinism."""

import pytest
import torch

from scaling.config import ModelConfig
from scaling.model import enable_gradient_checkpointing, make_policy
from scaling.rl.rollout import decode, encode_prompts, positions, sample
from scaling.rl.step import Batch, completion_logprobs

CFG = ModelConfig(hidden_size=32, layers=2, heads=2, intermediate_size=64)


def _setup(prompts):
    model, tok = make_policy(CFG, seed=0)
    model.eval()
    ids, mask = encode_prompts(tok, prompts)
    return model, tok, ids, mask


def _pin_logit(model, token_id: int, value: float) -> None:
    """Make every step's logit for `token_id` equal `value` (1e4: always chosen; -1e4: never)."""

    def hook(module, args, logits):
        logits[..., token_id] = value
        return logits

    model.lm_head.register_forward_hook(hook)


def _full_forward_logprobs(model, prompt_ids, prompt_mask, tokens, comp_mask, temperature):
    """The plain reference: one forward over prompt + completion per row, positions from the mask."""
    ids = torch.cat([prompt_ids, tokens], 1)
    attention = torch.cat([prompt_mask, comp_mask.long()], 1)
    logits = model(input_ids=ids, attention_mask=attention, position_ids=positions(attention)).logits
    logp = torch.log_softmax(logits[:, prompt_ids.shape[1] - 1:-1].float() / temperature, -1)
    return logp.gather(-1, tokens[..., None]).squeeze(-1)


def test_sampler_and_grouped_trainer_logprobs_match_a_full_forward_with_left_padding():
    group = 3
    model, tok, ids, mask = _setup(["12+34=", "5+6=", "777+1="])
    out = sample(model, ids, mask, max_new_tokens=6, temperature=0.7, eos_id=tok.eos_token_id,
                 pad_id=tok.pad_token_id, generator=torch.Generator().manual_seed(0), repeat=group)
    rows = torch.arange(9)
    reference = _full_forward_logprobs(model, ids.repeat_interleave(group, 0), mask.repeat_interleave(group, 0),
                                       out.tokens, out.mask, 0.7)
    assert torch.allclose(reference * out.mask, out.logprobs, atol=1e-5)
    batch = Batch(ids, mask, out, torch.zeros(3, group), torch.zeros(3, group), [0, 1, 2])
    grouped = completion_logprobs(model, batch, rows, 0.7)[0]
    assert torch.allclose(grouped * out.mask, reference * out.mask, atol=1e-5)
    # A minibatch of whole groups (the second prompt's) gives the same values.
    part = completion_logprobs(model, batch, torch.arange(3, 6), 0.7)[0]
    assert torch.allclose(part * out.mask[3:6], reference[3:6] * out.mask[3:6], atol=1e-5)


@pytest.mark.parametrize("checkpointing", [False, True])
def test_grouped_trainer_gradients_match_a_full_forward(checkpointing):
    """With gradient checkpointing the training pass runs whole sequences (no cache): same values, same gradients."""
    group = 4
    model, tok, ids, mask = _setup(["12+34=", "5+6="])
    widths = []
    model.model.layers[0].mlp.register_forward_pre_hook(lambda module, args: widths.append(args[0].shape[1]))
    if checkpointing:
        enable_gradient_checkpointing(model)
    out = sample(model, ids, mask, max_new_tokens=5, temperature=1.0, eos_id=tok.eos_token_id,
                 pad_id=tok.pad_token_id, generator=torch.Generator().manual_seed(1), repeat=group)
    batch = Batch(ids, mask, out, torch.zeros(2, group), torch.zeros(2, group), [0, 1])
    grads = []
    for grouped in (True, False):
        model.zero_grad()
        if grouped:
            widths.clear()
            logp = completion_logprobs(model, batch, torch.arange(8), 1.0, backward=True)[0]
            (logp * out.mask).sum().backward()
            full = ids.shape[1] + out.tokens.shape[1] - 1
            # Checkpointed: one whole-sequence pass, run again in the backward; else a prompt pass and a cached one.
            assert widths == ([full, full] if checkpointing else [ids.shape[1], out.tokens.shape[1] - 1])
            grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
            continue
        else:
            logp = _full_forward_logprobs(model, ids.repeat_interleave(group, 0), mask.repeat_interleave(group, 0),
                                          out.tokens, out.mask, 1.0)
        (logp * out.mask).sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def test_same_generator_seed_same_samples_and_mask_stops_after_eos():
    model, tok, ids, mask = _setup(["1+1="] * 8)
    kwargs = dict(max_new_tokens=5, temperature=1.0, eos_id=tok.eos_token_id, pad_id=tok.pad_token_id)
    a = sample(model, ids, mask, generator=torch.Generator().manual_seed(3), **kwargs)
    b = sample(model, ids, mask, generator=torch.Generator().manual_seed(3), **kwargs)
    assert torch.equal(a.tokens, b.tokens)
    for row, m in zip(a.tokens, a.mask):
        length = int(m.sum())
        assert (row[length:] == tok.pad_token_id).all()
        assert torch.all(m[:length] == 1)
    assert torch.equal(a.truncated, (a.tokens == tok.eos_token_id).sum(-1) == 0)


def test_eos_ends_a_row_and_decode_drops_it():
    model, tok, ids, mask = _setup(["1+1="])
    _pin_logit(model, tok.eos_token_id, 1e4)
    out = sample(model, ids, mask, max_new_tokens=4, temperature=1.0, eos_id=tok.eos_token_id,
                 pad_id=tok.pad_token_id, greedy=True)
    assert out.tokens.shape[1] == 1 and out.lengths.tolist() == [1] and not out.truncated.any()
    assert decode(tok, out) == [""]


def test_forced_interruption_appends_phrase_and_finishes_within_extra_budget():
    model, tok, ids, mask = _setup(["1+1=", "2+2="])
    _pin_logit(model, tok.eos_token_id, -1e4)
    phrase = tok.encode("|A:", add_special_tokens=False)
    out = sample(model, ids, mask, max_new_tokens=3, temperature=1.0, eos_id=tok.eos_token_id,
                 pad_id=tok.pad_token_id, generator=torch.Generator().manual_seed(0),
                 interrupt_ids=phrase, interrupt_budget=2)
    assert out.tokens.shape[1] == 3 + len(phrase) + 2
    assert (out.tokens[:, 3:3 + len(phrase)] == torch.tensor(phrase)).all()
    assert out.forced[:, 3:3 + len(phrase)].all() and not out.forced[:, :3].any() and not out.forced[:, -2:].any()
    # The phrase is ours, not the policy's: no loss on it and no sampler log-prob for it.
    assert (out.action_mask[:, 3:3 + len(phrase)] == 0).all() and (out.action_mask[:, -2:] == 1).all()
    assert (out.logprobs[:, 3:3 + len(phrase)] == 0).all() and (out.logprobs[:, -2:] < 0).all()
    assert out.truncated.all()


def test_no_interruption_when_every_row_ended_in_budget():
    model, tok, ids, mask = _setup(["1+1="])
    _pin_logit(model, tok.eos_token_id, 1e4)
    out = sample(model, ids, mask, max_new_tokens=3, temperature=1.0, eos_id=tok.eos_token_id,
                 pad_id=tok.pad_token_id, interrupt_ids=[5, 6], interrupt_budget=2, greedy=True)
    assert out.forced is None and out.tokens.shape[1] == 1


def test_sampling_and_training_passes_raise_no_deprecation_warning():
    """The cache goes in under the keyword the installed transformers expects (`cache` since 5.2x, warning
    on `past_key_values` every call before): normal output stays free of library deprecation warnings."""
    import warnings

    model, tok, ids, mask = _setup(["12+34=", "5+6="])
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        out = sample(model, ids, mask, max_new_tokens=4, temperature=1.0, eos_id=tok.eos_token_id,
                     pad_id=tok.pad_token_id, generator=torch.Generator().manual_seed(0), repeat=2)
        batch = Batch(ids, mask, out, torch.zeros(2, 2), torch.zeros(2, 2), [0, 1])
        completion_logprobs(model, batch, torch.arange(4), 1.0)
