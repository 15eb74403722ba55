"""Sampling: a chain of small samplers, as llama.cpp's sampler chain.

Each sampler has `apply(c: Candidates)` (narrow or reshape the candidate set), `accept(token)`
(see the token that was chosen) and `reset()`. The default chain is llama.cpp's:
penalties -> top-k -> top-p -> min-p -> temperature -> a seeded draw (temperature <= 0: greedy).

Over a 262,144-token vocabulary the default chain costs well under 1 ms: top-k finds its k
candidates in one native pass over the logits (no sort), and everything after it works on k
candidates.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

from .backend.native import top_k
from .errors import LocalLLMError

LogitsProcessor = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (input_ids, scores) -> scores


class SamplingError(LocalLLMError):
    """The model produced logits that cannot be sampled from (NaN or +inf)."""


@dataclass
class Candidates:
    """The tokens still in play: ids[i] has logit logits[i]. `is_sorted`: descending by logit."""

    ids: np.ndarray | None  # int64 [n]; None while every token is in play (a token's index is its id)
    logits: np.ndarray      # float32 [n]
    is_sorted: bool = False

    @classmethod
    def full(cls, logits: np.ndarray) -> "Candidates":
        return cls(None, logits)

    @property
    def is_full(self) -> bool:
        return self.ids is None

    @property
    def size(self) -> int:
        return self.logits.size

    def keep(self, index) -> None:
        """Keeps the candidates at `index` (integer indices or a boolean mask)."""
        self.ids = (np.flatnonzero(index) if index.dtype == bool else index) if self.is_full else self.ids[index]
        self.logits = self.logits[index]

    def token(self, i: int) -> int:
        return int(i if self.is_full else self.ids[i])

    def find(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(indices into the candidates, which of `tokens` they are) for the tokens still in play."""
        if self.is_full:
            present = np.flatnonzero((tokens >= 0) & (tokens < self.size))
            return tokens[present], present
        where = np.flatnonzero(np.isin(self.ids, tokens))
        return where, np.searchsorted(tokens, self.ids[where])  # tokens must be sorted

    def add(self, where: np.ndarray, delta: np.ndarray) -> None:
        """logits[where] += delta (on a copy: the caller's logits are never modified)."""
        self.logits = self.logits.copy()
        self.logits[where] += delta
        self.is_sorted = False

    def sort(self) -> None:
        if not self.is_sorted:
            order = np.argsort(-self.logits, kind="stable")
            self.keep(order)
            self.is_sorted = True

    def probs(self) -> np.ndarray:
        """Softmax of the candidates' logits, in float64."""
        x = self.logits.astype(np.float64)
        e = np.exp(x - x.max())
        return e / e.sum()


class Sampler(ABC):
    """One step of the chain: apply() narrows or reshapes the candidates; accept() sees the token
    that was chosen; reset() forgets any history. Stateless samplers keep the no-op defaults."""

    @abstractmethod
    def apply(self, c: Candidates) -> None:
        """Narrow or reshape the candidates in place."""

    def accept(self, token: int) -> None:
        pass

    def reset(self) -> None:
        pass


class Penalties(Sampler):
    """Repetition (divide positive / multiply negative logits), frequency and presence penalties
    over the last `last_n` accepted tokens (llama.cpp semantics; 1.0 / 0 / 0 disable them)."""

    def __init__(self, last_n: int = 64, repeat: float = 1.0, frequency: float = 0.0, presence: float = 0.0):
        self.last_n, self.repeat, self.frequency, self.presence = last_n, repeat, frequency, presence
        self.history: deque[int] = deque(maxlen=max(last_n, 0) or None)

    @property
    def active(self) -> bool:
        return self.last_n != 0 and (self.repeat != 1.0 or self.frequency != 0.0 or self.presence != 0.0)

    def apply(self, c: Candidates) -> None:
        if not self.active or not self.history:
            return
        tokens, counts = np.unique(np.fromiter(self.history, dtype=np.int64), return_counts=True)
        where, which = c.find(tokens)
        logit = c.logits[where]
        penalized = np.where(logit > 0, logit / self.repeat, logit * self.repeat)
        c.add(where, penalized - logit - counts[which] * self.frequency - self.presence)

    def accept(self, token: int) -> None:
        if self.last_n != 0:
            self.history.append(int(token))

    def reset(self) -> None:
        self.history.clear()


