"""The sampler chain: each sampler's semantics (llama.cpp's), seeded reproducibility, typed errors."""

from __future__ import annotations

import numpy as np
import pytest

from localllm.sampling import (
    Candidates, Chain, LogitBias, MinP, Penalties, SamplingError, SamplingParams, TopK, TopP,
)
from localllm.backend.native import top_k


def top_k_indices(x, k):
    return top_k(x, k)[0]

N_VOCAB = 262144


def logits(seed: int = 0, n: int = N_VOCAB) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(n) * 3).astype(np.float32)


@pytest.mark.parametrize("k", [1, 40, 1000])
def test_top_k_indices_are_the_k_largest_in_order(k):
    x = logits(k)
    x[[5, 9]] = x.max() + 1  # a tie at the top: the lower index comes first
    np.testing.assert_array_equal(top_k_indices(x, k), np.argsort(-x, kind="stable")[:k])


def test_top_k_orders_many_ties_by_index():
    x = np.random.default_rng(5).integers(0, 4, 5000).astype(np.float32)  # thousands of equal values
    np.testing.assert_array_equal(top_k_indices(x, 100), np.argsort(-x, kind="stable")[:100])


def test_top_k_when_the_top_values_share_one_block():
    x = np.full(4096, -5.0, np.float32)
    x[100:140] = np.arange(40, dtype=np.float32)  # all 40 winners inside a few 16-value blocks
    np.testing.assert_array_equal(top_k_indices(x, 40), np.arange(139, 99, -1))


def test_top_k_skips_nan_returns_values_and_fewer_than_k():
    x = np.array([1.0, np.nan, 3.0, -np.inf, 2.0], np.float32)
    ids, vals = top_k(x, 10)
    np.testing.assert_array_equal(ids, [2, 4, 0, 3])
    np.testing.assert_array_equal(vals, [3.0, 2.0, 1.0, -np.inf])


def test_greedy_is_argmax_and_ignores_the_seed():
    x = logits(1)
    for seed in (1, 2):
        assert Chain.from_params(SamplingParams(temperature=0.0, seed=seed)).sample(x) == int(x.argmax())


def test_seeded_sampling_is_reproducible_and_reset_replays():
    x = logits(2)
    draws = []
    for _ in range(2):
        chain = Chain.from_params(SamplingParams(seed=42))
        draws.append([chain.sample(x) for _ in range(20)])
    assert draws[0] == draws[1] and len(set(draws[0])) > 1
    chain = Chain.from_params(SamplingParams(seed=42))
    first = [chain.sample(x) for _ in range(5)]
    chain.reset()
    assert [chain.sample(x) for _ in range(5)] == first


def test_default_chain_only_draws_from_the_top_40():
    x = logits(3)
    chain = Chain.from_params(SamplingParams(seed=7, min_p=0.0, top_p=1.0, temperature=5.0))
    top = set(top_k_indices(x, 40).tolist())
    assert all(chain.sample(x) in top for _ in range(200))


def test_top_p_keeps_the_smallest_prefix_reaching_p():
    c = Candidates.full(np.log(np.array([0.5, 0.3, 0.15, 0.05], np.float32)))
    TopP(0.8).apply(c)
    assert c.ids.tolist() == [0, 1]


def test_min_p_keeps_tokens_within_p_of_the_best():
    c = Candidates.full(np.log(np.array([0.5, 0.3, 0.15, 0.05], np.float32)))
    MinP(0.25).apply(c)
    assert sorted(c.ids.tolist()) == [0, 1, 2]  # 0.05 < 0.25 * 0.5


def test_top_k_larger_than_vocab_is_a_no_op():
    c = Candidates.full(logits(4, 10))
    TopK(40).apply(c)
    assert c.is_full and c.size == 10


def test_repetition_frequency_and_presence_penalties():
    x = np.array([2.0, -2.0, 1.0, 1.0], np.float32)
    p = Penalties(last_n=64, repeat=2.0, frequency=0.5, presence=0.25)
    for token in (0, 1, 1):
        p.accept(token)
    c = Candidates.full(x)
    p.apply(c)
    np.testing.assert_allclose(c.logits, [2.0 / 2 - 0.5 - 0.25, -2.0 * 2 - 1.0 - 0.25, 1.0, 1.0])
    np.testing.assert_array_equal(x, [2.0, -2.0, 1.0, 1.0])  # the caller's logits are untouched


def test_penalty_window_forgets_old_tokens():
    p = Penalties(last_n=2, repeat=2.0)
    for token in (0, 1, 2):
        p.accept(token)
    c = Candidates.full(np.array([4.0, 4.0, 4.0], np.float32))
    p.apply(c)
    np.testing.assert_allclose(c.logits, [4.0, 2.0, 2.0])


def test_logit_bias_can_ban_the_best_token():
    x = logits(5)
    best = int(x.argmax())
    chain = Chain.from_params(SamplingParams(temperature=0.0, logit_bias={best: -np.inf}))
    assert chain.sample(x) != best
    c = Candidates.full(x)
    LogitBias({best: 1.5}).apply(c)
    assert c.logits[best] == pytest.approx(x[best] + 1.5)


def test_logits_processor_runs_first():
    x = logits(6)
    ban_all_but_7 = lambda ids, scores: np.where(np.arange(scores.size) == 7, scores, -np.inf)  # noqa: E731
    assert Chain.from_params(SamplingParams(seed=1), processors=[ban_all_but_7]).sample(x) == 7


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_logits_are_a_typed_error(bad):
    x = logits(7)
    x[123] = bad
    with pytest.raises(SamplingError, match="non-finite"):
        Chain.from_params(SamplingParams(seed=1)).sample(x)
