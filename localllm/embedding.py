"""Sentence embeddings: many inputs per forward pass, pooled and normalized as llama-embedding does.

    from localllm.engine import load_model
    from localllm.embedding import Embedder

    with load_model("all-MiniLM-L6-v2.gguf", embedding=True) as lm:
        embedder = Embedder(lm)                         # pooling from the file, else "mean"
        vectors = embedder.embed(["a sentence", "another one"])          # float32 [2, n_embd], L2
        result = embedder.embed_with_counts(texts, normalize=-1)        # .vectors, .n_tokens

Public API
    POOLING_TYPES = ("none", "mean", "cls", "last")   # index = GGUF `{arch}.pooling_type`
    class Embedder(loaded_model: LoadedModel, pooling: str | None = None)
        .pooling: str          the pooling in use (argument, else the file's, else "mean")
        .n_embd: int           floats per vector
        .max_tokens: int       tokens one input may have (n_batch, n_ctx and position table bound it)
        .tokenize(text: str, *, truncate: bool = False) -> list[int]
        .embed(inputs, *, normalize: int | bool = 2, truncate: bool = False)
            -> np.ndarray float32 [n_inputs, n_embd]  (pooling "none": list of [n_tokens_i, n_embd])
        .embed_with_counts(inputs, *, normalize=2, truncate=False) -> Embeddings
    class Embeddings: vectors (as embed returns), n_tokens: list[int] (tokens evaluated per input)
    normalize_embeddings(x: np.ndarray, norm: int) -> np.ndarray   (rows of x; llama.cpp's modes)

`inputs`: a str, a sequence of int (one token list), or a sequence whose items are each a str or
a sequence of token ids. Texts are tokenized with the model's special tokens (BOS / CLS ... SEP)
and without parsing special-token text.

Protocol (llama-embedding's): each input is its own sequence (its own sequence id, positions from
0); inputs are packed in order into batches of at most n_batch tokens, one forward pass per batch,
attention masked per sequence (encoders: bidirectional; decoders: causal). The model outputs the
hidden state after its final norm; pooling: "mean" over all of an input's tokens (BOS/CLS/SEP
included), "cls" its first token, "last" its last token, "none" every token. normalize: -1 none,
0 max-abs scaled to int16 range, 1 taxicab, 2 Euclidean (default), p > 2 p-norm; True = 2,
False = -1. An input longer than `max_tokens` raises ContextLengthExceeded, unless truncate=True
(then it keeps its first tokens and, for texts, its final SEP/EOS). The model's KV cache is used as
scratch: it is cleared before every batch. Not thread-safe (one model, one forward at a time).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .engine import LoadedModel
from .errors import ContextLengthExceeded, UsageError

POOLING_TYPES = ("none", "mean", "cls", "last")
DEFAULT_POOLING = "mean"
NORMALIZE_NONE, NORMALIZE_MAX_ABS, NORMALIZE_TAXICAB, NORMALIZE_EUCLIDEAN = -1, 0, 1, 2
INT16_SCALE = 32760.0  # llama.cpp's max-abs mode scales the largest value to this


@dataclass
class Embeddings:
    """What `Embedder.embed_with_counts` returns."""

    vectors: np.ndarray | list[np.ndarray]  # [n_inputs, n_embd], or per input [n_tokens_i, n_embd] ("none")
    n_tokens: list[int]                     # tokens evaluated per input (after any truncation)


def normalize_embeddings(x: np.ndarray, norm: int) -> np.ndarray:
    """Each row of x [..., n] scaled as llama.cpp's common_embd_normalize(embd_norm=norm)."""
    x = np.asarray(x, dtype=np.float32)
    if norm < 0:
        return x.copy()
    if norm == NORMALIZE_MAX_ABS:
        scale = np.abs(x).max(axis=-1, keepdims=True) / INT16_SCALE
    elif norm == NORMALIZE_EUCLIDEAN:
        scale = np.sqrt(np.square(x, dtype=np.float64).sum(axis=-1, keepdims=True))
    else:
        scale = np.power(np.power(np.abs(x, dtype=np.float64), norm).sum(axis=-1, keepdims=True), 1.0 / norm)
    inv = np.divide(1.0, scale, out=np.zeros_like(scale, dtype=np.float64), where=scale > 0)
    return (x * inv).astype(np.float32)


def _norm_mode(normalize: int | bool) -> int:
    if isinstance(normalize, bool):
        return NORMALIZE_EUCLIDEAN if normalize else NORMALIZE_NONE
    if not isinstance(normalize, (int, np.integer)) or normalize < -1:
        raise UsageError(f"normalize must be -1 (none), 0 (max-abs), 1 (taxicab), 2 (Euclidean) or a p-norm > 2, "
                         f"not {normalize!r}")
    return int(normalize)


def _pooling_of(loaded: LoadedModel, pooling: str | None) -> str:
    if pooling is not None:
        if pooling not in POOLING_TYPES:
            raise UsageError(f"pooling must be one of {', '.join(POOLING_TYPES)}, not {pooling!r}")
        return pooling
    code = loaded.gguf.get(f"{loaded.model.hparams.arch}.pooling_type")
    if code is None:
        return DEFAULT_POOLING
    if not 0 <= int(code) < len(POOLING_TYPES):
        raise UsageError(f"the model's pooling type {int(code)} is not supported (0 none, 1 mean, 2 cls, 3 last); "
                         "choose a pooling explicitly")
    return POOLING_TYPES[int(code)]


def _is_token_list(item: object) -> bool:
    return isinstance(item, (Sequence, np.ndarray)) and not isinstance(item, (str, bytes)) and all(
        isinstance(t, (int, np.integer)) for t in item)


