"""The default model (gemma3) against llama.cpp's ground truth in ../shared/reference/gemma3-270m:
logits at every position, greedy continuations, perplexity; plus batching and threading invariants.

Tolerances. Both sides quantize activations to 8 bits before every matmul, and this model carries
activation outliers large enough that one rounding flipping in one block moves later logits by
tenths: scaling the attention scores by (1 + 1e-7) alone moves some positions' logits by 0.2-0.6.
A float64 evaluation of the same quantized weights agrees with llama.cpp only to top-1 ~96 %,
median |top-40 difference| ~0.15 and |logsumexp difference| up to ~0.4, and localllm lands at the
same distance (it reproduces llama.cpp's positions 0-1 bit for bit, then the flips diverge). So the
bounds below sit at that measured noise floor, not at the few hundredths only a bit-exact copy of
llama.cpp's AVX-512 kernels could reach; a wrong RoPE base, norm, window or scale moves every bound
by an order of magnitude (see benchmarks/RESULTS.md, "Agreement with llama.cpp").
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import psutil
import pytest

from localllm.engine import load_model
from localllm.perplexity import perplexity

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "gemma3-270m"
pytestmark = pytest.mark.slow


def reference_json(name: str):
    return json.loads((REFERENCE / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def lm(default_model_path):
    with load_model(default_model_path, n_ctx=1024, n_batch=512, n_threads=2) as model:
        yield model


def all_logits(lm, tokens) -> np.ndarray:
    lm.model.kv_clear()
    return lm.eval_tokens(tokens, logit_rows=np.arange(len(tokens)))


def greedy(lm, prompt_tokens, n_new: int) -> list[int]:
    lm.model.kv_clear()
    logits = lm.eval_tokens(prompt_tokens)
    out = []
    for i in range(n_new):
        out.append(int(logits[-1].argmax()))
        logits = lm.eval_tokens([out[-1]], start_pos=len(prompt_tokens) + i)
    return out


def test_logits_match_llama_cpp(lm):
    ref = np.load(REFERENCE / "logits.npz")
    top1, diffs, lse_err = [], [], []
    for i in range(len(reference_json("logits_prompts.json"))):
        tokens = ref[f"p{i}_tokens"]
        logits = all_logits(lm, tokens)
        top_ids, top_logits = ref[f"p{i}_top_ids"].astype(np.int64), ref[f"p{i}_top_logits"]
        top1.append(logits.argmax(axis=1) == top_ids[:, 0])
        diffs.append(np.abs(np.take_along_axis(logits, top_ids, axis=1) - top_logits).ravel())
        peak = logits.max(axis=1, keepdims=True).astype(np.float64)
        lse = np.log(np.exp(logits - peak).sum(axis=1)) + peak[:, 0]
        lse_err.append(np.abs(lse - ref[f"p{i}_logsumexp"]))
    agreement = np.concatenate(top1).mean()
    median_diff = np.median(np.concatenate(diffs))
    worst_lse = np.concatenate(lse_err).max()
    print(f"top-1 agreement {agreement:.4f}, median |top-40 logit diff| {median_diff:.4f}, max |lse diff| {worst_lse:.4f}")
    assert agreement >= 0.95
    assert median_diff <= 0.25
    assert worst_lse <= 1.5


NEAR_TIE = 0.75  # logit gap inside the noise floor described above


def test_greedy_steps_follow_llama_cpp(lm):
    """Teacher-forced along llama.cpp's greedy continuation (prompt in one batch, then one token at
    a time): at every step llama.cpp's token is our argmax or a near tie with it, and most steps
    agree exactly. (Free-running greedy decoding drifts apart after the first noise-level tie.)"""
    exact = steps = 0
    for case in reference_json("greedy.json")["cases"]:
        prompt, reference = case["prompt_tokens"], case["greedy_tokens"][:16]
        assert lm.tokenizer.encode(case["prompt"], add_special=True, parse_special=True) == prompt
        lm.model.kv_clear()
        logits = lm.eval_tokens(prompt)[-1]
        for i, expected in enumerate(reference):
            ours = int(logits.argmax())
            gap = float(logits[ours] - logits[expected])
            assert gap < NEAR_TIE, f"{case['prompt']!r} step {i}: {ours} beats llama.cpp's {expected} by {gap:.3f}"
            exact, steps = exact + (ours == expected), steps + 1
            logits = lm.eval_tokens([expected], start_pos=len(prompt) + i)[-1]
    print(f"greedy steps agreeing exactly with llama.cpp: {exact} of {steps}")
    assert exact / steps >= 0.9


@pytest.mark.parametrize("run", reference_json("perplexity.json")["runs"], ids=lambda r: f"c{r['n_ctx']}")
def test_perplexity_matches(lm, run):
    text = (REFERENCE / "perplexity_text.txt").read_text(encoding="utf-8")
    result = perplexity(lm, text, run["n_ctx"])
    print(f"-c {run['n_ctx']}: PPL {result.ppl:.4f} +/- {result.stderr:.4f} (llama.cpp {run['ppl']})")
    assert result.n_chunks == run["n_chunks"]
    assert abs(result.ppl / run["ppl"] - 1) <= 0.01
    np.testing.assert_allclose(result.running_ppl, run["chunk_running_ppl"], rtol=0.02)


def test_batch_sizes_agree(lm):
    tokens = np.load(REFERENCE / "logits.npz")["p1_tokens"]
    whole = all_logits(lm, tokens)[-1]
    lm.model.kv_clear()
    for start in range(0, len(tokens), 7):
        chunked = lm.eval_tokens(tokens[start:start + 7], start_pos=start)[-1]
    lm.model.kv_clear()
    for pos, token in enumerate(tokens):
        one_by_one = lm.eval_tokens([token], start_pos=pos)[-1]
    scale = np.abs(whole).max()
    assert np.abs(chunked - whole).max() / scale <= 1e-3
    assert np.abs(one_by_one - whole).max() / scale <= 1e-3


def test_one_and_two_threads_agree(default_model_path, lm):
    case = reference_json("greedy.json")["cases"][1]
    with load_model(default_model_path, n_ctx=256, n_batch=64, n_threads=1) as single:
        assert greedy(single, case["prompt_tokens"], 16) == greedy(lm, case["prompt_tokens"], 16)
        tokens = case["prompt_tokens"]
        single.model.kv_clear()
        lm.model.kv_clear()
        np.testing.assert_array_equal(single.eval_tokens(tokens), lm.eval_tokens(tokens))  # bit for bit


def test_long_prompt_memory_is_bounded_by_the_kv_cache(default_model_path):
    text = (REFERENCE / "perplexity_text.txt").read_text(encoding="utf-8")
    process = psutil.Process(os.getpid())
    with load_model(default_model_path, n_ctx=4096, n_batch=512, n_threads=2) as big:
        tokens = big.tokenizer.encode(text * 2)[:4000]
        assert len(tokens) == 4000
        big.eval_tokens(tokens[:8])   # pages every weight in, so what follows measures activations
        big.model.kv_clear()
        before = process.memory_info().rss
        logits = big.eval_tokens(tokens)
        growth = process.memory_info().rss - before
        allowed = big.model.kv_bytes + big.model.buffer_bytes + 32 * 2**20   # + matmul scratch
        n_by_n = 4000 * 4000 * 4 * big.model.hparams.n_head
        print(f"4000-token prompt: RSS growth {growth / 2**20:.1f} MiB; KV cache {big.model.kv_bytes / 2**20:.1f} MiB, "
              f"activation buffers {big.model.buffer_bytes / 2**20:.1f} MiB; "
              f"an n x n score matrix would be {n_by_n / 2**20:.0f} MiB")
        assert np.isfinite(logits).all()
        assert growth < allowed
