"""Byte-level BPE ("gpt2" vocabularies: GPT-2, Llama 3, Qwen2, ...), as llama.cpp's llm_tokenizer_bpe.

A raw fragment is split by the pre-tokenizer; each piece's UTF-8 bytes are mapped to the GPT-2
byte alphabet (every byte one printable character, `bytes_to_unicode`), and adjacent symbols merge
by the rank of the pair in `tokenizer.ggml.merges` (lowest rank first, ties leftmost) until no
ranked pair is left. Each final symbol is a token; one that is not (a vocabulary whose merges
outrun its tokens) falls back to its single-byte tokens. With `ignore_merges` (llama3, tekken) a
piece that is itself a token is emitted whole.

Pieces repeat a lot in real text, so piece -> ids is cached (bounded).
"""

from __future__ import annotations

import heapq
from functools import lru_cache

from localllm.errors import TokenizerError
from localllm.tokenizer.pretokenize import PreSpec, PreTokenizer
from localllm.tokenizer.vocab import Vocab

CACHE_LIMIT = 1 << 16  # pieces remembered; the cache is dropped whole when full
_SHORT = 24  # below this many symbols the quadratic scan beats the heap


@lru_cache(maxsize=1)
def bytes_to_unicode() -> tuple[str, ...]:
    """GPT-2's byte alphabet: byte b -> a printable character (256 entries)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table: dict[int, str] = {b: chr(b) for b in keep}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return tuple(table[b] for b in range(256))


@lru_cache(maxsize=1)
def byte_encoder_table() -> dict[int, str]:
    """str.translate table mapping latin-1 code points (= bytes) to the byte alphabet."""
    return dict(enumerate(bytes_to_unicode()))


@lru_cache(maxsize=1)
def byte_decoder() -> dict[str, int]:
    return {c: b for b, c in enumerate(bytes_to_unicode())}


class BpeEncoder:
    """Encodes raw text fragments with merge ranks from the vocabulary."""

    def __init__(self, vocab: Vocab, spec: PreSpec):
        self.vocab = vocab
        self.token_to_id = vocab.index
        self.ranks = _merge_ranks(vocab.merges)
        self.pretokenizer = PreTokenizer(spec.patterns)
        self.ignore_merges = spec.ignore_merges
        self._cache: dict[str, list[int]] = {}
        self._byte_table = byte_encoder_table()

    def encode(self, text: str, prev_special: bool = False) -> list[int]:
        """One raw fragment -> ids."""
        out: list[int] = []
        cache = self._cache
        for piece in self.pretokenizer.split(text):
            ids = cache.get(piece)
            if ids is None:
                ids = self._encode_piece(piece)
                if len(cache) >= CACHE_LIMIT:
                    cache.clear()
                cache[piece] = ids
            out.extend(ids)
        return out

    def _encode_piece(self, piece: str) -> list[int]:
        word = piece.encode("utf-8").decode("latin-1").translate(self._byte_table)
        if self.ignore_merges and word in self.token_to_id:
            return [self.token_to_id[word]]
        symbols = _merge(list(word), self.ranks)
        out: list[int] = []
        for sym in symbols:
            tid = self.token_to_id.get(sym)
            if tid is not None:
                out.append(tid)
                continue
            for ch in sym:  # one byte each
                tid = self.token_to_id.get(ch)
                if tid is not None:
                    out.append(tid)
        return out


def _merge_ranks(merges: list[str]) -> dict[tuple[str, str], int]:
    """["left right", ...] -> {(left, right): rank}; the first space after index 0 separates."""
    ranks: dict[tuple[str, str], int] = {}
    for rank, merge in enumerate(merges):
        if not isinstance(merge, str):
            raise TokenizerError("tokenizer.ggml.merges must be an array of strings")
        cut = merge.find(" ", 1)
        pair = (merge[:cut], merge[cut + 1:]) if cut > 0 else ("", "")
        ranks.setdefault(pair, rank)
    return ranks


def _merge(symbols: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """Merge adjacent symbols by lowest rank, ties leftmost, until no ranked pair remains."""
    if len(symbols) < 2:
        return symbols
    if len(symbols) > _SHORT:
        return _merge_heap(symbols, ranks)
    get = ranks.get
    while len(symbols) > 1:
        best, best_rank = -1, None
        for i in range(len(symbols) - 1):
            r = get((symbols[i], symbols[i + 1]))
            if r is not None and (best_rank is None or r < best_rank):
                best, best_rank = i, r
        if best < 0:
            break
        symbols[best:best + 2] = [symbols[best] + symbols[best + 1]]
    return symbols


def _merge_heap(symbols: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """Same result as the scan in O(n log n): a heap of (rank, left index) over a linked list."""
    n = len(symbols)
    nxt = list(range(1, n)) + [-1]
    prv = list(range(-1, n - 1))
    alive: list[str | None] = list(symbols)
    heap = [(r, i, symbols[i] + symbols[i + 1]) for i in range(n - 1)
            if (r := ranks.get((symbols[i], symbols[i + 1]))) is not None]
    heapq.heapify(heap)

    def push(left: int, right: int) -> None:
        if left >= 0 and right >= 0:
            r = ranks.get((alive[left], alive[right]))
            if r is not None:
                heapq.heappush(heap, (r, left, alive[left] + alive[right]))

    while heap:
        _, left, merged = heapq.heappop(heap)
        right = nxt[left]
        if alive[left] is None or right < 0 or alive[left] + alive[right] != merged:
            continue  # stale: one side changed since this pair was queued
        alive[left], alive[right] = merged, None
        nxt[left] = nxt[right]
        if nxt[right] >= 0:
            prv[nxt[right]] = left
        push(prv[left], left)
        push(left, nxt[left])
    return [s for s in alive if s is not None]