def pack(lengths: Sequence[int], n_batch: int) -> list[list[int]]:
    """Input indices grouped in order into batches of at most n_batch tokens (each length <= n_batch)."""
    batches: list[list[int]] = []
    used = n_batch
    for i, n in enumerate(lengths):
        if used + n > n_batch:
            batches.append([])
            used = 0
        batches[-1].append(i)
        used += n
    return batches


class Embedder:
    """Embeds texts or token lists with a model loaded with `load_model(..., embedding=True)`."""

    def __init__(self, loaded_model: LoadedModel, pooling: str | None = None):
        if not loaded_model.model.embedding:
            raise UsageError("this model was loaded for text generation; load it with embedding=True to embed")
        self.loaded = loaded_model
        self.model = loaded_model.model
        self.pooling = _pooling_of(loaded_model, pooling)
        self.n_embd = self.model.n_vocab  # floats per output row: the hidden size
        limits = [loaded_model.n_batch, loaded_model.n_ctx]
        if self.model.max_positions is not None:
            limits.append(self.model.max_positions)
        self.max_tokens = min(limits)

    # -- tokens ------------------------------------------------------------------------------------
    def tokenize(self, text: str, *, truncate: bool = False) -> list[int]:
        """The tokens the model embeds for `text` (special tokens added), fitted to max_tokens."""
        ids = self.loaded.tokenizer.encode(text, add_special=True, parse_special=False)
        return self._fit(ids, truncate, keep_last=self._ends_with_special(ids), what="the text")

    def _ends_with_special(self, ids: list[int]) -> bool:
        tok = self.loaded.tokenizer
        return bool(ids) and len(ids) > 1 and tok.is_control(ids[-1])

    def _fit(self, ids: list[int], truncate: bool, *, keep_last: bool, what: str) -> list[int]:
        limit = self.max_tokens
        if len(ids) <= limit:
            return ids
        if not truncate:
            raise ContextLengthExceeded(f"{what} has {len(ids)} tokens; at most {limit} fit in one batch "
                                        f"(n_batch {self.loaded.n_batch}, n_ctx {self.loaded.n_ctx}); "
                                        "pass truncate=True to cut it", n_tokens=len(ids), n_ctx=limit)
        return ids[:limit - 1] + ids[-1:] if keep_last else ids[:limit]

    def _token_lists(self, inputs, truncate: bool) -> list[list[int]]:
        if isinstance(inputs, str) or _is_token_list(inputs):
            inputs = [inputs]
        lists = []
        for i, item in enumerate(inputs):
            if isinstance(item, str):
                ids = self.tokenize(item, truncate=truncate)
            elif _is_token_list(item):
                ids = self._fit([int(t) for t in item], truncate, keep_last=False, what=f"input {i}")
            else:
                raise UsageError(f"input {i} is a {type(item).__name__}; expected a str or a list of token ids")
            if not ids:
                raise UsageError(f"input {i} has no tokens")
            lists.append(ids)
        return lists

    # -- embedding ---------------------------------------------------------------------------------
    def embed(self, inputs, *, normalize: int | bool = NORMALIZE_EUCLIDEAN,
              truncate: bool = False) -> np.ndarray | list[np.ndarray]:
        """Vectors float32 [n_inputs, n_embd] (pooling "none": a list of [n_tokens_i, n_embd])."""
        return self.embed_with_counts(inputs, normalize=normalize, truncate=truncate).vectors

    def embed_with_counts(self, inputs, *, normalize: int | bool = NORMALIZE_EUCLIDEAN,
                          truncate: bool = False) -> Embeddings:
        """`embed`, plus the number of tokens each input was evaluated with."""
        norm = _norm_mode(normalize)
        lists = self._token_lists(inputs, truncate)
        pooled: list[np.ndarray] = [np.empty(0, np.float32)] * len(lists)
        for batch in pack([len(ids) for ids in lists], self.max_tokens):
            vectors = self._run_batch([lists[i] for i in batch])
            if self.pooling == "none":
                vectors = [normalize_embeddings(v, norm) for v in vectors]
            else:  # one call for the batch's [n_seq, n_embd]
                vectors = normalize_embeddings(np.stack(vectors), norm)
            for i, vector in zip(batch, vectors):
                pooled[i] = vector
        if self.pooling == "none":
            vectors: np.ndarray | list[np.ndarray] = pooled
        else:
            vectors = np.stack(pooled) if pooled else np.empty((0, self.n_embd), np.float32)
        return Embeddings(vectors, [len(ids) for ids in lists])

    def _run_batch(self, lists: list[list[int]]) -> list[np.ndarray]:
        """One forward pass over the sequences of `lists`; their pooled vectors, unnormalized."""
        lengths = np.array([len(ids) for ids in lists])
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])            # [n_seq] first row of each
        tokens = np.concatenate([np.asarray(ids, np.int32) for ids in lists])
        positions = np.concatenate([np.arange(n, dtype=np.int32) for n in lengths])
        seq_ids = np.repeat(np.arange(len(lists), dtype=np.int32), lengths)
        if self.pooling == "cls":
            rows = starts
        elif self.pooling == "last":
            rows = starts + lengths - 1
        else:
            rows = np.arange(tokens.size)
        self.model.kv_clear()
        hidden = self.model.forward(tokens, positions, seq_ids, logit_rows=rows)  # [len(rows), n_embd]
        if self.pooling in ("cls", "last"):
            return list(hidden)
        if self.pooling == "none":
            return np.split(hidden, starts[1:])                              # per sequence [n_i, n_embd]
        means = np.add.reduceat(hidden, starts, axis=0, dtype=np.float64) / lengths[:, None]  # [n_seq, n_embd]
        return list(means.astype(np.float32))
