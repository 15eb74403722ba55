"""Loading a model for inference (the GGUF file, its tokenizer and its native program, with the
context settings resolved to sane defaults) and `Session`, the state of one conversation on it:
which tokens the KV cache holds, prefill with prefix reuse, decode_one, and the context policy."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .backend.native import Context, default_threads
from .backend.program import ModelConfig, NativeModel
from .backend.split import parse_gpu_layers
from .errors import ContextLengthExceeded, UsageError
from .gguf import GGUFFile, open_gguf
from .model_path import resolve_model
from .tokenizer import Tokenizer

DEFAULT_N_CTX = 4096
DEFAULT_N_BATCH = 512
LOAD_STEPS = ("reading the model file", "building the tokenizer", "preparing the program and KV cache")


@dataclass
class LoadedModel:
    """Everything inference needs, opened once: close() (or `with`) releases it."""

    gguf: GGUFFile
    tokenizer: Tokenizer
    model: NativeModel
    context: Context                     # decode (one token per forward)
    batch_context: Context | None = None  # prefill, when its thread count differs

    @property
    def n_ctx(self) -> int:
        return self.model.config.n_ctx

    @property
    def n_batch(self) -> int:
        return self.model.config.n_batch

    def close(self) -> None:
        self.context.close()
        if self.batch_context is not None:
            self.batch_context.close()

    def __enter__(self) -> "LoadedModel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def eval_tokens(self, tokens, start_pos: int = 0, logit_rows=None, seq: int = 0) -> np.ndarray:
        """Runs `tokens` through the model from position start_pos in n_batch pieces.

        logit_rows: indices into `tokens` whose logits are wanted (default: the last one);
        returns float32 [len(logit_rows), n_vocab] in that order.
        """
        tokens = np.asarray(tokens, dtype=np.int32)
        rows = np.array([len(tokens) - 1] if logit_rows is None else logit_rows, dtype=np.int64)
        out = np.empty((rows.size, self.model.n_vocab), dtype=np.float32)
        for b0 in range(0, len(tokens), self.n_batch):
            b1 = min(b0 + self.n_batch, len(tokens))
            wanted = np.nonzero((rows >= b0) & (rows < b1))[0]
            logits = self.model.forward(tokens[b0:b1], np.arange(start_pos + b0, start_pos + b1),
                                        np.full(b1 - b0, seq), logit_rows=rows[wanted] - b0)
            out[wanted] = logits
        return out


def load_model(model: str | os.PathLike | None = None, *, n_ctx: int | None = None, n_batch: int = DEFAULT_N_BATCH,
               n_threads: int | None = None, n_threads_batch: int | None = None, type_k: str = "f16",
               type_v: str = "f16", use_mmap: bool = True, embedding: bool = False, n_gpu_layers: int | str = 0,
               progress: Callable[[str], None] | None = None) -> LoadedModel:
    """Opens a GGUF model (the default model when None) ready to run.

    n_ctx: KV cache cells (default min(4096, training context); 0 = the training context);
    n_batch: most tokens per forward call (prefill runs in pieces of this size);
    n_threads / n_threads_batch: threads for decode / for prefill (default: physical cores);
    embedding: the model outputs hidden states after the final norm instead of logits (see
    localllm.embedding);
    n_gpu_layers: the last layers to run on the GPU (-1 or "all": every layer and the output head;
    GPUOffloadError when this install or machine cannot);
    progress: called with the name of each of the LOAD_STEPS as it starts."""
    step = progress or (lambda name: None)
    n_gpu_layers = parse_gpu_layers(n_gpu_layers)
    step(LOAD_STEPS[0])
    gguf = open_gguf(resolve_model(model), use_mmap=use_mmap)
    step(LOAD_STEPS[1])
    tokenizer = Tokenizer.from_gguf(gguf)
    n_ctx_train = int(gguf.get(f"{gguf.get('general.architecture')}.context_length", DEFAULT_N_CTX))
    n_ctx = min(DEFAULT_N_CTX, n_ctx_train) if n_ctx is None else int(n_ctx) or n_ctx_train
    if not 1 <= n_ctx <= n_ctx_train:
        raise UsageError(f"n_ctx must be between 1 and the model's training context {n_ctx_train}, not {n_ctx}")
    if n_batch < 1:
        raise UsageError(f"n_batch must be positive, not {n_batch}")
    config = ModelConfig(n_ctx=n_ctx, n_batch=min(n_batch, n_ctx), type_k=type_k, type_v=type_v)
    step(LOAD_STEPS[2])
    n_threads = n_threads or default_threads()
    context = Context(n_threads)
    batch_context = Context(n_threads_batch) if n_threads_batch and n_threads_batch != n_threads else None
    model = NativeModel(gguf, context, config, batch_context=batch_context, embedding=embedding,
                        n_gpu_layers=n_gpu_layers)
    return LoadedModel(gguf=gguf, tokenizer=tokenizer, model=model, context=context, batch_context=batch_context)


ProgressCallback = Callable[[int, int], None]  # (tokens evaluated so far, tokens to evaluate)


class ContextFull(Exception):
    """Decoding one more token needs a cell the context does not have (and shifting is off)."""


class Session:
    """The tokens the KV cache holds for one conversation (sequence 0, positions 0..n-1) and the
    two phases that extend it: `prefill` (a prompt, reusing the prefix already in the cache) and
    `decode_one` (one token). With context_shift, a full context drops the oldest half of the
    tokens after the first n_keep instead of stopping, as llama.cpp's --context-shift does
    (n_keep -1: the whole first prompt; a BOS token is kept on top of n_keep)."""

    def __init__(self, lm: LoadedModel, *, context_shift: bool = False, n_keep: int = 0):
        self.lm = lm
        self.model = lm.model
        self.context_shift = context_shift
        self.n_keep = n_keep
        self.tokens: list[int] = []   # the KV cache's content, in position order
        self.n_prefilled = 0          # tokens the last prefill evaluated (the rest came from the cache)
        self.n_first_prompt = 0       # length of the prompt that started from an empty cache
        self.last_logits: np.ndarray | None = None  # [n_vocab] after tokens[-1]

    @property
    def n_ctx(self) -> int:
        return self.lm.n_ctx

    def reset(self) -> None:
        self.model.kv_clear()
        self.tokens = []
        self.last_logits = None

    def truncate(self, n: int) -> None:
        """Keeps only the first n tokens in the cache."""
        if n < len(self.tokens):
            self.model.kv_remove(0, n, -1)
            del self.tokens[n:]
            self.last_logits = None

    def prefill(self, tokens: Sequence[int], progress: ProgressCallback | None = None) -> np.ndarray:
        """Brings the cache to exactly `tokens` and returns the last token's logits [n_vocab].

        Only the tokens after the longest prefix shared with the cache are evaluated (at least
        one, for its logits), in pieces of n_batch. ContextLengthExceeded if they cannot fit."""
        tokens = [int(t) for t in tokens]
        if not tokens:
            raise UsageError("the prompt is empty: there is nothing to continue from")
        if len(tokens) > self.n_ctx:
            raise ContextLengthExceeded(
                f"the prompt has {len(tokens)} tokens but the context holds {self.n_ctx} "
                f"(raise n_ctx / -c, or shorten the prompt)", n_tokens=len(tokens), n_ctx=self.n_ctx)
        if not self.tokens:
            self.n_first_prompt = len(tokens)
        reuse = min(common_prefix_length(self.tokens, tokens), len(tokens) - 1)
        self.truncate(reuse)
        todo = tokens[reuse:]
        self.n_prefilled = len(todo)
        logits = None
        for start in range(0, len(todo), self.lm.n_batch):
            piece = todo[start:start + self.lm.n_batch]
            logits = self._evaluate(piece)
            if progress is not None:
                progress(start + len(piece), len(todo))
        return logits

    def decode_one(self, token: int) -> np.ndarray:
        """Appends one token and returns its logits [n_vocab]. ContextFull when the cache is full
        and shifting is off."""
        if len(self.tokens) >= self.n_ctx:
            if not self.context_shift:
                raise ContextFull(f"the context of {self.n_ctx} tokens is full")
            self.shift()
        return self._evaluate([int(token)])

    def shift(self) -> None:
        """Drops half of the tokens after the first n_keep and moves the rest down."""
        n_past = len(self.tokens)
        bos = int(self.lm.tokenizer.bos_id is not None and self.tokens[0] == self.lm.tokenizer.bos_id)
        n_keep = min((self.n_keep if self.n_keep >= 0 else self.n_first_prompt) + bos, n_past - 2)
        n_discard = (n_past - n_keep) // 2
        self.model.kv_remove(0, n_keep, n_keep + n_discard)
        self.model.kv_shift(0, n_keep + n_discard, n_past, -n_discard)
        del self.tokens[n_keep:n_keep + n_discard]

    def _evaluate(self, piece: list[int]) -> np.ndarray:
        start = len(self.tokens)
        logits = self.model.forward(piece, np.arange(start, start + len(piece)))
        self.tokens.extend(piece)
        self.last_logits = logits[0]
        return self.last_logits


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    if n == 0:
        return 0
    differ = np.flatnonzero(np.asarray(a[:n]) != np.asarray(b[:n]))
    return int(differ[0]) if differ.size else n