@dataclass
class LogitBias(Sampler):
    """Adds bias[token] to a token's logit (-inf bans it)."""

    bias: dict[int, float]

    def apply(self, c: Candidates) -> None:
        if not self.bias:
            return
        tokens = np.array(sorted(self.bias), dtype=np.int64)
        values = np.array([self.bias[t] for t in tokens], dtype=np.float32)
        where, which = c.find(tokens)
        c.add(where, values[which])


@dataclass
class TopK(Sampler):
    k: int

    def apply(self, c: Candidates) -> None:
        if 0 < self.k < c.size:
            ids, logits = top_k(c.logits, self.k)
            c.ids = ids if c.is_full else c.ids[ids]
            c.logits = logits
            c.is_sorted = True


@dataclass
class TopP(Sampler):
    """Keeps the smallest prefix of the sorted candidates whose probability reaches p."""

    p: float
    min_keep: int = 1

    def apply(self, c: Candidates) -> None:
        if self.p >= 1.0:
            return
        c.sort()
        cumulative = np.cumsum(c.probs())
        n = max(int(np.searchsorted(cumulative, self.p)) + 1, self.min_keep)
        c.keep(np.arange(min(n, c.size)))


@dataclass
class MinP(Sampler):
    """Keeps candidates whose probability is at least p times the largest one."""

    p: float
    min_keep: int = 1

    def apply(self, c: Candidates) -> None:
        if self.p <= 0.0:
            return
        keep = c.logits >= c.logits.max() + np.log(self.p)
        if keep.sum() >= self.min_keep:
            c.keep(keep)


@dataclass
class Temperature(Sampler):
    t: float

    def apply(self, c: Candidates) -> None:
        if self.t > 0 and self.t != 1.0:
            c.logits = c.logits / np.float32(self.t)


class Greedy:
    """Picks the largest logit."""

    def select(self, c: Candidates) -> int:
        return c.token(0 if c.is_sorted else int(np.argmax(c.logits)))

    def reset(self) -> None:
        pass


class Draw:
    """Draws from the softmax of the candidates with a seeded generator."""

    def __init__(self, seed: int | None = None):
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def select(self, c: Candidates) -> int:
        probs = c.probs()
        return c.token(min(int(np.searchsorted(np.cumsum(probs), self.rng.random() * probs.sum())), probs.size - 1))

    def reset(self) -> None:
        self.rng = np.random.default_rng(self.seed)


@dataclass
class SamplingParams:
    """llama.cpp's defaults."""

    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 0.95
    min_p: float = 0.05
    repeat_penalty: float = 1.0
    repeat_last_n: int = 64
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    seed: int | None = None
    logit_bias: dict[int, float] = field(default_factory=dict)


class Chain:
    """The samplers in order and a final selector; `sample(logits)` -> token id."""

    def __init__(self, samplers: Sequence, selector, processors: Iterable[LogitsProcessor] = ()):
        self.samplers = list(samplers)
        self.selector = selector
        self.processors = list(processors)

    @classmethod
    def from_params(cls, p: SamplingParams, processors: Iterable[LogitsProcessor] = ()) -> "Chain":
        samplers: list = [LogitBias(dict(p.logit_bias)),
                          Penalties(p.repeat_last_n, p.repeat_penalty, p.frequency_penalty, p.presence_penalty)]
        if p.temperature <= 0:
            return cls(samplers, Greedy(), processors)
        samplers += [TopK(p.top_k), TopP(p.top_p), MinP(p.min_p), Temperature(p.temperature)]
        return cls(samplers, Draw(p.seed), processors)

    def sample(self, logits: np.ndarray, input_ids: np.ndarray | None = None) -> int:
        """One token from float32 logits [n_vocab] (not modified)."""
        for processor in self.processors:
            logits = np.asarray(processor(np.asarray(input_ids if input_ids is not None else []), logits),
                                dtype=np.float32)
        peak = logits.max()
        if not np.isfinite(peak):
            raise SamplingError(f"the model produced non-finite logits (max {peak}); the output would be garbage")
        candidates = Candidates.full(logits)
        for sampler in self.samplers:
            sampler.apply(candidates)
        if candidates.size == 0:
            raise SamplingError("every token was filtered out (check logit_bias and the sampler settings)")
        return self.selector.select(candidates)

    def accept(self, token: int) -> None:
        for sampler in self.samplers:
            sampler.accept(token)

    def reset(self) -> None:
        for sampler in self.samplers:
            sampler.reset()
        self.selector.reset()
