"""The exported language model run by ONNX Runtime GenAI: what serving, export's parity and golden checks and
evaluate's speed measurement generate with. Torch-free (onnxruntime_genai, tokenizers, numpy and the standard
library), as the serving image runs it.

An export folder (`ml-ci export`'s: model.onnx, model.onnx.data, genai_config.json, the tokenizer files) is loaded
whole: its genai_config.json says the graph's inputs, the key/value cache layout, the context length and the end of
sequence tokens, so nothing of it is repeated here.

Text is encoded and decoded by `tokenizers` from the folder's tokenizer.json, the library transformers' fast
tokenizers are: the same prompt tokens as training, and the same text as evaluate's decode (special tokens skipped).
ONNX Runtime GenAI's own tokenizer drops the rest of a text after a character left incomplete (measured on the
tiny test models' byte-level BPE), so a completion would differ from evaluate's where the model writes such bytes.

`Runtime.generate` is one prompt at a time (a single stream): the KV cache of a batch is as long as its longest
row, and on a CPU each padded position costs what a real one does; evaluate measures speed as one user sees it.
Each new token is handed to `on_token` (the token, its new text, and the seconds since the start), for streaming
and timing. The server batches concurrent requests with ONNX Runtime GenAI's engine instead (engine.py), on the
same loaded model: `max_batch_size` sizes its static batches (set before the model loads, as the library asks).
Greedy decoding (temperature 0) gives the same tokens as transformers' `generate` on the merged PyTorch model
(export's parity check holds it to that); above 0 it samples (temperature, top_p, seeded; top-k off).

Stop strings end a completion before them: the decoded text is searched after each token, and the completion is
cut at the first stop found (its tokens are kept in `tokens`). End-of-sequence tokens end it too and are not part
of it. A prompt longer than the context leaves room for max_new_tokens by keeping its last tokens. `TextStream` is
that logic, in the one place both `Runtime.generate` and the engine use: it also says which new text is safe to
show as it streams (a character split over tokens, or text that may be the start of a stop string, is held back
until it is whole, or is not one).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Optional, Union

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from ml_ci.serve.device import Device

GENAI_CONFIG = "genai_config.json"
TOKENIZER = "tokenizer.json"
Finish = Literal["eos", "length", "stop", "cancelled"]  # cancelled: only the engine's (a client gone)
# A token, its new text (possibly empty: what TextStream holds back comes with a later token; what is still held at
# the end is the completion's tail after the pieces), and the seconds since generation started (prompt included).
OnToken = Callable[[int, str, float], None]
Prompt = Union[str, Sequence[int]]


@dataclass(frozen=True, kw_only=True)
class Settings:
    """How to generate (evaluate.generation's keys)."""

    max_new_tokens: int = 64
    temperature: float = 0.0  # 0: greedy
    top_p: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = ()

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass(frozen=True, kw_only=True)
class Completion:
    text: str  # decoded, cut before the first stop string
    tokens: tuple[int, ...]  # the generated tokens, without the end-of-sequence one
    prompt_tokens: int  # as the model saw the prompt (after any cut)
    finish: Finish
    # From the prompt's first token in to the first new token out (the prompt's forward pass; the engine's count
    # from its submit, the wait for a batch included), and from the same start to the last token out.
    first_token_s: float
    total_s: float

    @property
    def tokens_per_second(self) -> Optional[float]:
        """The decode phase's speed: the tokens after the first, over the time after the first; None under two."""
        decode = self.total_s - self.first_token_s
        return (len(self.tokens) - 1) / decode if len(self.tokens) > 1 and decode > 0 else None


def _stop_at(text: str, stops: Sequence[str], start: int) -> Optional[int]:
    """Where the first stop string found at or after `start` begins, or None."""
    found = [i for i in (text.find(s, start) for s in stops) if i >= 0]
    return min(found) if found else None


def _stop_prefix(text: str, stops: Sequence[str]) -> int:
    """The length of the longest end of `text` that is the start of a stop string (it may become one)."""
    held = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), held, -1):
            if text.endswith(stop[:k]):
                held = k
                break
    return held


class TextStream:
    """One completion's text as its tokens come: the decoded text, where a stop string cuts it, and the new text safe
    to show. The whole sequence is decoded after each token (what the final text is: a byte-level tokenizer's
    character split over tokens decodes to U+FFFD until its last byte, so a piece decoded alone would differ)."""

    def __init__(self, decode: Callable[[Sequence[int]], str], stops: Sequence[str]) -> None:
        self._decode = decode
        self.stops = tuple(stops)
        self._longest = max((len(s) for s in self.stops), default=0)
        self.tokens: list[int] = []
        self.text = ""  # all the tokens decoded
        self.cut: Optional[int] = None  # where the first stop string begins, once one is found
        self.shown = 0  # how much of text the pieces returned so far cover

    @property
    def stopped(self) -> bool:
        return self.cut is not None

    @property
    def final(self) -> str:
        """The completion's text: cut before the stop string."""
        return self.text if self.cut is None else self.text[: self.cut]

    def push(self, token: int) -> str:
        """Add a token; the new text now safe to show (possibly empty)."""
        searched = max(0, len(self.text) - self._longest)  # a stop may straddle the text already searched
        self.tokens.append(token)
        self.text = self._decode(self.tokens)
        if self.stops:
            self.cut = _stop_at(self.text, self.stops, searched)
        if self.cut is not None:
            ready = self.cut
        else:
            ready = len(self.text.rstrip("\ufffd"))  # a character still incomplete
            ready -= _stop_prefix(self.text[:ready], self.stops)
        ready = max(self.shown, ready)
        piece = self.text[self.shown : ready]
        self.shown = ready
        return piece

    def rest(self) -> str:
        """What the pieces have not shown of the final text (the held-back tail, once the completion ends)."""
        final = self.final
        piece = final[self.shown :]
        self.shown = max(self.shown, len(final))
        return piece


