"""Architecture oracles: tiny random-weight models built with transformers, converted to GGUF by
`localllm.convert`, run by the native core, and compared with transformers (torch CPU, float32,
eager attention) on the same token ids, logits at every position.

Weights are re-drawn so that attention is far from uniform (matrices N(0, (1.5 / sqrt(fan_in))^2),
norm scales 1 + N(0, 0.2^2) (gemma3 stores w for a scale of 1 + w, so w ~ N(0, 0.2^2) there), biases
N(0, 0.2^2)): with transformers' default init (std 0.02) the attention scores are ~1e-5 and a wrong
RoPE layout, window or scale would hide under the tolerance. The checkpoints have no tokenizer
files, so the converter writes tokenizer.ggml.model "none" and the tests feed token ids.
40 tokens exceed gemma3's 8-token window, so both local and global layers are exercised.

Tolerances, relative to the logit scale (max |reference logit|):
- F32 weights, F32 KV cache: max |diff| <= 1e-3 * scale (measured: ~2e-6 to 5e-6). Only the float
  summation order differs.
- Q8_0 weights, F16 KV cache: calibrated on the model itself. The fixture also runs transformers
  with every weight row rounded through the same Q8_0 quantizer (what the GGUF holds); that error,
  e_w, is the price of Q8_0 weights alone. localllm additionally rounds each activation row to Q8_0
  before its matmuls (llama.cpp does the same), an error of the same size, so its distance to the
  F32 reference should be about sqrt(2) * e_w (measured 1.0-1.6x in max, 1.2-1.4x in rms). Bounds:
  rms(diff) <= 2 * rms(e_w) and max |diff| <= 3 * max |e_w|. A modelling bug (RoPE layout, a norm, the
  window) moves logits by 25-140 % of the scale, orders of magnitude past either bound.
The same prompt is also processed in 7-token chunks and token by token (the decode path), with an
F32 KV cache. F32 weights: all three agree to 1e-4 * scale (measured: bit-identical). Q8_0 weights
cannot be held that close on these models: decode and prefill kernels add blocks in different
orders (~1e-7 relative), and one such difference that flips the int8 rounding of an activation moves
it by up to 1/254 of its block's maximum, which these deliberately sharp random models amplify to
~1e-2 (measured up to 6e-2 on gemma3). So each way of feeding the prompt must pass the Q8_0
accuracy bounds above on its own; a decode path that got positions, the cache or RoPE wrong would
be off by the whole logit scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import (
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

from localllm.backend.native import Context, dequantize_row, quantize_row
from localllm.backend.program import ModelConfig, NativeModel
from localllm.convert import convert
from localllm.gguf import GGMLType, open_gguf

N_TOKENS = 40
THREADS = 2
F32_TOL = 1e-3
Q8_MAX_RATIO, Q8_RMS_RATIO = 3.0, 2.0
SPLIT_TOL = 1e-4
GAIN = 1.5             # weight matrices ~ N(0, (GAIN / sqrt(fan_in))^2)
COMMON = {"hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 256,
          "intermediate_size": 128, "max_position_embeddings": 512, "attn_implementation": "eager"}


@dataclass(frozen=True)
class Case:
    name: str
    model_class: type
    config: object
    arch: str


def _cases() -> list[Case]:
    llama3 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
              "original_max_position_embeddings": 64, "rope_theta": 10000.0}
    return [
        Case("llama", LlamaForCausalLM, LlamaConfig(num_hidden_layers=2, head_dim=16, **COMMON), "llama"),
        Case("llama3-rope", LlamaForCausalLM,
             LlamaConfig(num_hidden_layers=2, head_dim=16, rope_parameters=llama3, tie_word_embeddings=True, **COMMON),
             "llama"),
        Case("qwen2", Qwen2ForCausalLM, Qwen2Config(num_hidden_layers=2, tie_word_embeddings=True, **COMMON), "qwen2"),
        Case("qwen3", Qwen3ForCausalLM, Qwen3Config(num_hidden_layers=2, head_dim=32, **COMMON), "qwen3"),
        Case("gemma3", Gemma3ForCausalLM,
             Gemma3TextConfig(num_hidden_layers=6, head_dim=32, query_pre_attn_scalar=32, sliding_window=8,
                              **COMMON), "gemma3"),
    ]


CASES = _cases()


def _randomize(model: torch.nn.Module, seed: int, norm_offset: float) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if p.ndim >= 2:
                p.copy_(noise * (GAIN / math.sqrt(p.shape[-1])))
            elif "norm" in name:
                p.copy_(norm_offset + 0.2 * noise)
            else:
                p.copy_(0.2 * noise)


def _round_weights_q8_0(model: torch.nn.Module) -> None:
    """Each weight row through quantize + dequantize Q8_0, as the converter stores it (q/k row
    permutation for llama moves whole rows, so the blocks are the same)."""
    for p in model.parameters():
        if p.ndim >= 2 and p.shape[-1] % 32 == 0:
            rows = quantize_row(GGMLType.Q8_0, p.detach().numpy().reshape(-1))
            p.copy_(torch.from_numpy(dequantize_row(GGMLType.Q8_0, rows, p.numel()).reshape(p.shape)))


@dataclass
class Built:
    case: Case
    hf_dir: Path
    tokens: np.ndarray
    reference: np.ndarray        # [N_TOKENS, n_vocab] transformers logits
    reference_q8: np.ndarray     # the same with every weight row rounded through Q8_0


@pytest.fixture(scope="module", params=CASES, ids=[c.name for c in CASES])
def built(request, tmp_path_factory) -> Built:
    case: Case = request.param
    torch.manual_seed(0)
    model = case.model_class(case.config).eval()
    _randomize(model, seed=1234, norm_offset=0.0 if case.arch == "gemma3" else 1.0)
    hf_dir = tmp_path_factory.mktemp(case.name)
    model.save_pretrained(hf_dir)
    tokens = np.random.default_rng(7).integers(0, case.config.vocab_size, N_TOKENS)
    with torch.no_grad():
        reference = model(torch.tensor(tokens[None])).logits[0].float().numpy()
        _round_weights_q8_0(model)
        reference_q8 = model(torch.tensor(tokens[None])).logits[0].float().numpy()
    return Built(case, hf_dir, tokens, reference, reference_q8)


def _native(path: Path, kv: str) -> NativeModel:
    return NativeModel(open_gguf(path), Context(THREADS), ModelConfig(n_ctx=256, n_batch=64, type_k=kv, type_v=kv))


def _all_logits(model: NativeModel, tokens: np.ndarray) -> np.ndarray:
    n = tokens.size
    return model.forward(tokens, np.arange(n), logit_rows=range(n))


def _converted(built: Built, outtype: str, tmp_path: Path) -> Path:
    return convert(built.hf_dir, tmp_path / f"{built.case.name}-{outtype}.gguf", outtype)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt((x.astype(np.float64) ** 2).mean()))


def _report(built: Built, outtype: str, diff: np.ndarray) -> str:
    scale = float(np.abs(built.reference).max())
    worst = np.abs(diff).max(1)
    return (f"{built.case.name} {outtype}: logit scale {scale:.3f}, max |diff| {worst.max():.3e} "
            f"({worst.max() / scale:.2e} relative, at position {int(worst.argmax())} of {worst.size})")


def test_f32_matches_transformers(built: Built, tmp_path: Path) -> None:
    path = _converted(built, "f32", tmp_path)
    with open_gguf(path) as f:
        assert f.get("general.architecture") == built.case.arch
    logits = _all_logits(_native(path, "f32"), built.tokens)
    diff = logits - built.reference
    scale = np.abs(built.reference).max()
    print(_report(built, "f32", diff))
    assert np.abs(diff).max() <= F32_TOL * scale, _report(built, "f32", diff)
    assert (logits.argmax(1) == built.reference.argmax(1)).all()


def _check_q8_0(built: Built, logits: np.ndarray, what: str) -> None:
    diff, weight_err = logits - built.reference, built.reference_q8 - built.reference
    rms, weight_rms = _rms(diff), _rms(weight_err)
    print(_report(built, what, diff), f"rms {rms:.3e}; Q8_0 weights alone: max {np.abs(weight_err).max():.3e} "
          f"rms {weight_rms:.3e}")
    assert np.abs(diff).max() <= Q8_MAX_RATIO * np.abs(weight_err).max(), _report(built, what, diff)
    assert rms <= Q8_RMS_RATIO * weight_rms, f"{built.case.name} {what}: rms {rms:.3e} vs weights alone {weight_rms:.3e}"


def test_q8_0_matches_transformers(built: Built, tmp_path: Path) -> None:
    path = _converted(built, "q8_0", tmp_path)
    with open_gguf(path) as f:
        assert f.tensor("blk.0.attn_q.weight").type == GGMLType.Q8_0
        assert f.tensor("blk.0.attn_norm.weight").type == GGMLType.F32
    _check_q8_0(built, _all_logits(_native(path, "f16"), built.tokens), "q8_0")


@pytest.mark.parametrize("outtype", ["f32", "q8_0"])
def test_batch_chunks_and_single_tokens_agree(built: Built, outtype: str, tmp_path: Path) -> None:
    path = _converted(built, outtype, tmp_path)
    model, n = _native(path, "f32"), built.tokens.size
    whole = _all_logits(model, built.tokens)
    pieces = {}
    for step in (7, 1):
        model.kv_clear()
        rows = []
        for start in range(0, n, step):
            chunk = built.tokens[start:start + step]
            rows.append(model.forward(chunk, np.arange(start, start + chunk.size), logit_rows=range(chunk.size)))
        pieces[step] = np.concatenate(rows)
    scale = np.abs(whole).max()
    for step, logits in pieces.items():
        err = np.abs(logits - whole).max()
        print(f"{built.case.name} {outtype}: step {step} differs from one batch by {err:.3e}")
        if outtype == "f32":
            assert err <= SPLIT_TOL * scale, f"{built.case.name}: step {step} differs by {err:.3e}"
        else:
            _check_q8_0(built, logits, f"q8_0 step {step}")
