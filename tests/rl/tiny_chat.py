"""A tiny Qwen2 chat model saved locally: random weights, a byte-level BPE tokenizer trained here, Qwen's
ChatML template. Nothing is downloaded; `model.name_or_path` loads it like any hub model."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHATML = ("{%- for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
          "'<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}")


def chat_tokenizer(corpus: list[str], vocab_size: int = 400, template: str | None = CHATML) -> PreTrainedTokenizerFast:
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    core.train_from_iterator(corpus, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                        padding_side="left")
    tokenizer.chat_template = template
    return tokenizer


def save_tiny_chat_model(folder: Path, corpus: list[str], template: str | None = CHATML, seed: int = 0,
                         stop_tokens: list[str] | None = None) -> Path:
    """`stop_tokens`: written to generation_config.eos_token_id as Qwen2.5-Instruct's list is (its tokenizer's EOS is
    <|im_end|> alone); None leaves the config's single EOS."""
    tokenizer = chat_tokenizer(corpus, template=template)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=1024,
                         tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
                         eos_token_id=tokenizer.eos_token_id, bos_token_id=None)
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    if stop_tokens is not None:
        model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids(stop_tokens)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
