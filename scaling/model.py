"""The policy: any transformers causal LM, or a tiny random-weight decoder with a character tokenizer.

The tiny default is a real `LlamaForCausalLM`/`Qwen2ForCausalLM` with a real
`PreTrainedTokenizerFast`, saved and loaded through `save_pretrained`/`from_pretrained`, so a hub
model takes exactly the same code path on a cluster.
"""

from __future__ import annotations

import contextlib
import importlib.util
import string
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.utils import logging as hf_logging
from transformers import (AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM,
                          PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM)

from scaling.config import ModelConfig

PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"
# Printable ASCII without the whitespace controls: every built-in task's prompts fit in it.
CHARACTERS = [c for c in string.printable if c not in "\t\n\r\x0b\x0c"]


def char_tokenizer() -> PreTrainedTokenizerFast:
    """A character-level tokenizer: one token per printable ASCII character."""
    vocab = {tok: i for i, tok in enumerate([PAD, EOS, UNK] + CHARACTERS)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token=PAD, eos_token=EOS, unk_token=UNK,
                                   padding_side="left")


def build_tiny_model(config: ModelConfig, tokenizer: PreTrainedTokenizerFast, seed: int) -> torch.nn.Module:
    """A small decoder with tied embeddings and random weights (seeded)."""
    common = dict(vocab_size=len(tokenizer), hidden_size=config.hidden_size,
                  intermediate_size=config.intermediate_size, num_hidden_layers=config.layers,
                  num_attention_heads=config.heads, num_key_value_heads=config.heads,
                  max_position_embeddings=config.max_positions, tie_word_embeddings=True,
                  pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                  bos_token_id=tokenizer.eos_token_id, attn_implementation=config.attn_implementation)
    config_cls, model_cls = (LlamaConfig, LlamaForCausalLM) if config.arch == "llama" else (Qwen2Config, Qwen2ForCausalLM)
    # Built on the CPU with the CPU generator whatever the run's device, so every device starts from the same weights.
    with torch.random.fork_rng(), torch.device("cpu"):
        torch.manual_seed(seed)
        model = model_cls(config_cls(**common))
    return model


def load_pretrained(path: str | Path, attn_implementation: str = "eager", dtype: torch.dtype = torch.float32):
    """Load a causal LM and its tokenizer from a local folder or a hub name, its weights in `dtype`."""
    hf_logging.disable_progress_bar()  # one bar per load would drown a study's own progress display
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        with torch.device("cpu"):  # the caller moves it to the run's device
            model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype,
                                                         attn_implementation=attn_implementation)
    except OSError as err:
        raise ValueError(f"model.name_or_path: cannot load {str(path)!r} ({str(err).splitlines()[0]})") from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return model, tokenizer


def check_attention(implementation: str) -> None:
    """FlashAttention-2 is an optional package with its own CUDA build: say so instead of a deep import error."""
    if implementation == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
        raise ValueError("model.attn_implementation: flash_attention_2 needs the flash-attn package and a CUDA GPU "
                         "(pip install flash-attn --no-build-isolation), or use sdpa")


def make_policy(config: ModelConfig, seed: int, path: str | Path | None = None, dtype: torch.dtype = torch.float32):
    """The starting policy (on the CPU): a saved model at `path`, else `config.name_or_path`, else a fresh tiny one.

    A saved model loads in `dtype`: an RL run in bf16 or fp16 passes its compute dtype, so an 8B model takes
    16 GB of host memory per rank while it loads instead of 32 (the result equals loading in fp32 and casting)."""
    check_attention(config.attn_implementation)
    source = path or config.name_or_path
    if source is not None:
        model, tokenizer = load_pretrained(source, config.attn_implementation, dtype)
    else:
        tokenizer = char_tokenizer()
        model = build_tiny_model(config, tokenizer, seed)
    model.eval()  # no dropout in the built-in models; keeps sampling and training passes identical
    if config.gradient_checkpointing:
        enable_gradient_checkpointing(model)
    return model, tokenizer


