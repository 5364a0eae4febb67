"""Each precision really changes the dtypes a policy computes in, and low precisions train fp32 masters."""

from __future__ import annotations

import copy

import pytest
import torch

from scaling.config import build_config
from scaling.rl.precision import DTYPES, MasterWeights, apply_precision, dtype_summary
from scaling.rl.state import build_state
from scaling.rl.step import rl_step

TINY = {"threads": 1, "warmstart": {"enabled": False},
        "model": {"hidden_size": 32, "layers": 1, "heads": 2, "intermediate_size": 64},
        "task": {"train_size": 64, "val_size": 8},
        "rollout": {"prompts_per_step": 4, "generations_per_prompt": 4, "max_new_tokens": 4},
        "optim": {"warmup_steps": 0, "lr": 1e-3}, "train": {"steps": 2}, "eval": {"every": 2, "k": 1}}

F32, BF16, F16 = torch.float32, torch.bfloat16, torch.float16
# precision -> (embedding output fed to the body, decoder layer output, final norm output, head input,
#               head weight, logits)
EXPECTED = {
    "fp32": (F32, F32, F32, F32, F32, F32),
    "bf16": (BF16, BF16, BF16, BF16, BF16, BF16),
    "fp16": (F16, F16, F16, F16, F16, F16),
    # ScaleRL's fp32 LM head: bf16 body, head and logits in fp32 (the tied embedding is fp32 too, but what it
    # feeds the body is cast back to bf16).
    "fp32_lm_head": (BF16, BF16, BF16, F32, F32, F32),
}


def varied_score(example, text: str) -> float:
    """A stand-in verifier with spread within groups, so advantages (and gradients) are non-zero."""
    return float(sum(map(ord, text)) % 2)


def make_state(precision: str, **model):
    tree = copy.deepcopy(TINY)
    tree["model"].update(precision=precision, **model)
    state = build_state(build_config(tree))
    state.task.score = varied_score
    return state


def forward_dtypes(model, tokenizer):
    seen = {}

    def out_hook(name):
        def hook(module, args, out):
            seen[name] = (out[0] if isinstance(out, tuple) else out).dtype
        return hook

    inner = model.model
    handles = [inner.embed_tokens.register_forward_hook(out_hook("embed")),
               inner.layers[0].register_forward_hook(out_hook("layer")),
               inner.norm.register_forward_hook(out_hook("norm")),
               # registered after apply_precision's own pre-hook, so it sees what the head really gets
               model.get_output_embeddings().register_forward_pre_hook(
                   lambda module, args: seen.__setitem__("head_in", args[0].dtype))]
    ids = tokenizer(["12+34=", "5+6="], padding=True, add_special_tokens=False, return_tensors="pt")
    with torch.no_grad():
        logits = model(**ids).logits
    for handle in handles:
        handle.remove()
    return (seen["embed"], seen["layer"], seen["norm"], seen["head_in"],
            model.get_output_embeddings().weight.dtype, logits.dtype)


@pytest.mark.parametrize("precision", list(EXPECTED))
def test_precision_sets_the_dtypes_used(precision):
    state = make_state(precision)
    assert forward_dtypes(state.model, state.tokenizer) == EXPECTED[precision]
    layer_dtype = EXPECTED[precision][1]
    assert all(p.dtype == layer_dtype for n, p in state.model.named_parameters() if ".layers." in n)
    short = lambda d: str(d).replace("torch.", "")
    body, head = short(layer_dtype), short(EXPECTED[precision][4])
    assert state.dtypes == f"body={body},embed={head},head={head}"  # the tied embedding is the head matrix
    assert (state.scaler is not None) == (precision == "fp16")


def test_fp32_lm_head_untied_head():
    state = make_state("fp32")
    model = state.model
    model.config.tie_word_embeddings = False
    model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.detach().clone())  # untie
    apply_precision(model, "fp32_lm_head")
    assert model.get_input_embeddings().weight.dtype == BF16
    assert forward_dtypes(model, state.tokenizer) == EXPECTED["fp32_lm_head"]
    assert dtype_summary(model) == "body=bfloat16,embed=bfloat16,head=float32"


def test_precisions_give_different_logits():
    logits = {}
    for precision in EXPECTED:
        state = make_state(precision)
        ids = state.tokenizer(["12+34="], add_special_tokens=False, return_tensors="pt")
        with torch.no_grad():
            logits[precision] = state.model(**ids).logits.float()
    # The same seed-built weights, so the precisions agree roughly but not exactly.
    for precision in ("bf16", "fp16", "fp32_lm_head"):
        assert torch.allclose(logits[precision], logits["fp32"], atol=0.1)
        assert not torch.equal(logits[precision], logits["fp32"])


@pytest.mark.parametrize("precision", ["bf16", "fp16", "fp32_lm_head"])
def test_master_weights_fp32_and_updated(precision):
    state = make_state(precision)
    master = state.master
    assert master.active
    assert all(m.dtype == F32 for m in master.master)
    assert all(m is not p for m, p in zip(master.master, master.params))
    opt_params = [p for g in state.optimizer.param_groups for p in g["params"]]
    assert all(any(p is m for m in master.master) for p in opt_params)  # the optimizer updates the masters
    before = [m.detach().clone() for m in master.master]
    row = rl_step(state)
    assert row["grad_norm"] > 0
    changed = [not torch.equal(a, b) for a, b in zip(before, master.master)]
    assert all(changed)
    # The model weights are the masters rounded to the compute dtype.
    for p, m in zip(master.params, master.master):
        assert torch.equal(p.detach(), m.detach().to(p.dtype))


def test_master_keeps_updates_smaller_than_bf16_resolution():
    # A bf16 weight of 1.0 cannot move by 1e-4 (its spacing is 2^-7 = 0.0078); the fp32 master can.
    param = torch.nn.Parameter(torch.ones(4, dtype=BF16))
    model = torch.nn.Module()
    model.weight = param
    master = MasterWeights(model)
    param.grad = torch.ones(4, dtype=BF16)
    master.grads_to_master()
    assert master.master[0].grad.dtype == F32 and param.grad is None
    opt = torch.optim.SGD(master.master, lr=1e-4)
    for _ in range(100):  # 100 x 1e-4 = 0.01 in total: more than one bf16 step below 1.0 (0.0039)
        opt.step()
        master.master_to_model()
    assert master.master[0][0].item() == pytest.approx(0.99, abs=1e-5)
    assert param[0].item() == pytest.approx(0.99, abs=0.004) and param[0].item() < 1.0
    # The same 100 updates applied to the bf16 weight itself are all lost to rounding.
    plain = torch.nn.Parameter(torch.ones(4, dtype=BF16))
    plain.grad = torch.ones(4, dtype=BF16)
    sgd = torch.optim.SGD([plain], lr=1e-4)
    for _ in range(100):
        sgd.step()
    assert plain[0].item() == 1.0


def test_fp32_has_no_separate_master():
    state = make_state("fp32")
    assert not state.master.active
    assert all(m is p for m, p in zip(state.master.master, state.master.params))
    assert set(DTYPES) == set(EXPECTED)
