"""What differs per architecture when converting: which HF classes map to which GGUF
architecture, the metadata keys, the tokenizer kinds, and how tensors change on the way.

The facts follow llama.cpp's converter (convert_hf_to_gguf.py and its conversion/ package):

- every text model writes block_count, context_length, embedding_length, feed_forward_length,
  attention.head_count(_kv), rope.freq_base, attention.layer_norm_rms_epsilon, attention.key_length
  and value_length (when the config names head_dim), rope scaling keys (linear / yarn / longrope);
- llama adds vocab_size and rope.dimension_count; its q_proj / k_proj weights (and biases) are
  permuted from HF's half-split RoPE layout to GGUF's interleaved pairs; llama3 RoPE scaling becomes
  a `rope_freqs.weight` tensor of per-frequency divisors (head_dim / 2 values);
- qwen2 and qwen3 write the common keys only (NeoX RoPE: no permutation);
- gemma3 writes its own set (no vocab_size), the sliding window, the global RoPE base, linear
  scaling of the global layers; every `*norm.weight` gets +1 (HF's Gemma3RMSNorm multiplies by
  1 + w, GGUF stores the factor); the token embedding is cut to the tokenizer's size;
- bert (encoders): see bert.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from ..errors import ConvertError
from .bert import bert_tensor_name, write_bert, write_pooling

GEMMA3_SWA_PATTERN = 6   # llama.cpp and localllm: layer il is local when il % 6 < 5
GEMMA3_LOCAL_ROPE_BASE = 10000.0
SKIP_SUFFIXES = (".attention.masked_bias", ".attention.bias", ".rotary_emb.inv_freq")
SKIP_PARTS = ("vision_tower", "vision_model", "multi_modal_projector", "multimodal_projector", "audio_tower")


class Params:
    """config.json values, looked up by any of their names, with the RoPE parameters normalised
    (transformers 5 `rope_parameters`, older `rope_scaling` + `rope_theta`)."""

    def __init__(self, config: dict[str, Any]):
        self.config = config
        rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
        self.rope: dict[str, Any] = dict(rope) if isinstance(rope, dict) else {}
        if "rope_type" not in self.rope and "type" in self.rope:
            self.rope["rope_type"] = self.rope["type"]

    def find(self, *keys: str, default: Any = ...) -> Any:
        for key in keys:
            if self.config.get(key) is not None:
                return self.config[key]
        if default is ...:
            raise ConvertError(f"config.json has none of {', '.join(keys)}")
        return default

    @property
    def global_rope(self) -> dict[str, Any]:
        """The RoPE parameters of full-attention layers (gemma3 splits them per layer type)."""
        full = self.rope.get("full_attention")
        return full if isinstance(full, dict) else self.rope

    def rope_theta(self, default: float | None = None) -> float | None:
        theta = self.global_rope.get("rope_theta", self.config.get("rope_theta"))
        return float(theta) if theta is not None else default

    def local_rope_theta(self) -> float | None:
        local = self.rope.get("sliding_attention")
        theta = local.get("rope_theta") if isinstance(local, dict) else None
        theta = theta if theta is not None else self.config.get("rope_local_base_freq")
        return float(theta) if theta is not None else None

    @property
    def n_head(self) -> int:
        return int(self.find("num_attention_heads", "n_head", "n_heads"))

    @property
    def n_head_kv(self) -> int:
        return int(self.find("num_key_value_heads", "n_kv_heads", default=self.n_head))

    @property
    def head_dim(self) -> int:
        return int(self.find("head_dim", default=self.find("hidden_size") // self.n_head))


# -- metadata ------------------------------------------------------------------------------------
def _write_rope_scaling(p: Params, w: gguf.GGUFWriter) -> None:
    rope = p.global_rope
    kind, factor = rope.get("rope_type"), rope.get("factor")
    if kind == "linear" and factor is not None:
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(factor)
    elif kind == "yarn" and factor is not None:
        w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        w.add_rope_scaling_factor(factor)
        w.add_rope_scaling_orig_ctx_len(rope["original_max_position_embeddings"])
        optional = (("extrapolation_factor", w.add_rope_scaling_yarn_ext_factor),
                    ("attention_factor", w.add_rope_scaling_yarn_attn_factor),
                    ("beta_fast", w.add_rope_scaling_yarn_beta_fast),
                    ("beta_slow", w.add_rope_scaling_yarn_beta_slow))
        for key, add in optional:
            if rope.get(key) is not None:
                add(rope[key])
    elif kind in ("su", "longrope"):
        w.add_rope_scaling_type(gguf.RopeScalingType.LONGROPE)


def write_common(p: Params, w: gguf.GGUFWriter) -> None:
    """The keys of llama.cpp's TextModel.set_gguf_parameters (file_type is the caller's)."""
    w.add_block_count(int(p.find("num_hidden_layers", "n_layers", "n_layer", "num_layers")))
    n_ctx = p.find("max_position_embeddings", "n_ctx", "n_positions", "max_length", "max_sequence_length",
                   "model_max_length", default=None)
    if n_ctx is not None:
        w.add_context_length(int(n_ctx))
    w.add_embedding_length(int(p.find("hidden_size", "n_embd", "dim")))
    n_ff = p.find("intermediate_size", "n_inner", "hidden_dim", default=None)
    if n_ff is not None:
        w.add_feed_forward_length(int(n_ff))
    w.add_head_count(p.n_head)
    w.add_head_count_kv(p.n_head_kv)
    _write_rope_scaling(p, w)
    if (theta := p.rope_theta()) is not None:
        w.add_rope_freq_base(theta)
    if (local_theta := p.local_rope_theta()) is not None:
        w.add_rope_freq_base_swa(local_theta)
    if (eps := p.find("rms_norm_eps", "norm_eps", default=None)) is not None:
        w.add_layer_norm_rms_eps(float(eps))
    if p.config.get("head_dim") is not None:
        w.add_key_length(int(p.config["head_dim"]))
        w.add_value_length(int(p.config["head_dim"]))


def write_llama(p: Params, w: gguf.GGUFWriter) -> None:
    write_common(p, w)
    w.add_vocab_size(int(p.find("vocab_size")))
    w.add_rope_dimension_count(p.head_dim)


def check_gemma3(p: Params) -> None:
    """Refuse what a gemma3 GGUF cannot express (llama.cpp and localllm fix these by rule)."""
    n_layer = int(p.find("num_hidden_layers"))
    expected = ["sliding_attention" if il % GEMMA3_SWA_PATTERN < GEMMA3_SWA_PATTERN - 1 else "full_attention"
                for il in range(n_layer)]
    layer_types = p.config.get("layer_types")
    if layer_types is not None and list(layer_types) != expected:
        raise ConvertError(f"gemma3 layer_types {layer_types} differ from the fixed pattern of 5 sliding-window "
                           "layers to 1 global layer that GGUF gemma3 models use")
    pattern = p.config.get("sliding_window_pattern", p.config.get("_sliding_window_pattern"))
    if layer_types is None and pattern not in (None, GEMMA3_SWA_PATTERN):
        raise ConvertError(f"gemma3 sliding_window_pattern {pattern} is not {GEMMA3_SWA_PATTERN}")
    scalar = p.config.get("query_pre_attn_scalar")
    n_embd, head_dim = int(p.find("hidden_size")), p.head_dim
    expected_scalar = n_embd // p.n_head if n_layer == 62 else head_dim  # 27B: n_embd / n_head
    if scalar is not None and int(scalar) != expected_scalar:
        raise ConvertError(f"gemma3 query_pre_attn_scalar {scalar} is not {expected_scalar}, the value a GGUF "
                           "gemma3 model is run with")
    if p.config.get("attn_logit_softcapping") is not None:
        raise ConvertError("gemma3 with attn_logit_softcapping cannot be converted (GGUF gemma3 has none)")


def write_gemma3(p: Params, w: gguf.GGUFWriter) -> None:
    """llama.cpp's Gemma3Model.set_gguf_parameters (with its defaults for absent keys)."""
    check_gemma3(p)
    head_dim = int(p.find("head_dim", default=256))
    w.add_context_length(int(p.find("max_position_embeddings", default=131072)))
    w.add_embedding_length(int(p.find("hidden_size")))
    w.add_block_count(int(p.find("num_hidden_layers")))
    w.add_feed_forward_length(int(p.find("intermediate_size")))
    w.add_head_count(int(p.find("num_attention_heads", default=8)))
    w.add_layer_norm_rms_eps(float(p.find("rms_norm_eps", default=1e-6)))
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_rope_freq_base(p.rope_theta(1_000_000.0))
    w.add_sliding_window(int(p.find("sliding_window")))
    w.add_head_count_kv(int(p.find("num_key_value_heads", default=4)))
    rope = p.global_rope
    if rope.get("rope_type") not in (None, "default"):
        if rope.get("rope_type") != "linear":
            raise ConvertError(f"gemma3 RoPE scaling {rope.get('rope_type')!r} is not supported (only linear)")
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        w.add_rope_scaling_factor(rope["factor"])
    local = p.local_rope_theta()
    if local is not None and local != GEMMA3_LOCAL_ROPE_BASE:
        w.add_rope_freq_base_swa(local)  # llama.cpp's converter assumes 10000 and writes nothing
    if p.config.get("final_logit_softcapping") is not None:
        w.add_final_logit_softcapping(float(p.config["final_logit_softcapping"]))


