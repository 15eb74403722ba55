"""A 1B-class llama-architecture GGUF with random weights and realistic shapes, for benchmarks.

    python benchmarks/make_synthetic_llama.py OUT_DIR [--types q4_k_m,q8_0,q4_0] [--seed 0]

Shapes (Llama 3.2 1B): hidden 2048, 16 layers, 32 heads, 8 KV heads (head dim 64), FFN 8192,
vocabulary 128,256, untied output. Weights are normal(0, 0.02) (norms 1.0), quantized by localllm's
own reference quantizers (`ll_quantize_row`, the scalar twin of every type) and written with the
gguf package's GGUFWriter, tensor by tensor. The type mixes:

    q4_k_m  as llama.cpp's Q4_K_M: Q4_K, with attn_v and ffn_down in Q6_K on the first and last
            eighth of the layers and every third layer between, output in Q6_K
    q8_0    every matrix Q8_0
    q4_0    every matrix Q4_0, output in Q6_K (as llama.cpp's Q4_0)

The vocabulary is a placeholder SentencePiece-style one (the byte tokens plus numbered pieces), so
both localllm and llama.cpp load the file; benchmarks feed random token ids.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

N_EMBD, N_LAYER, N_HEAD, N_HEAD_KV, N_FF, N_VOCAB = 2048, 16, 32, 8, 8192, 128256
HEAD_DIM = N_EMBD // N_HEAD
CONTEXT, ROPE_BASE, EPS = 8192, 500000.0, 1e-5
FILE_TYPES = {"q4_k_m": 15, "q8_0": 7, "q4_0": 2}  # general.file_type (llama_ftype)
ROWS_PER_JOB = 1024


def layer_tensors() -> list[tuple[str, tuple[int, int]]]:
    """(name, (rows, columns)) of one layer's matrices; GGUF shapes are (columns, rows)."""
    kv = N_HEAD_KV * HEAD_DIM
    return [("attn_q", (N_EMBD, N_EMBD)), ("attn_k", (kv, N_EMBD)), ("attn_v", (kv, N_EMBD)),
            ("attn_output", (N_EMBD, N_EMBD)), ("ffn_gate", (N_FF, N_EMBD)), ("ffn_up", (N_FF, N_EMBD)),
            ("ffn_down", (N_EMBD, N_FF))]


def uses_more_bits(il: int) -> bool:
    """llama.cpp's Q4_K_M rule for attn_v / ffn_down."""
    return il < N_LAYER // 8 or il >= 7 * N_LAYER // 8 or (il - N_LAYER // 8) % 3 == 2


def weight_type(mix: str, name: str, il: int | None):
    from localllm.gguf import GGMLType

    if name == "output":
        return GGMLType.Q8_0 if mix == "q8_0" else GGMLType.Q6_K
    if mix == "q8_0":
        return GGMLType.Q8_0
    if mix == "q4_0":
        return GGMLType.Q4_0
    if name in ("attn_v", "ffn_down") and il is not None and uses_more_bits(il):
        return GGMLType.Q6_K
    return GGMLType.Q4_K


def tensor_plan(mix: str) -> list[tuple[str, tuple[int, ...], object]]:
    """(GGUF name, (rows, columns) or (n,), ggml type) in file order."""
    from localllm.gguf import GGMLType

    plan = [("token_embd.weight", (N_VOCAB, N_EMBD), weight_type(mix, "token_embd", None))]
    for il in range(N_LAYER):
        plan.append((f"blk.{il}.attn_norm.weight", (N_EMBD,), GGMLType.F32))
        plan += [(f"blk.{il}.{name}.weight", shape, weight_type(mix, name, il)) for name, shape in layer_tensors()]
        plan.append((f"blk.{il}.ffn_norm.weight", (N_EMBD,), GGMLType.F32))
    plan += [("output_norm.weight", (N_EMBD,), GGMLType.F32), ("output.weight", (N_VOCAB, N_EMBD),
                                                              weight_type(mix, "output", None))]
    return plan


def tensor_bytes(shape: tuple[int, ...], ggml_type, seed: int, pool: ThreadPoolExecutor) -> np.ndarray:
    """The tensor's data: random rows quantized in parallel pieces (the native quantizer releases
    the GIL), or ones for a norm."""
    from localllm.backend.native import quantize_row
    from localllm.gguf import GGMLType

    if ggml_type == GGMLType.F32:
        return np.ones(shape, np.float32)
    rows, cols = shape

    def piece(r0: int) -> np.ndarray:
        rng = np.random.default_rng([seed, r0])
        x = (rng.standard_normal((min(ROWS_PER_JOB, rows - r0), cols), dtype=np.float32) * 0.02)
        return quantize_row(int(ggml_type), x, level="scalar")

    return np.concatenate(list(pool.map(piece, range(0, rows, ROWS_PER_JOB))))


def vocabulary(writer) -> None:
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    tokens += [f"\u2581t{i}" for i in range(N_VOCAB - len(tokens))]
    types = [2, 3, 3] + [6] * 256 + [1] * (N_VOCAB - 259)  # unknown, control, byte, normal
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([-float(i) for i in range(N_VOCAB)])
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(True)


def metadata(writer, mix: str) -> None:
    writer.add_name(f"synthetic-llama-1b-{mix}")
    writer.add_file_type(FILE_TYPES[mix])
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD_KV)
    writer.add_rope_freq_base(ROPE_BASE)
    writer.add_rope_dimension_count(HEAD_DIM)
    writer.add_layer_norm_rms_eps(EPS)
    writer.add_vocab_size(N_VOCAB)
    vocabulary(writer)


def write_model(path: str, mix: str, seed: int) -> None:
    import gguf

    from localllm.backend.native import row_bytes

    plan = tensor_plan(mix)
    writer = gguf.GGUFWriter(path, "llama")
    metadata(writer, mix)
    for name, shape, ggml_type in plan:
        n_bytes = row_bytes(int(ggml_type), shape[-1]) * (shape[0] if len(shape) == 2 else 1)
        writer.add_tensor_info(name, shape, np.dtype(np.float32), n_bytes,  # element shape, not bytes
                               raw_dtype=gguf.GGMLQuantizationType(int(ggml_type)))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    start = time.perf_counter()
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        for i, (name, shape, ggml_type) in enumerate(plan):
            writer.write_tensor_data(tensor_bytes(shape, ggml_type, seed * 1000 + i, pool))
            print(f"\r{os.path.basename(path)}: {i + 1}/{len(plan)} tensors, {time.perf_counter() - start:.0f} s",
                  end="", file=sys.stderr, flush=True)
    writer.close()
    print(file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--types", default="q4_k_m,q8_0,q4_0", help="comma-separated: q4_k_m, q8_0, q4_0")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    mixes = [t.strip() for t in args.types.split(",") if t.strip()]
    unknown = [m for m in mixes if m not in FILE_TYPES]
    if unknown:
        parser.error(f"unknown type mix {', '.join(unknown)}; choose from {', '.join(FILE_TYPES)}")
    os.makedirs(args.out_dir, exist_ok=True)
    for mix in mixes:
        path = os.path.join(args.out_dir, f"synthetic-llama-1b-{mix}.gguf")
        write_model(path, mix, args.seed)
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