def enable_gradient_checkpointing(model: torch.nn.Module) -> None:
    """Recompute each decoder layer in the backward pass instead of storing its activations.

    transformers checkpoints a layer only while that layer is in training mode. The policy stays in eval mode
    (no dropout: sampling and training passes must agree), so only the decoder layers themselves are flagged
    as training; their attention and MLP submodules, where dropout lives, stay in eval mode.
    """
    enable = getattr(model, "activation_checkpointing_enable", None)  # transformers >= 5.x; the old name warns
    if enable is not None:
        enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.checkpoints_activations = True
    for module in model.modules():
        if isinstance(module, GradientCheckpointingLayer):
            module.training = True


def model_device(model: torch.nn.Module) -> torch.device:
    """Where a model's parameters live: tensors made for it (prompts, generators) go there too."""
    return next(model.parameters()).device


def stop_ids(model: torch.nn.Module, tokenizer) -> list[int]:
    """Token ids that end a completion: the tokenizer's EOS, then every id the model's `generation_config` lists.

    Chat models end a turn with any of several (Qwen2.5-Instruct: <|im_end|> and <|endoftext|>; Llama-3-Instruct:
    <|eot_id|> and <|end_of_text|>), and only `generation_config.eos_token_id` (an int or a list, saved with the
    model) names them all; sampling on past one would score and train on text written after the model had ended.
    The tiny built-in model lists its single EOS there too."""
    inner = getattr(model, "module", model)  # a DistributedDataParallel wrapper
    listed = getattr(getattr(inner, "generation_config", None), "eos_token_id", None)
    listed = [] if listed is None else [listed] if isinstance(listed, int) else list(listed)
    ids = [tokenizer.eos_token_id, *listed]
    return list(dict.fromkeys(int(i) for i in ids if i is not None))


# Config fields of causal LMs whose forward transforms the head's output (Gemma 2's soft-capping, Cohere's and
# Granite's logit scaling): the head alone would give other logits, and the transform would garble hidden states.
_LOGIT_TRANSFORMS = ("final_logit_softcapping", "logit_scale", "logits_scaling")


class _HeadStandIn(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.fn(hidden)


@contextlib.contextmanager
def head_replaced(model: torch.nn.Module, fn=None):
    """Within the block, the model's LM head is `fn` (final hidden states -> what the forward returns as `logits`;
    by default the hidden states themselves).

    The model's own forward still runs, with its FSDP and DDP hooks, caches, masks and `logits_to_keep`, but it
    never multiplies hidden states by the (vocab, H) head: the caller projects them a chunk at a time.
    """
    for name in _LOGIT_TRANSFORMS:
        if getattr(model.config, name, None) not in (None, 1.0):
            raise ValueError(f"model: {type(model).__name__} transforms its logits ({name}="
                             f"{getattr(model.config, name)}); the chunked log-prob pass supports plain LM heads only")
    head = model.get_output_embeddings()
    model.set_output_embeddings(_HeadStandIn(fn or (lambda hidden: hidden)))
    try:
        yield
    finally:
        model.set_output_embeddings(head)


def checkpoints_activations(model: torch.nn.Module) -> bool:
    """Whether `enable_gradient_checkpointing` was applied (its layers then keep no KV cache in a training pass)."""
    return getattr(model, "checkpoints_activations", False)


def count_parameters(model: torch.nn.Module) -> dict[str, int]:
    """Parameters that do matmul work per token (N in 2N FLOPs/token), excluding the embedding lookup.

    With tied embeddings the shared matrix is counted once, as the LM head (it is a matmul there).
    """
    seen: set[int] = set()
    total = 0
    for param in model.parameters():
        if id(param) not in seen:
            seen.add(id(param))
            total += param.numel()
    embedding = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    matmul = total - (0 if embedding is head else embedding.numel())
    return {"total": total, "matmul": matmul}
