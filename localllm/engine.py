"""Loading a model for inference: the GGUF file, its tokenizer and its native program, with the
context settings (n_ctx, batch size, threads, KV cache types) resolved to sane defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .backend.native import Context, default_threads
from .backend.program import ModelConfig, NativeModel
from .errors import UsageError
from .gguf import GGUFFile, open_gguf
from .model_path import resolve_model
from .tokenizer import Tokenizer

DEFAULT_N_CTX = 4096
DEFAULT_N_BATCH = 512


@dataclass
class LoadedModel:
    """Everything inference needs, opened once: close() (or `with`) releases it."""

    gguf: GGUFFile
    tokenizer: Tokenizer
    model: NativeModel
    context: Context

    @property
    def n_ctx(self) -> int:
        return self.model.config.n_ctx

    @property
    def n_batch(self) -> int:
        return self.model.config.n_batch

    def close(self) -> None:
        self.context.close()

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
               n_threads: int | None = None, type_k: str = "f16", type_v: str = "f16",
               embedding: bool = False) -> LoadedModel:
    """Opens a GGUF model (the default model when None) ready to run. embedding=True: the model
    outputs hidden states after the final norm instead of logits (see localllm.embedding)."""
    gguf = open_gguf(resolve_model(model))
    tokenizer = Tokenizer.from_gguf(gguf)
    n_ctx_train = int(gguf.get(f"{gguf.get('general.architecture')}.context_length", DEFAULT_N_CTX))
    n_ctx = min(DEFAULT_N_CTX, n_ctx_train) if n_ctx is None else int(n_ctx)
    if not 1 <= n_ctx <= n_ctx_train:
        raise UsageError(f"n_ctx must be between 1 and the model's training context {n_ctx_train}, not {n_ctx}")
    if n_batch < 1:
        raise UsageError(f"n_batch must be positive, not {n_batch}")
    config = ModelConfig(n_ctx=n_ctx, n_batch=min(n_batch, n_ctx), type_k=type_k, type_v=type_v)
    context = Context(n_threads or default_threads())
    return LoadedModel(gguf=gguf, tokenizer=tokenizer, model=NativeModel(gguf, context, config, embedding=embedding),
                       context=context)
