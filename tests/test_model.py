"""The policy: char tokenizer, tiny decoder, and the pretrained-loading path on a locally saved model."""

import pytest
import torch

from scaling.config import ModelConfig
from scaling.model import char_tokenizer, count_parameters, load_pretrained, make_policy


def test_char_tokenizer_round_trips_and_left_pads():
    tok = char_tokenizer()
    ids = tok.encode("321+654=", add_special_tokens=False)
    assert len(ids) == 8 and tok.decode(ids) == "321+654="
    batch = tok(["12+3=", "1+2="], padding=True, add_special_tokens=False)
    assert batch["attention_mask"][1][0] == 0 and batch["input_ids"][1][0] == tok.pad_token_id


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_tiny_model_is_seeded_and_counts_parameters(arch):
    cfg = ModelConfig(arch=arch, hidden_size=32, layers=1, heads=2, intermediate_size=64)
    a, _ = make_policy(cfg, seed=0)
    b, _ = make_policy(cfg, seed=0)
    c, _ = make_policy(cfg, seed=1)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.lm_head.weight, c.lm_head.weight)
    counts = count_parameters(a)
    # Tied embeddings: the shared matrix counts once, as the LM head's matmul.
    assert counts["matmul"] == counts["total"]


def test_saved_model_loads_through_the_pretrained_path(tmp_path):
    cfg = ModelConfig(hidden_size=32, layers=1, heads=2, intermediate_size=64)
    model, tok = make_policy(cfg, seed=0)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    loaded, loaded_tok = make_policy(ModelConfig(name_or_path=str(tmp_path)), seed=5)
    x = torch.tensor([[5, 6, 7]])
    assert torch.allclose(model(x).logits, loaded(x).logits)
    assert loaded_tok.padding_side == "left" and loaded_tok.decode(loaded_tok.encode("9+1=")) == "9+1="


def test_missing_model_path_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="model.name_or_path: cannot load"):
        load_pretrained(tmp_path / "nothing-here")


def test_a_saved_model_loads_in_the_compute_dtype_as_if_cast_after_loading(tmp_path):
    cfg = ModelConfig(hidden_size=32, layers=1, heads=2, intermediate_size=64)
    model, tok = make_policy(cfg, seed=0)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    low, _ = make_policy(ModelConfig(name_or_path=str(tmp_path)), seed=0, dtype=torch.bfloat16)
    assert {p.dtype for p in low.parameters()} == {torch.bfloat16}
    assert all(torch.equal(a.bfloat16(), b) for a, b in zip(model.parameters(), low.parameters()))


def test_flash_attention_without_the_package_is_a_one_line_error(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "flash_attn" else real(name, *a))
    with pytest.raises(ValueError, match="model.attn_implementation: flash_attention_2 needs the flash-attn package"):
        make_policy(ModelConfig(attn_implementation="flash_attention_2"), seed=0)
