"""What a GGUF model is, in facts a person or a script can read: `localllm show` and
`localllm.inspect()`. Reads the header only (no tensor data)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from .gguf import GGUFFile, open_gguf
from .model_path import resolve_model

# general.file_type -> the name llama.cpp prints (gguf.constants.LlamaFileType; checked by a test).
FILE_TYPE_NAMES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M",
    18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S",
    25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M",
    32: "BF16", 36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4_MOE", 39: "NVFP4", 40: "Q1_0", 1024: "GUESSED",
}
# RoPE base of sliding-window layers where the file does not store one (llama.cpp's defaults).
LOCAL_ROPE_BASE_DEFAULTS = {"gemma3": 10000.0}
SPECIAL_TOKEN_KEYS = ("bos", "eos", "eot", "eom", "unknown", "seperator", "padding", "mask")


@dataclass
class QuantGroup:
    tensors: int = 0
    bytes: int = 0


@dataclass
class ModelInfo:
    path: str
    file_size: int
    gguf_version: int
    architecture: str
    name: str | None
    file_type: str | None
    parameters: int
    tensor_count: int
    quantization: dict[str, QuantGroup]
    context_length: int | None
    embedding_length: int | None
    layers: int | None
    feed_forward_length: int | None
    heads: int | None
    kv_heads: int | None
    head_dim: int | None
    rope_freq_base: float | None
    rope_freq_base_local: float | None
    sliding_window: int | None
    vocab_type: str | None
    vocab_size: int
    special_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    chat_template: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def inspect(model: str | os.PathLike | None = None) -> ModelInfo:
    """Facts about a GGUF model (the default model when `model` is None)."""
    path = resolve_model(model)
    with open_gguf(path) as gguf:
        return describe(gguf)


def describe(gguf: GGUFFile) -> ModelInfo:
    """Facts about an open GGUF file."""
    arch = str(gguf.get("general.architecture", "unknown"))

    def hp(key: str):
        return gguf.get(f"{arch}.{key}")

    heads, embd = hp("attention.head_count"), hp("embedding_length")
    head_dim = hp("attention.key_length") or (embd // heads if heads and embd else None)
    tokens = gguf.get("tokenizer.ggml.tokens")
    file_type = gguf.get("general.file_type")
    return ModelInfo(
        path=str(gguf.path),
        file_size=gguf.file_size,
        gguf_version=gguf.version,
        architecture=arch,
        name=gguf.get("general.name"),
        file_type=FILE_TYPE_NAMES.get(file_type, str(file_type)) if file_type is not None else None,
        parameters=sum(t.n_elements for t in gguf.tensors),
        tensor_count=len(gguf.tensors),
        quantization=_quantization_mix(gguf),
        context_length=hp("context_length"),
        embedding_length=embd,
        layers=hp("block_count"),
        feed_forward_length=_first_int(hp("feed_forward_length")),
        heads=_first_int(heads),
        kv_heads=_first_int(hp("attention.head_count_kv")),
        head_dim=head_dim,
        rope_freq_base=hp("rope.freq_base"),
        rope_freq_base_local=_local_rope_base(arch, hp),
        sliding_window=hp("attention.sliding_window"),
        vocab_type=gguf.get("tokenizer.ggml.model"),
        vocab_size=len(tokens) if tokens is not None else 0,
        special_tokens=_special_tokens(gguf, tokens),
        chat_template=gguf.get("tokenizer.chat_template") is not None,
    )


def _first_int(value):
    """Per-layer arrays (some architectures vary heads per layer) are summarized by their first value."""
    if value is None or isinstance(value, int):
        return value
    return int(value[0])


def _local_rope_base(arch: str, hp) -> float | None:
    if hp("attention.sliding_window") is None:
        return None
    return hp("rope.freq_base_swa") or LOCAL_ROPE_BASE_DEFAULTS.get(arch)


def _quantization_mix(gguf: GGUFFile) -> dict[str, QuantGroup]:
    mix: dict[str, QuantGroup] = {}
    for t in sorted(gguf.tensors, key=lambda t: t.type.name):
        group = mix.setdefault(t.type.name, QuantGroup())
        group.tensors += 1
        group.bytes += t.n_bytes
    return mix


def _special_tokens(gguf: GGUFFile, tokens) -> dict[str, dict[str, Any]]:
    found = {}
    for kind in SPECIAL_TOKEN_KEYS:
        token_id = gguf.get(f"tokenizer.ggml.{kind}_token_id")
        if token_id is None:
            continue
        text = tokens[token_id] if tokens is not None and 0 <= token_id < len(tokens) else None
        found["separator" if kind == "seperator" else kind] = {"id": int(token_id), "text": text}
    return found