class Runtime:
    """An export folder loaded by ONNX Runtime GenAI. Thread-compatible: use it from one thread at a time."""

    def __init__(self, folder: Path, *, threads: int = 0, max_batch_size: int = 0, device: Optional[Device] = None) -> None:
        """`device`: None is ML_CI_SERVE_DEVICE's (the CPU when unset), as every task's server reads it; a GPU that
        cannot run the model is a DeviceError (ml_ci.serve.device)."""
        import onnxruntime_genai as og
        from tokenizers import Tokenizer

        from ml_ci.serve import device as devices

        self.folder = folder
        genai = json.loads((folder / GENAI_CONFIG).read_text(encoding="utf-8"))["model"]
        self.context_length = int(genai["context_length"])
        eos = genai.get("eos_token_id")
        self.eos_token_ids: tuple[int, ...] = tuple(int(t) for t in (eos if isinstance(eos, list) else [eos]) if t is not None)
        bos = genai.get("bos_token_id")
        self.bos_token_id: Optional[int] = int(bos) if isinstance(bos, int) else None
        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.vocab_size = int(genai["vocab_size"])
        config = og.Config(str(folder))
        overlay: dict[str, Any] = {}
        if threads > 0:
            overlay["model"] = {"decoder": {"session_options": {"intra_op_num_threads": threads}}}
        if max_batch_size > 0:
            # The engine's static batches (CPU: the builder's KV cache is not paged, so no dynamic batching).
            overlay["engine"] = {"static_batching": {"max_batch_size": max_batch_size}}
        if overlay:
            config.overlay(json.dumps(overlay))
        self.max_batch_size = max_batch_size
        self._og = og
        self.device: Device = devices.selected() if device is None else device
        self.model = devices.genai_model(og, config, self.device)

    # --- tokens --------------------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        """The prompt's tokens as the served model sees them. A text that starts with the BOS token's own text
        (a rendered chat) would get a second one from a tokenizer that adds it: that one is dropped."""
        ids = [int(i) for i in self.tokenizer.encode(text).ids]
        if len(ids) >= 2 and self.bos_token_id is not None and ids[0] == ids[1] == self.bos_token_id:
            ids = ids[1:]
        return ids

    def decode(self, tokens: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(tokens), skip_special_tokens=True)) if tokens else ""

    def prompt_ids(self, prompt: Prompt, room: int = 0) -> list[int]:
        """The prompt's tokens, its first ones dropped when it and `room` new tokens exceed the context."""
        ids = self.encode(prompt) if isinstance(prompt, str) else [int(i) for i in prompt]
        if not ids:
            raise ValueError("the prompt has no tokens")
        keep = max(1, self.context_length - max(room, 1))
        return ids[-keep:] if len(ids) > keep else ids

    # --- generation ----------------------------------------------------------------------------

    def _generator(self, ids: list[int], settings: Settings) -> Any:
        params = self._og.GeneratorParams(self.model)
        length = min(self.context_length, len(ids) + settings.max_new_tokens)
        if settings.greedy:
            params.set_search_options(max_length=length, do_sample=False)
        else:
            # top_k 0 is off (measured: the same tokens as top_k = the vocabulary), as evaluate samples with transformers.
            params.set_search_options(
                max_length=length,
                do_sample=True,
                temperature=settings.temperature,
                top_p=settings.top_p,
                top_k=0,
                random_seed=settings.seed,
            )
        return self._og.Generator(self.model, params)

    def generate(self, prompt: Prompt, settings: Settings = Settings(), on_token: Optional[OnToken] = None) -> Completion:
        """One completion of `prompt` (a text, or its token ids)."""
        ids = self.prompt_ids(prompt, settings.max_new_tokens)
        stream = TextStream(self.decode, settings.stop)
        start = time.perf_counter()
        generator = self._generator(ids, settings)
        generator.append_tokens(ids)
        tokens: list[int] = []
        finish: Finish = "length"
        first = 0.0
        while not generator.is_done() and len(tokens) < settings.max_new_tokens:
            generator.generate_next_token()
            token = int(generator.get_next_tokens()[0])
            now = time.perf_counter() - start
            if not tokens:
                first = now
            if token in self.eos_token_ids:
                finish = "eos"
                break
            tokens.append(token)
            if on_token is None and not settings.stop:
                continue  # decoded once at the end
            piece = stream.push(token)
            if on_token is not None:
                on_token(token, piece, now)
            if stream.stopped:
                finish = "stop"
                break
        total = time.perf_counter() - start
        return Completion(
            text=stream.final if stream.tokens else self.decode(tokens),
            tokens=tuple(tokens),
            prompt_tokens=len(ids),
            finish=finish,
            first_token_s=first or total,
            total_s=total,
        )

    def generate_many(self, prompts: Sequence[Prompt], settings: Settings = Settings()) -> list[Completion]:
        """Each prompt's completion, in order (one after the other: see the module's docstring)."""
        return [self.generate(p, settings) for p in prompts]

    def first_logits(self, prompt: Prompt) -> npt.NDArray[np.float32]:
        """The logits the prompt's forward pass gives at each of its positions (tokens x vocabulary), float32."""
        import numpy as np

        ids = self.prompt_ids(prompt, 1)
        generator = self._generator(ids, Settings(max_new_tokens=1))
        generator.append_tokens(ids)
        logits = np.asarray(generator.get_output("logits"), dtype=np.float32)
        out: npt.NDArray[np.float32] = logits.reshape(-1, logits.shape[-1])[-len(ids) :]
        return out
