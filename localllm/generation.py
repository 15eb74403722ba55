"""Generating text: prefill the prompt, then sample and decode one token at a time, streaming
text pieces until an end-of-generation token, a stop string, max_tokens, a full context or a
cancel. Used by the Python API and, through it, by the command line.

    gen = Generation(session, prompt_tokens, chain, max_tokens=128, stop=["\\n\\n"])
    for piece in gen:
        print(piece, end="")
    gen.finish_reason, gen.tokens, gen.stats
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from .backend.program import Aborted
from .engine import ContextFull, ProgressCallback, Session
from .sampling import Chain

FINISH_STOP = "stop"            # an end-of-generation token or a stop string
FINISH_LENGTH = "length"        # max_tokens, or the context is full
FINISH_CANCELLED = "cancelled"  # cancel() / Ctrl-C


@dataclass
class GenerationStats:
    n_prompt: int = 0              # prompt tokens
    n_prefilled: int = 0           # of which evaluated now (the rest was already in the KV cache)
    prompt_seconds: float = 0.0
    n_generated: int = 0           # tokens sampled (an end-of-generation token not counted)
    generate_seconds: float = 0.0  # from the first sample to the end
    forward_seconds: float = 0.0   # of generate_seconds, spent in the native forward pass
    n_ctx_used: int = 0
    n_ctx: int = 0

    @property
    def prompt_tps(self) -> float:
        return self.n_prefilled / self.prompt_seconds if self.prompt_seconds > 0 else 0.0

    @property
    def generate_tps(self) -> float:
        return self.n_generated / self.generate_seconds if self.generate_seconds > 0 else 0.0

    @property
    def python_overhead(self) -> float:
        """Share of the generation time spent outside the native forward pass."""
        return 1.0 - self.forward_seconds / self.generate_seconds if self.generate_seconds > 0 else 0.0


class StopStrings:
    """Finds stop strings in streamed text. Text that could still be the start of a stop string
    is held back, so a partial stop string is never emitted."""

    def __init__(self, stops: Sequence[str]):
        self.stops = [s for s in stops if s]
        self.pending = ""

    def push(self, text: str) -> tuple[str, bool]:
        """(text safe to emit, whether a stop string was found: everything from it on is dropped)."""
        self.pending += text
        hits = [i for i in (self.pending.find(s) for s in self.stops) if i >= 0]
        if hits:
            emit, self.pending = self.pending[:min(hits)], ""
            return emit, True
        hold = self._held_back()
        emit, self.pending = self.pending[:len(self.pending) - hold], self.pending[len(self.pending) - hold:]
        return emit, False

    def _held_back(self) -> int:
        """Length of the longest end of the pending text that begins some stop string."""
        for k in range(min(len(self.pending), max((len(s) for s in self.stops), default=1) - 1), 0, -1):
            tail = self.pending[-k:]
            if any(s.startswith(tail) for s in self.stops):
                return k
        return 0

    def flush(self) -> str:
        rest, self.pending = self.pending, ""
        return rest


class Generation:
    """One completion being generated on a Session. Iterate for text pieces; afterwards
    `finish_reason`, `tokens` (generated ids), `text` and `stats` say how it went."""

    def __init__(self, session: Session, prompt: Sequence[int], chain: Chain, *, max_tokens: int | None = None,
                 stop: Sequence[str] = (), progress: ProgressCallback | None = None):
        self.session = session
        self.prompt = [int(t) for t in prompt]
        self.chain = chain
        self.max_tokens = max_tokens
        self.stops = StopStrings(stop)
        self.progress = progress
        self.tokens: list[int] = []
        self.text = ""
        self.finish_reason: str | None = None
        self.stats = GenerationStats(n_prompt=len(self.prompt), n_ctx=session.n_ctx)

    def __iter__(self) -> Iterator[str]:
        model, tokenizer = self.session.model, self.session.lm.tokenizer
        model.set_abort(False)
        try:
            logits = self._prefill()
        except Aborted:
            self._finish(FINISH_CANCELLED)
            return
        detok = tokenizer.streaming_detokenizer()
        found = False  # a stop string ended the text: nothing after it is emitted
        forward_before, start = model.forward_seconds, time.perf_counter()
        while self.finish_reason is None:
            token = self.chain.sample(logits, self.session.tokens)
            self.chain.accept(token)
            if tokenizer.is_eog(token):
                self._finish(FINISH_STOP)
                break
            self.tokens.append(token)
            piece, found = self.stops.push(detok.add(token))
            if piece:
                yield self._emit(piece)
            if found:
                self._finish(FINISH_STOP)
            elif self.max_tokens is not None and len(self.tokens) >= self.max_tokens:
                self._finish(FINISH_LENGTH)
            else:
                logits = self._decode(token)
        rest = "" if found else self._rest(detok)
        self.stats.generate_seconds = time.perf_counter() - start
        self.stats.forward_seconds = model.forward_seconds - forward_before
        self.stats.n_generated = len(self.tokens)
        self.stats.n_ctx_used = len(self.session.tokens)
        if rest:
            yield self._emit(rest)

    def _prefill(self) -> np.ndarray:
        start = time.perf_counter()
        logits = self.session.prefill(self.prompt, self.progress)
        self.stats.prompt_seconds = time.perf_counter() - start
        self.stats.n_prefilled = self.session.n_prefilled
        for token in self.prompt:  # the penalties see the prompt too, as llama.cpp's do
            self.chain.accept(token)
        return logits

    def _decode(self, token: int) -> np.ndarray | None:
        try:
            return self.session.decode_one(token)
        except ContextFull:
            self._finish(FINISH_LENGTH)
        except Aborted:
            self._finish(FINISH_CANCELLED)
        return None

    def _rest(self, detok) -> str:
        """What the detokenizer and the stop-string matcher still hold at the end."""
        piece, found = self.stops.push(detok.flush())
        return piece if found else piece + self.stops.flush()

    def _emit(self, piece: str) -> str:
        self.text += piece
        return piece

    def _finish(self, reason: str) -> None:
        self.finish_reason = reason
