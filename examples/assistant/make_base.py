"""Build a tiny, randomly initialised causal language model with a tokenizer trained here: the example's base
model (`base-model/`), and what ml-ci's tests train on, since no model hub can be reached from CI.

    python make_base.py [--kind llama|qwen2|gpt2] [--out base-model] [--seed 0]

The weights are random: the example shows the pipeline (data check, tuning, LoRA training, prompt-set gates,
export), not a useful assistant. For a real model set model.base to a hub id (Qwen/Qwen2.5-0.5B-Instruct) or a
folder. The tokenizer is byte-level BPE (as GPT-2's, Llama 3's and Qwen2's are) trained on the example's own
vocabulary, with ChatML-style special tokens and chat template (as Qwen2's), so chat records work too.
"""

from __future__ import annotations

import argparse
from pathlib import Path

KINDS = ("llama", "qwen2", "gpt2")
SPECIAL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def corpus() -> list[str]:
    """What the tokenizer learns its merges from: digits, words and JSON of the example's tasks."""
    words = "what is plus minus times the sum of and answer as JSON with key result name age city country capital"
    lines = [f"Q: what is {a} plus {b}? A: {a + b}" for a in range(30) for b in range(30)]
    lines += [f'{{"result": {n}}}' for n in range(100)] + [words, words.upper()]
    lines += ["The quick brown fox jumps over the lazy dog.", "Hello, how can I help you today?"]
    return lines


def tokenizer(vocab_size: int = 512):  # -> PreTrainedTokenizerFast
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(SPECIAL), initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(corpus(), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=SPECIAL[0], pad_token=SPECIAL[0], bos_token=SPECIAL[0])
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build(kind: str = "llama", out: Path | str = "base-model", *, seed: int = 0, hidden: int = 64, layers: int = 2) -> Path:
    """A tiny `kind` model and its tokenizer saved into `out` (a Hugging Face folder); returns `out`."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    if kind not in KINDS:
        raise SystemExit(f"--kind must be one of {', '.join(KINDS)}, not {kind!r}")
    tok = tokenizer()
    ids = {"bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id}
    shape = {"vocab_size": len(tok), "num_hidden_layers": layers, "num_attention_heads": 4, "max_position_embeddings": 512}
    torch.manual_seed(seed)
    model: torch.nn.Module
    if kind == "llama":
        model = LlamaForCausalLM(
            LlamaConfig(hidden_size=hidden, intermediate_size=hidden * 2, num_key_value_heads=2, **shape, **ids)
        )
    elif kind == "qwen2":
        model = Qwen2ForCausalLM(
            Qwen2Config(
                hidden_size=hidden, intermediate_size=hidden * 2, num_key_value_heads=2, tie_word_embeddings=True, **shape, **ids
            )
        )
    else:
        model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_embd=hidden, n_layer=layers, n_head=4, n_positions=512, **ids))
    out = Path(out)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", default="llama", choices=KINDS)
    parser.add_argument("--out", default=str(Path(__file__).parent / "base-model"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(build(args.kind, args.out, seed=args.seed))


if __name__ == "__main__":
    main()