# -- tensors -------------------------------------------------------------------------------------
def permute_rope(weights: np.ndarray, n_head: int) -> np.ndarray:
    """HF half-split (NeoX) rows of each head -> interleaved pairs, as llama.cpp's LlamaModel.permute:
    row (h, half, i) moves to (h, i, half)."""
    shape = weights.shape
    return (weights.reshape(n_head, 2, shape[0] // n_head // 2, *shape[1:])
            .swapaxes(1, 2).reshape(shape))


def llama_tensor(p: Params, name: str, data: np.ndarray) -> np.ndarray:
    if name.endswith(("q_proj.weight", "q_proj.bias")):
        return permute_rope(data, p.n_head)
    if name.endswith(("k_proj.weight", "k_proj.bias")):
        return permute_rope(data, p.n_head_kv)
    return data


def gemma3_tensor(p: Params, name: str, data: np.ndarray) -> np.ndarray:
    del p
    return data + np.float32(1.0) if name.endswith("norm.weight") else data


def llama3_rope_factors(p: Params) -> np.ndarray | None:
    """The rope_freqs divisors of llama3 RoPE scaling, or None for other RoPE types.

    original_max_position_embeddings is read where HF reads it (the rope parameters) and only
    then at the top level or 8192 (llama.cpp's converter looks at the top level only, which for
    Llama 3.1+ gives the same 8192)."""
    rope = p.rope
    if str(rope.get("rope_type", "")).lower() != "llama3":
        return None
    base, dim = p.rope_theta(10000.0), p.head_dim
    freqs = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float32) / dim))
    factor = float(rope.get("factor", 8.0))
    low, high = float(rope.get("low_freq_factor", 1.0)), float(rope.get("high_freq_factor", 4.0))
    old_ctx = float(rope.get("original_max_position_embeddings",
                             p.config.get("original_max_position_embeddings", 8192)))
    low_wavelen, high_wavelen = old_ctx / low, old_ctx / high
    factors = []
    for freq in freqs:
        wavelen = 2 * math.pi / float(freq)
        if wavelen < high_wavelen:
            factors.append(1.0)
        elif wavelen > low_wavelen:
            factors.append(factor)
        else:
            smooth = (old_ctx / wavelen - low) / (high - low)
            factors.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.asarray(factors, dtype=np.float32)


