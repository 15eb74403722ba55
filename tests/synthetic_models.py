"""Random-weight GGUF files with real architectures' shapes, quantized by localllm's own reference
quantizers: the split and GPU offload checks run on them (no model file travels).

    write_model(path, GEMMA3_270M, seed=0)      # gemma3 270M shapes, the default model's type mix
    write_model(path, LLAMA_SMALL, seed=0)      # a small llama, every GPU weight type somewhere

Weights are normal(0, std) (norms around 1), so logits are far from flat and top-1 is well defined.
The vocabulary is a placeholder SentencePiece-style one (byte tokens plus numbered pieces).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

ROWS_PER_JOB = 2048


@dataclass(frozen=True)
class Shape:
    arch: str
    n_embd: int
    n_layer: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_ff: int
    n_vocab: int
    window: int = 0                 # gemma3: sliding window of 5 layers out of 6
    std: float = 0.05
    # (tensor role, layer or None) -> ggml type name
    types: Callable[[str, int | None, int], str] = field(default=lambda role, il, n_layer: "Q8_0")


def more_bits(il: int, n_layer: int) -> bool:
    """llama.cpp's Q4_K_M rule for attn_v / ffn_down."""
    return il < n_layer // 8 or il >= 7 * n_layer // 8 or (il - n_layer // 8) % 3 == 2


def gemma3_q4_k_m(role: str, il: int | None, n_layer: int) -> str:
    """The default model's mix: rows of 640 cannot be k-quants, so Q5_0 / Q8_0 stand in."""
    if role == "token_embd":
        return "Q8_0"
    if role in ("attn_q", "attn_k", "ffn_gate", "ffn_up"):
        return "Q5_0"
    if role == "attn_v":
        return "Q8_0" if more_bits(il, n_layer) else "Q5_0"
    if role == "ffn_down":
        return "Q6_K" if more_bits(il, n_layer) else "Q4_K"
    return "Q4_K"  # attn_output


def llama_every_type(role: str, il: int | None, n_layer: int) -> str:
    """A different weight type per layer, so one model exercises every GPU kernel."""
    if role in ("token_embd", "output"):
        return "Q6_K" if role == "output" else "Q8_0"
    per_layer = ["Q4_0", "Q5_0", "Q8_0", "Q4_K", "Q5_K", "Q6_K", "F16", "F32"]
    return per_layer[(il + ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down").index(role))
                     % len(per_layer)]


GEMMA3_270M = Shape("gemma3", n_embd=640, n_layer=18, n_head=4, n_head_kv=1, head_dim=256, n_ff=2048,
                    n_vocab=262144, window=512, types=gemma3_q4_k_m)
GEMMA3_TINY = Shape("gemma3", n_embd=256, n_layer=6, n_head=4, n_head_kv=1, head_dim=64, n_ff=512, n_vocab=512,
                    window=8, types=gemma3_q4_k_m)
LLAMA_SMALL = Shape("llama", n_embd=512, n_layer=8, n_head=8, n_head_kv=2, head_dim=64, n_ff=1536, n_vocab=32000,
                    types=llama_every_type)
LLAMA_TINY = Shape("llama", n_embd=256, n_layer=4, n_head=4, n_head_kv=2, head_dim=64, n_ff=512, n_vocab=512,
                   types=llama_every_type)


def tensor_plan(s: Shape) -> list[tuple[str, tuple[int, ...], str]]:
    """(GGUF name, (rows, columns) or (n,), type name) in file order."""
    q, kv = s.n_head * s.head_dim, s.n_head_kv * s.head_dim
    matrices = [("attn_q", (q, s.n_embd)), ("attn_k", (kv, s.n_embd)), ("attn_v", (kv, s.n_embd)),
                ("attn_output", (s.n_embd, q)), ("ffn_gate", (s.n_ff, s.n_embd)), ("ffn_up", (s.n_ff, s.n_embd)),
                ("ffn_down", (s.n_embd, s.n_ff))]
    norms = ["attn_norm", "ffn_norm"]
    if s.arch == "gemma3":
        norms += ["post_attention_norm", "post_ffw_norm"]
    plan = [("token_embd.weight", (s.n_vocab, s.n_embd), s.types("token_embd", None, s.n_layer))]
    for il in range(s.n_layer):
        plan += [(f"blk.{il}.{n}.weight", (s.n_embd,), "F32") for n in norms]
        if s.arch == "gemma3":
            plan += [(f"blk.{il}.attn_q_norm.weight", (s.head_dim,), "F32"),
                     (f"blk.{il}.attn_k_norm.weight", (s.head_dim,), "F32")]
        plan += [(f"blk.{il}.{role}.weight", shape, s.types(role, il, s.n_layer)) for role, shape in matrices]
    plan.append(("output_norm.weight", (s.n_embd,), "F32"))
    if s.arch == "llama":
        plan.append(("output.weight", (s.n_vocab, s.n_embd), s.types("output", None, s.n_layer)))
    return plan


def tensor_bytes(shape: tuple[int, ...], type_name: str, seed: int, std: float, pool: ThreadPoolExecutor) -> np.ndarray:
    from localllm.backend.native import quantize_row
    from localllm.gguf import GGMLType

    if len(shape) == 1:  # a norm: around 1 (gemma3 stores norm weights as w, applied as 1 + w: around 0 there)
        return (1.0 + 0.1 * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)
    rows, cols = shape

    def piece(r0: int) -> np.ndarray:
        rng = np.random.default_rng([seed, r0])
        x = rng.standard_normal((min(ROWS_PER_JOB, rows - r0), cols), dtype=np.float32) * std
        if type_name == "F32":
            return x
        return quantize_row(int(GGMLType[type_name]), x, level="scalar")

    return np.concatenate(list(pool.map(piece, range(0, rows, ROWS_PER_JOB))))


def vocabulary(writer, n_vocab: int) -> None:
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    tokens += [f"\u2581t{i}" for i in range(n_vocab - len(tokens))]
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([-float(i) for i in range(n_vocab)])
    writer.add_token_types([2, 3, 3] + [6] * 256 + [1] * (n_vocab - 259))
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(True)


def metadata(writer, s: Shape) -> None:
    writer.add_name(f"synthetic-{s.arch}")
    writer.add_context_length(8192)
    writer.add_embedding_length(s.n_embd)
    writer.add_block_count(s.n_layer)
    writer.add_feed_forward_length(s.n_ff)
    writer.add_head_count(s.n_head)
    writer.add_head_count_kv(s.n_head_kv)
    writer.add_key_length(s.head_dim)
    writer.add_value_length(s.head_dim)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_rope_freq_base(1e6 if s.arch == "gemma3" else 10000.0)
    if s.window:
        writer.add_sliding_window(s.window)
    vocabulary(writer, s.n_vocab)


def write_model(path: str, s: Shape, seed: int = 0) -> str:
    import gguf

    from localllm.backend.native import row_bytes
    from localllm.gguf import GGMLType

    plan = tensor_plan(s)
    writer = gguf.GGUFWriter(path, s.arch)
    metadata(writer, s)
    for name, shape, type_name in plan:
        n_bytes = row_bytes(int(GGMLType[type_name]), shape[-1]) * (shape[0] if len(shape) == 2 else 1)
        writer.add_tensor_info(name, shape, np.dtype(np.float32), n_bytes,
                               raw_dtype=gguf.GGMLQuantizationType[type_name])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    with ThreadPoolExecutor(8) as pool:
        for i, (name, shape, type_name) in enumerate(plan):
            writer.write_tensor_data(tensor_bytes(shape, type_name, seed * 1000 + i, s.std, pool))
    writer.close()
    return path
