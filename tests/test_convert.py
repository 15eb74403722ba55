"""`localllm.convert` on hand-made checkpoints (numpy weights in safetensors, no torch needed except
for the pytorch_model.bin case): metadata keys and tensor names per architecture, the llama q/k
permutation, gemma3's norm shift, outtype encodings (Q8_0 bytes equal to the gguf package's numpy
quantizer, i.e. to what llama.cpp's converter writes), tokenizer arrays checked by tokenizing with
localllm against the original tokenizer, and every error path. The logits of converted models are
checked against transformers in test_arch_oracles.py."""

from __future__ import annotations

import json
import math
from pathlib import Path

import gguf
import numpy as np
import pytest
from safetensors.numpy import save_file

from localllm.convert import ConvertError, convert
from localllm.errors import InputError, UsageError
from localllm.gguf import GGMLType, open_gguf

HIDDEN, N_HEAD, N_KV, HEAD_DIM, N_FF, VOCAB = 64, 4, 2, 16, 128, 256
CORPUS = ["The quick brown fox jumps over the lazy dog.", "Hello world! Hello again, world.",
          "naïve café — 3.14 apples", "def f(x):\n    return x * 2\n"] * 20
SAMPLES = ["Hello world", "The lazy fox, again!", "café 3.14", "  two  spaces\nand a newline", "unseen Ωmega ✓"]


# -- hand-made checkpoints ---------------------------------------------------------------------------
def make_config(arch: str, **over) -> dict:
    base = {"hidden_size": HIDDEN, "num_attention_heads": N_HEAD, "num_key_value_heads": N_KV,
            "intermediate_size": N_FF, "vocab_size": VOCAB, "max_position_embeddings": 512, "rms_norm_eps": 1e-6,
            "num_hidden_layers": 2, "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0},
            "tie_word_embeddings": False}
    if arch == "llama":
        base.update(architectures=["LlamaForCausalLM"], model_type="llama", head_dim=HEAD_DIM)
    elif arch == "qwen2":
        base.update(architectures=["Qwen2ForCausalLM"], model_type="qwen2", tie_word_embeddings=True)
    elif arch == "qwen3":
        base.update(architectures=["Qwen3ForCausalLM"], model_type="qwen3", head_dim=32)
    else:
        base.update(architectures=["Gemma3ForCausalLM"], model_type="gemma3_text", head_dim=32, num_hidden_layers=6,
                    sliding_window=8, query_pre_attn_scalar=32, tie_word_embeddings=True,
                    layer_types=["sliding_attention"] * 5 + ["full_attention"],
                    rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 1e6},
                                     "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}})
    base.update(over)
    return base