def llama_extra(p: Params) -> Iterator[tuple[str, np.ndarray]]:
    factors = llama3_rope_factors(p)
    if factors is not None:
        yield gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FREQS] + ".weight", factors


def no_extra(p: Params) -> Iterator[tuple[str, np.ndarray]]:
    del p
    return iter(())


def identity_tensor(p: Params, name: str, data: np.ndarray) -> np.ndarray:
    del p, name
    return data


# -- the table -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ArchSpec:
    name: str                                                     # general.architecture
    model_arch: gguf.MODEL_ARCH
    hf_classes: tuple[str, ...]                                   # config.json "architectures"
    model_types: tuple[str, ...]                                  # config.json "model_type" fallback
    write_params: Callable[[Params, gguf.GGUFWriter], None]
    vocab_kinds: tuple[str, ...]                                  # tokenizer sources, in order
    transform: Callable[[Params, str, np.ndarray], np.ndarray] = identity_tensor
    extra_tensors: Callable[[Params], Iterator[tuple[str, np.ndarray]]] = no_extra
    writes_vocab_size: bool = False
    trim_embeddings: bool = False                                 # cut token_embd to the vocabulary
    add_space_prefix: bool | None = None                          # fixed add_space_prefix, if any
    tensor_name: Callable[[str], str | None] | None = None        # HF name -> mapped name (None: hf_tensor_name)
    write_folder: Callable[[Path, gguf.GGUFWriter], None] | None = None  # keys from files beside config.json


