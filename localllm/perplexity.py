"""Perplexity with llama-perplexity's protocol:

1. tokenize the whole text once with BOS (add_special, no special-token parsing);
2. chunk c = tokens[c*n_ctx : (c+1)*n_ctx] with its first token replaced by BOS, KV cache cleared
   between chunks;
3. score positions j = n_ctx/2 .. n_ctx-2 of each chunk: -log softmax(logits[j])[chunk[j+1]];
4. PPL = exp(mean); its standard error = PPL * sqrt(var / (N - 1)) over the N scored tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .engine import LoadedModel
from .errors import UsageError


@dataclass
class PerplexityResult:
    ppl: float
    stderr: float
    n_ctx: int
    n_chunks: int
    n_scored: int
    running_ppl: list[float] = field(default_factory=list)   # after each chunk


def token_nll(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """-log softmax(logits)[target] per row, in float64. logits [n, vocab], targets [n]."""
    x = logits.astype(np.float64)
    top = x.max(axis=1, keepdims=True)
    lse = np.log(np.exp(x - top).sum(axis=1)) + top[:, 0]
    return lse - x[np.arange(len(targets)), targets]


def perplexity(lm: LoadedModel, text: str, n_ctx: int, n_chunks: int | None = None,
               progress: Callable[[int, int, float], None] | None = None) -> PerplexityResult:
    """PPL of `text` in chunks of n_ctx tokens; progress(chunk_done, n_chunks, running_ppl)."""
    tokens = np.array(lm.tokenizer.encode(text, add_special=True, parse_special=False), dtype=np.int32)
    available = len(tokens) // n_ctx
    if n_ctx < 4 or n_ctx > lm.n_ctx:
        raise UsageError(f"-c must be between 4 and the context size {lm.n_ctx}, not {n_ctx}")
    if available == 0:
        raise UsageError(f"the text has {len(tokens)} tokens, fewer than one chunk of {n_ctx}")
    n_chunks = available if n_chunks is None else min(int(n_chunks), available)
    first = n_ctx // 2
    rows = np.arange(first, n_ctx - 1)
    nll_sum = nll_sq = 0.0
    count = 0
    running = []
    for c in range(n_chunks):
        chunk = tokens[c * n_ctx:(c + 1) * n_ctx].copy()
        if lm.tokenizer.bos_id is not None:
            chunk[0] = lm.tokenizer.bos_id
        lm.model.kv_clear()
        nll = token_nll(lm.eval_tokens(chunk, logit_rows=rows), chunk[rows + 1])
        nll_sum, nll_sq, count = nll_sum + nll.sum(), nll_sq + (nll * nll).sum(), count + nll.size
        running.append(math.exp(nll_sum / count))
        if progress:
            progress(c + 1, n_chunks, running[-1])
    mean = nll_sum / count
    var = max(nll_sq / count - mean * mean, 0.0)
    ppl = math.exp(mean)
    stderr = ppl * math.sqrt(var / (count - 1)) if count > 1 else float("nan")
    return PerplexityResult(ppl=ppl, stderr=stderr, n_ctx=n_ctx, n_chunks=n_chunks, n_scored=count, running_ppl=running)
