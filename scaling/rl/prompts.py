"""Prompts as the model expects them: the task's prompt style, the tokenizer's chat template and special tokens.

One function renders a prompt for sampling, evaluation and the warm start alike, so the supervised
warm start trains on exactly the text RL samples from. With a chat template the rendered text already
holds the model's special tokens (BOS, role markers), so none are added when tokenizing; raw text gets
the tokenizer's own (`add_special_tokens=True`: BOS for Llama-style tokenizers, nothing for Qwen's or
the built-in character tokenizer).
"""

from __future__ import annotations

import torch

from scaling.tasks.base import Example, PromptStyle

DEFAULT_STYLE = PromptStyle()


def uses_chat_template(tokenizer, style: PromptStyle) -> bool:
    return style.chat_template == "auto" and bool(getattr(tokenizer, "chat_template", None))


def messages(question: str, style: PromptStyle) -> list[dict[str, str]]:
    """The conversation a chat model is shown (also what an SFT export of a trajectory should hold)."""
    system = [{"role": "system", "content": style.system}] if style.system else []
    return system + [{"role": "user", "content": style.user_message(question)}]


def render(tokenizer, question: str, style: PromptStyle = DEFAULT_STYLE) -> str:
    """The exact prompt text the model sees before its completion."""
    if uses_chat_template(tokenizer, style):
        return tokenizer.apply_chat_template(messages(question, style), tokenize=False, add_generation_prompt=True)
    user = style.user_message(question)
    return f"{style.system}\n\n{user}" if style.system else user


def encode_prompts(tokenizer, prompts: list[str], style: PromptStyle | None = None,
                   device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded prompt ids and attention mask on `device`, rendered with `style` (default: the raw prompt)."""
    style = style or DEFAULT_STYLE
    texts = [render(tokenizer, prompt, style) for prompt in prompts]
    batch = tokenizer(texts, padding=True, add_special_tokens=not uses_chat_template(tokenizer, style))
    return (torch.tensor(batch["input_ids"], dtype=torch.long, device=device),
            torch.tensor(batch["attention_mask"], dtype=torch.long, device=device))


def prompt_ids(tokenizer, question: str, style: PromptStyle | None = None) -> list[int]:
    """One prompt's ids, exactly as `encode_prompts` gives them (without padding)."""
    style = style or DEFAULT_STYLE
    return tokenizer(render(tokenizer, question, style),
                     add_special_tokens=not uses_chat_template(tokenizer, style))["input_ids"]


# ---------------------------------------------------------------- what the tokenizer cannot encode


def _first_unknown(tokenizer, text: str) -> str | None:
    unk = tokenizer.unk_token_id
    return next((ch for ch in dict.fromkeys(text) if unk in tokenizer(ch, add_special_tokens=False)["input_ids"]), None)


def _where(example: Example, part: str) -> str:
    fields = example.meta.get("fields", ("prompt", "answer"))
    column = fields[0] if part == "prompt" else fields[1]
    if "source" in example.meta:
        return f"{example.meta['source']}: row {example.meta['row']}: column {column!r}"
    return f"task {part} {example.prompt[:40]!r}"


def _frame_part(style: PromptStyle, char: str) -> str:
    """Which part of the text around the question holds `char`."""
    if style.system and char in style.system:
        return "task.system_prompt"
    if char in style.template:
        return "task.prompt_template"
    if style.system:
        return "task.system_prompt (without a chat template it is put before the prompt after a blank line)"
    return "the tokenizer's chat template"


def check_encodable(tokenizer, examples: list[Example], style: PromptStyle | None = None) -> None:
    """ValueError naming the file, row and column (or the prompt) and the first character that the tokenizer
    maps to its unknown token. Tokenizers without one (byte-level BPE) encode everything."""
    unk = tokenizer.unk_token_id
    if unk is None or not examples:
        return
    style = style or DEFAULT_STYLE
    hint = ("is not in the tokenizer's vocabulary (the built-in character tokenizer covers printable ASCII without "
            "newlines; set model.name_or_path to a model whose tokenizer covers it)")
    bad = _first_unknown(tokenizer, render(tokenizer, "", style))
    if bad is not None:
        raise ValueError(f"{_frame_part(style, bad)}: character {bad!r} (U+{ord(bad):04X}) {hint}")
    for part in ("prompt", "answer"):
        texts = [(ex.prompt if part == "prompt" else ex.demonstration) or "" for ex in examples]
        ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
        row = next((i for i, row_ids in enumerate(ids) if unk in row_ids), None)
        if row is not None:
            bad = _first_unknown(tokenizer, texts[row])
            what = f"character {bad!r} (U+{ord(bad):04X})" if bad is not None else "text that maps to the unknown token"
            raise ValueError(f"{_where(examples[row], part)}: {what} {hint}")