ARCHS = (
    ArchSpec("llama", gguf.MODEL_ARCH.LLAMA, ("LlamaForCausalLM", "LLaMAForCausalLM", "MistralForCausalLM"),
             ("llama", "mistral"), write_llama, ("spm", "llama-hf", "gpt2"), llama_tensor, llama_extra,
             writes_vocab_size=True),
    ArchSpec("qwen2", gguf.MODEL_ARCH.QWEN2, ("Qwen2ForCausalLM",), ("qwen2",), write_common, ("spm", "gpt2")),
    ArchSpec("qwen3", gguf.MODEL_ARCH.QWEN3, ("Qwen3ForCausalLM",), ("qwen3",), write_common, ("spm", "gpt2")),
    ArchSpec("gemma3", gguf.MODEL_ARCH.GEMMA3, ("Gemma3ForCausalLM", "Gemma3ForConditionalGeneration"),
             ("gemma3_text", "gemma3"), write_gemma3, ("spm",), gemma3_tensor, trim_embeddings=True,
             add_space_prefix=False),
    ArchSpec("bert", gguf.MODEL_ARCH.BERT, ("BertModel", "BertForMaskedLM"), ("bert",), write_bert, ("wpm",),
             tensor_name=bert_tensor_name, write_folder=write_pooling),
)


def find_arch(config: dict[str, Any]) -> ArchSpec:
    """The spec for config.json's first architecture (or its model_type when it names none)."""
    classes = config.get("architectures") or []
    hf_class = classes[0] if classes else None
    for spec in ARCHS:
        if hf_class in spec.hf_classes or (hf_class is None and config.get("model_type") in spec.model_types):
            return spec
    supported = ", ".join(c for spec in ARCHS for c in spec.hf_classes)
    what = hf_class or f"model_type {config.get('model_type')!r}"
    raise ConvertError(f"architecture {what} cannot be converted (supported: {supported})")


def hf_tensor_name(name: str) -> str | None:
    """The name llama.cpp maps (multimodal wrappers' "language_model." removed), or None to skip."""
    if name.endswith(SKIP_SUFFIXES) or any(part in name for part in SKIP_PARTS):
        return None
    return name.replace("language_model.", "")