def _layer_tensors(config: dict, il: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    arch, E = config["model_type"], config["hidden_size"]
    hd = config.get("head_dim", E // config["num_attention_heads"])
    q, kv, ff = config["num_attention_heads"] * hd, config["num_key_value_heads"] * hd, config["intermediate_size"]
    p = f"model.layers.{il}."
    t = {p + "self_attn.q_proj.weight": (q, E), p + "self_attn.k_proj.weight": (kv, E),
         p + "self_attn.v_proj.weight": (kv, E), p + "self_attn.o_proj.weight": (E, q),
         p + "mlp.gate_proj.weight": (ff, E), p + "mlp.up_proj.weight": (ff, E), p + "mlp.down_proj.weight": (E, ff),
         p + "input_layernorm.weight": (E,), p + "post_attention_layernorm.weight": (E,)}
    if arch == "qwen2":
        t.update({p + "self_attn.q_proj.bias": (q,), p + "self_attn.k_proj.bias": (kv,), p + "self_attn.v_proj.bias": (kv,)})
    if arch in ("qwen3", "gemma3_text"):
        t.update({p + "self_attn.q_norm.weight": (hd,), p + "self_attn.k_norm.weight": (hd,)})
    if arch == "gemma3_text":
        t.update({p + "pre_feedforward_layernorm.weight": (E,), p + "post_feedforward_layernorm.weight": (E,)})
    return {name: rng.standard_normal(shape).astype(np.float32) for name, shape in t.items()}


def make_tensors(config: dict, seed: int = 0, embed_rows: int | None = None) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    E, V = config["hidden_size"], config["vocab_size"]
    tensors = {"model.embed_tokens.weight": rng.standard_normal((embed_rows or V, E)).astype(np.float32),
               "model.norm.weight": rng.standard_normal(E).astype(np.float32)}
    for il in range(config["num_hidden_layers"]):
        tensors.update(_layer_tensors(config, il, rng))
    if not config.get("tie_word_embeddings"):
        tensors["lm_head.weight"] = rng.standard_normal((V, E)).astype(np.float32)
    return tensors


def write_checkpoint(path: Path, config: dict, tensors: dict[str, np.ndarray]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(config))
    save_file(tensors, str(path / "model.safetensors"))
    return path


def checkpoint(tmp_path: Path, arch: str, **over) -> tuple[Path, dict[str, np.ndarray]]:
    config = make_config(arch, **over)
    tensors = make_tensors(config)
    return write_checkpoint(tmp_path / arch, config, tensors), tensors


def converted(hf_dir: Path, outtype: str = "f32"):
    return open_gguf(convert(hf_dir, hf_dir.parent / f"{hf_dir.name}-{outtype}.gguf", outtype))


def values(f, name: str) -> np.ndarray:
    """A tensor of an F32/F16 GGUF as float32 in numpy (torch) order."""
    t = f.tensor(name)
    return np.asarray(t.array(), dtype=np.float32).reshape(tuple(reversed(t.shape)))


# -- metadata and tensor names -------------------------------------------------------------------
COMMON_KEYS = {"block_count", "context_length", "embedding_length", "feed_forward_length", "attention.head_count",
               "attention.head_count_kv", "rope.freq_base", "attention.layer_norm_rms_epsilon"}
EXTRA_KEYS = {
    "llama": {"vocab_size", "rope.dimension_count", "attention.key_length", "attention.value_length"},
    "qwen2": set(),
    "qwen3": {"attention.key_length", "attention.value_length"},
    "gemma3": {"attention.key_length", "attention.value_length", "attention.sliding_window"},
}


@pytest.mark.parametrize("arch", ["llama", "qwen2", "qwen3", "gemma3"])
def test_metadata_keys_and_tensor_names(tmp_path: Path, arch: str) -> None:
    hf_dir, tensors = checkpoint(tmp_path, arch)
    f = converted(hf_dir, "f16")
    keys = {k[len(arch) + 1:] for k in f.metadata if k.startswith(arch + ".")}
    expected = COMMON_KEYS | EXTRA_KEYS[arch] | {"vocab_size"}  # tokenizer-less: vocab_size for "none"
    assert keys == expected
    assert f.get("general.architecture") == arch and f.get("general.file_type") == 1
    assert f.get("general.quantization_version") == 2 and f.get("tokenizer.ggml.model") == "none"
    assert f.get(f"{arch}.vocab_size") == VOCAB
    mapper = gguf.get_tensor_name_map(gguf.MODEL_ARCH[arch.upper()], f.get(f"{arch}.block_count"))
    expected_names = {mapper.get_name(n, try_suffixes=(".weight", ".bias")) for n in tensors}
    assert {t.name for t in f.tensors} == expected_names
    for t in f.tensors:
        one_d = len(t.shape) == 1
        assert t.type == (GGMLType.F32 if one_d else GGMLType.F16), t.name
        assert tuple(reversed(t.shape)) == tensors[next(n for n in tensors if mapper.get_name(
            n, try_suffixes=(".weight", ".bias")) == t.name)].shape


def test_gemma3_values(tmp_path: Path) -> None:
    hf_dir, tensors = checkpoint(tmp_path, "gemma3")
    f = converted(hf_dir)
    assert f.get("gemma3.attention.sliding_window") == 8
    assert f.get("gemma3.rope.freq_base") == 1e6 and f.get("gemma3.rope.freq_base_swa") is None
    assert f.get("gemma3.attention.key_length") == 32
    # Gemma3RMSNorm scales by (1 + w): GGUF stores 1 + w for every norm, q/k norms included.
    np.testing.assert_array_equal(values(f, "blk.3.post_ffw_norm.weight"),
                                  tensors["model.layers.3.post_feedforward_layernorm.weight"] + 1)
    np.testing.assert_array_equal(values(f, "blk.0.attn_k_norm.weight"),
                                  tensors["model.layers.0.self_attn.k_norm.weight"] + 1)
    np.testing.assert_array_equal(values(f, "output_norm.weight"), tensors["model.norm.weight"] + 1)
    np.testing.assert_array_equal(values(f, "blk.0.attn_q.weight"), tensors["model.layers.0.self_attn.q_proj.weight"])


def test_llama_q_k_rows_become_interleaved_pairs(tmp_path: Path) -> None:
    """HF keeps each head's rotary pairs as (i, i + hd/2); GGUF llama wants them adjacent (2i, 2i+1)."""
    hf_dir, tensors = checkpoint(tmp_path, "llama")
    f = converted(hf_dir)
    for proj, n_head in (("q", N_HEAD), ("k", N_KV)):
        hf = tensors[f"model.layers.1.self_attn.{proj}_proj.weight"]
        out = values(f, f"blk.1.attn_{proj}.weight")
        for h in range(n_head):
            for i in range(HEAD_DIM // 2):
                np.testing.assert_array_equal(out[h * HEAD_DIM + 2 * i], hf[h * HEAD_DIM + i])
                np.testing.assert_array_equal(out[h * HEAD_DIM + 2 * i + 1], hf[h * HEAD_DIM + HEAD_DIM // 2 + i])
    np.testing.assert_array_equal(values(f, "blk.1.attn_v.weight"), tensors["model.layers.1.self_attn.v_proj.weight"])


def test_qwen_keeps_rows_and_biases(tmp_path: Path) -> None:
    hf_dir, tensors = checkpoint(tmp_path, "qwen2")
    f = converted(hf_dir)
    np.testing.assert_array_equal(values(f, "blk.0.attn_q.weight"), tensors["model.layers.0.self_attn.q_proj.weight"])
    np.testing.assert_array_equal(values(f, "blk.0.attn_k.bias"), tensors["model.layers.0.self_attn.k_proj.bias"])
    assert "output.weight" not in {t.name for t in f.tensors}  # tied: llama.cpp reuses token_embd


def _hf_llama3_inv_freq(base: float, dim: int, rope: dict) -> tuple[np.ndarray, np.ndarray]:
    """transformers' llama3 rule, written from its definition: scale the inverse frequencies."""
    inv = 1.0 / base ** (np.arange(0, dim, 2, dtype=np.float64) / dim)
    wavelen = 2 * math.pi / inv
    low_wl = rope["original_max_position_embeddings"] / rope["low_freq_factor"]
    high_wl = rope["original_max_position_embeddings"] / rope["high_freq_factor"]
    scaled = np.where(wavelen > low_wl, inv / rope["factor"], inv)
    smooth = (rope["original_max_position_embeddings"] / wavelen - rope["low_freq_factor"]) / (
        rope["high_freq_factor"] - rope["low_freq_factor"])
    smoothed = (1 - smooth) * scaled / rope["factor"] + smooth * scaled
    medium = (wavelen >= high_wl) & (wavelen <= low_wl)
    return inv, np.where(medium, smoothed, scaled)


def test_llama3_rope_scaling_writes_rope_freqs(tmp_path: Path) -> None:
    rope = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 64, "rope_theta": 500000.0}
    hf_dir, _ = checkpoint(tmp_path, "llama", rope_parameters=rope)
    f = converted(hf_dir, "q8_0")
    freqs = f.tensor("rope_freqs.weight")
    assert freqs.type == GGMLType.F32 and tuple(freqs.shape) == (HEAD_DIM // 2,)
    inv, inv_scaled = _hf_llama3_inv_freq(500000.0, HEAD_DIM, rope)
    np.testing.assert_allclose(freqs.array(), inv / inv_scaled, rtol=1e-5)
    assert f.get("llama.rope.freq_base") == 500000.0 and f.get("llama.rope.scaling.type") is None


def test_linear_rope_scaling_keys(tmp_path: Path) -> None:
    hf_dir, _ = checkpoint(tmp_path, "llama", rope_scaling={"type": "linear", "factor": 4.0}, rope_parameters=None,
                           rope_theta=20000.0)
    f = converted(hf_dir)
    assert f.get("llama.rope.scaling.type") == "linear" and f.get("llama.rope.scaling.factor") == 4.0
    assert f.get("llama.rope.freq_base") == 20000.0 and "rope_freqs.weight" not in {t.name for t in f.tensors}


# -- outtypes -------------------------------------------------------------------------------------
def _bf16(x: np.ndarray) -> np.ndarray:
    """Round float32 to bfloat16 (nearest, ties to even), returned as float32."""
    bits = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    return rounded.astype(np.uint32).view(np.float32)


@pytest.mark.parametrize("outtype", ["f32", "f16", "bf16", "q8_0"])
def test_outtype_encodings(tmp_path: Path, outtype: str) -> None:
    hf_dir, tensors = checkpoint(tmp_path, "qwen3", intermediate_size=48)  # ffn_down rows of 48: not Q8_0 blocks
    f = converted(hf_dir, outtype)
    gate, down = f.tensor("blk.0.ffn_gate.weight"), f.tensor("blk.0.ffn_down.weight")
    w_gate, w_down = tensors["model.layers.0.mlp.gate_proj.weight"], tensors["model.layers.0.mlp.down_proj.weight"]
    for norm in ("blk.0.attn_norm.weight", "blk.0.attn_q_norm.weight", "output_norm.weight"):
        assert f.tensor(norm).type == GGMLType.F32
    expected_type = {"f32": GGMLType.F32, "f16": GGMLType.F16, "bf16": GGMLType.BF16, "q8_0": GGMLType.Q8_0}[outtype]
    assert gate.type == expected_type
    assert down.type == (GGMLType.F16 if outtype == "q8_0" else expected_type)
    assert f.get("general.file_type") == {"f32": 0, "f16": 1, "bf16": 32, "q8_0": 7}[outtype]
    raw = np.asarray(gate.data).reshape(-1)
    if outtype == "f32":
        np.testing.assert_array_equal(raw.view(np.float32).reshape(w_gate.shape), w_gate)
    elif outtype == "f16":
        np.testing.assert_array_equal(raw.view(np.float16).reshape(w_gate.shape), w_gate.astype(np.float16))
    elif outtype == "bf16":
        widened = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        np.testing.assert_array_equal(widened.reshape(w_gate.shape), _bf16(w_gate))
    else:  # byte for byte what llama.cpp's converter writes (its numpy Q8_0 quantizer)
        reference = gguf.quants.quantize(w_gate, gguf.GGMLQuantizationType.Q8_0)
        np.testing.assert_array_equal(raw.view(np.uint8), reference.reshape(-1))
        np.testing.assert_array_equal(np.asarray(down.data).reshape(-1).view(np.float16).reshape(w_down.shape),
                                      w_down.astype(np.float16))


def test_bf16_and_f16_checkpoints(tmp_path: Path) -> None:
    config = make_config("qwen3")
    tensors = make_tensors(config)
    halves = {n: (_bf16(t) if "mlp" in n else t.astype(np.float16).astype(np.float32)) for n, t in tensors.items()}
    stored = {}
    for n, t in halves.items():
        if "mlp" in n:  # stored as raw BF16 in the safetensors file
            stored[n] = (t.view(np.uint32) >> 16).astype(np.uint16)
        else:
            stored[n] = t.astype(np.float16)
    hf_dir = tmp_path / "halves"
    hf_dir.mkdir()
    (hf_dir / "config.json").write_text(json.dumps(config))
    _save_with_bf16(stored, hf_dir / "model.safetensors", bf16={n for n in stored if "mlp" in n})
    f = converted(hf_dir, "f32")
    np.testing.assert_array_equal(values(f, "blk.1.ffn_up.weight"), halves["model.layers.1.mlp.up_proj.weight"])
    np.testing.assert_array_equal(values(f, "blk.1.attn_v.weight"), halves["model.layers.1.self_attn.v_proj.weight"])


def _save_with_bf16(tensors: dict[str, np.ndarray], path: Path, bf16: set[str]) -> None:
    """A safetensors file by hand (the numpy API has no bfloat16): header JSON then the data."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = np.ascontiguousarray(t).tobytes()
        dtype = "BF16" if name in bf16 else {np.float16: "F16", np.float32: "F32"}[t.dtype.type]
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    path.write_bytes(len(head).to_bytes(8, "little") + head + b"".join(blobs))


# -- checkpoint layouts -----------------------------------------------------------------------------
def _shard(hf_dir: Path, tensors: dict[str, np.ndarray]) -> None:
    (hf_dir / "model.safetensors").unlink()
    names = sorted(tensors)
    parts = {"model-00001-of-00002.safetensors": names[::2], "model-00002-of-00002.safetensors": names[1::2]}
    for file, part in parts.items():
        save_file({n: tensors[n] for n in part}, str(hf_dir / file))
    weight_map = {n: file for file, part in parts.items() for n in part}
    (hf_dir / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))


def test_sharded_safetensors(tmp_path: Path) -> None:
    hf_dir, tensors = checkpoint(tmp_path, "llama")
    single = values(converted(hf_dir), "blk.1.ffn_down.weight")
    _shard(hf_dir, tensors)
    np.testing.assert_array_equal(values(converted(hf_dir), "blk.1.ffn_down.weight"), single)
    (hf_dir / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(ConvertError, match="model-00002-of-00002.safetensors"):
        converted(hf_dir)


def test_pytorch_bin(tmp_path: Path) -> None:
    import torch

    hf_dir, tensors = checkpoint(tmp_path, "qwen2")
    (hf_dir / "model.safetensors").unlink()
    torch.save({n: torch.from_numpy(t) for n, t in tensors.items()}, hf_dir / "pytorch_model.bin")
    f = converted(hf_dir)
    np.testing.assert_array_equal(values(f, "blk.1.attn_q.bias"), tensors["model.layers.1.self_attn.q_proj.bias"])


def test_progress_is_called_per_tensor(tmp_path: Path) -> None:
    hf_dir, tensors = checkpoint(tmp_path, "llama")
    calls = []
    out = convert(hf_dir, tmp_path / "out.gguf", "f16", progress=lambda *a: calls.append(a))
    assert [c[0] for c in calls] == list(range(1, len(tensors) + 1))
    assert {c[1] for c in calls} == {len(tensors)}
    assert sorted(c[2] for c in calls) == sorted(t.name for t in open_gguf(out).tensors)


def test_a_failed_conversion_leaves_no_file(tmp_path: Path) -> None:
    hf_dir, _ = checkpoint(tmp_path, "llama")
    out = tmp_path / "out.gguf"

    def stop(done, total, name):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        convert(hf_dir, out, progress=stop)
    assert list(tmp_path.glob("out.gguf*")) == []


# -- errors ---------------------------------------------------------------------------------------
def test_errors_name_what_is_wrong(tmp_path: Path) -> None:
    hf_dir, _ = checkpoint(tmp_path, "llama")
    out = tmp_path / "x.gguf"
    with pytest.raises(UsageError, match="outtype"):
        convert(hf_dir, out, "q4_0")
    with pytest.raises(ConvertError, match="not a directory"):
        convert(tmp_path / "nowhere", out)
    with pytest.raises(ConvertError, match="does not exist"):
        convert(hf_dir, tmp_path / "no" / "x.gguf")
    config = json.loads((hf_dir / "config.json").read_text())
    (hf_dir / "config.json").write_text(json.dumps({**config, "architectures": ["GPT2LMHeadModel"]}))
    with pytest.raises(ConvertError, match="GPT2LMHeadModel cannot be converted"):
        convert(hf_dir, out)
    (hf_dir / "config.json").unlink()
    with pytest.raises(ConvertError, match="config.json is missing"):
        convert(hf_dir, out)
    assert issubclass(ConvertError, InputError)


def test_weight_file_errors(tmp_path: Path) -> None:
    hf_dir, tensors = checkpoint(tmp_path, "llama")
    out = tmp_path / "x.gguf"
    data = (hf_dir / "model.safetensors").read_bytes()
    (hf_dir / "model.safetensors").write_bytes(data[:-100])
    with pytest.raises(ConvertError, match="data offsets"):
        convert(hf_dir, out)
    (hf_dir / "model.safetensors").write_bytes(b"\xff" * 8 + data[8:])
    with pytest.raises(ConvertError, match="header length"):
        convert(hf_dir, out)
    save_file({**tensors, "model.layers.0.mystery.weight": np.zeros(4, np.float32)}, str(hf_dir / "model.safetensors"))
    with pytest.raises(ConvertError, match="mystery"):
        convert(hf_dir, out)
    (hf_dir / "model.safetensors").unlink()
    with pytest.raises(ConvertError, match="no model weights"):
        convert(hf_dir, out)
    assert not out.exists()


def test_gemma3_refuses_what_gguf_cannot_express(tmp_path: Path) -> None:
    hf_dir, _ = checkpoint(tmp_path, "gemma3", layer_types=["sliding_attention", "full_attention"] * 3)
    with pytest.raises(ConvertError, match="layer_types"):
        convert(hf_dir, tmp_path / "x.gguf")
    hf_dir, _ = checkpoint(tmp_path, "gemma3", query_pre_attn_scalar=64)
    with pytest.raises(ConvertError, match="query_pre_attn_scalar"):
        convert(hf_dir, tmp_path / "x.gguf")


# -- tokenizers -----------------------------------------------------------------------------------
def _bpe_tokenizer(path: Path) -> object:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>", "<|im_start|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    tok.save(str(path / "tokenizer.json"))
    return tok


def test_gpt2_vocabulary_tokenizes_like_the_original(tmp_path: Path) -> None:
    from localllm.tokenizer import Tokenizer

    hf_dir, _ = checkpoint(tmp_path, "qwen2", vocab_size=320, eos_token_id=0)
    original = _bpe_tokenizer(hf_dir)
    f = converted(hf_dir)
    assert f.get("tokenizer.ggml.model") == "gpt2" and f.get("tokenizer.ggml.pre") == "gpt-2"
    tokens, types = list(f.get("tokenizer.ggml.tokens")), list(f.get("tokenizer.ggml.token_type"))
    assert len(tokens) == 320 and tokens[300:] == [f"[PAD{i}]" for i in range(300, 320)]
    assert types[0] == gguf.TokenType.CONTROL and types[1] == gguf.TokenType.CONTROL
    assert set(types[300:]) == {gguf.TokenType.UNUSED} and types[150] == gguf.TokenType.NORMAL
    assert len(f.get("tokenizer.ggml.merges")) == len(json.loads((hf_dir / "tokenizer.json").read_text())["model"]["merges"])
    assert f.get("tokenizer.ggml.eos_token_id") == 0 and f.get("qwen2.vocab_size") is None
    tok = Tokenizer.from_gguf(f)
    for text in SAMPLES:
        assert tok.encode(text, add_special=False) == original.encode(text, add_special_tokens=False).ids, text


def test_spm_vocabulary_tokenizes_like_sentencepiece(tmp_path: Path) -> None:
    import sentencepiece as spm

    from localllm.tokenizer import Tokenizer

    hf_dir, tensors = checkpoint(tmp_path, "gemma3", vocab_size=400)
    embed = make_tensors(make_config("gemma3"), embed_rows=416)["model.embed_tokens.weight"]
    save_file({**tensors, "model.embed_tokens.weight": embed}, str(hf_dir / "model.safetensors"))
    spm.SentencePieceTrainer.train(sentence_iterator=iter(CORPUS), model_prefix=str(hf_dir / "tokenizer"),
                                   vocab_size=400, model_type="bpe", byte_fallback=True, minloglevel=2,
                                   add_dummy_prefix=False, normalization_rule_name="identity",
                                   remove_extra_whitespaces=False)  # as Gemma's tokenizer.model
    sp = spm.SentencePieceProcessor(model_file=str(hf_dir / "tokenizer.model"))
    f = converted(hf_dir)
    assert f.get("tokenizer.ggml.model") == "llama" and f.get("tokenizer.ggml.add_space_prefix") is False
    tokens, scores = list(f.get("tokenizer.ggml.tokens")), list(f.get("tokenizer.ggml.scores"))
    assert tokens == [sp.id_to_piece(i) for i in range(400)]
    assert scores == pytest.approx([sp.get_score(i) for i in range(400)])
    types = list(f.get("tokenizer.ggml.token_type"))
    assert types[sp.unk_id()] == gguf.TokenType.UNKNOWN and types[sp.bos_id()] == gguf.TokenType.CONTROL
    assert types[sp.piece_to_id("<0x41>")] == gguf.TokenType.BYTE
    assert tuple(f.tensor("token_embd.weight").shape) == (HIDDEN, 400)  # cut to the vocabulary, as llama.cpp does
    tok = Tokenizer.from_gguf(f)
    for text in SAMPLES:
        assert tok.encode(text, add_special=False) == sp.encode(text, out_type=int), text


def test_tokenizer_files_the_architecture_cannot_use(tmp_path: Path) -> None:
    hf_dir, _ = checkpoint(tmp_path, "gemma3")
    _bpe_tokenizer(hf_dir)
    with pytest.raises(ConvertError, match="tokenizer.model"):
        convert(hf_dir, tmp_path / "x.gguf")
