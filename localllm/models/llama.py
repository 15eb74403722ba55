"""The llama family: Llama 2/3/3.x (llama3 RoPE scaling through the rope_freqs tensor, linear
scaling from metadata), Mistral, SmolLM, TinyLlama; and, through `Variant`, qwen2 (QKV biases,
NeoX RoPE) and qwen3 (per-head QK-norm, NeoX RoPE). Pre-norm blocks, SiLU-gated FFN."""

from __future__ import annotations

from dataclasses import dataclass

from ..gguf import GGUFFile
from .base import ROPE_NORMAL, GraphBuilder, HParams, default_attn_scale, meta, rope_freq_scale, transformer_shape


@dataclass(frozen=True)
class Variant:
    arch: str | None          # metadata prefix (None: the file's general.architecture, for aliases)
    rope_mode: int
    qkv_bias: bool = False    # qwen2: bias tensors on q, k, v
    qk_norm: bool = False     # qwen3: RMS norm of each head of q and k before RoPE


LLAMA = Variant(None, ROPE_NORMAL)


def hparams(gguf: GGUFFile, variant: Variant = LLAMA) -> HParams:
    arch = variant.arch or meta(gguf, "general.architecture")

    def m(key, default=...):
        return meta(gguf, key, default, arch=arch)

    shape = transformer_shape(gguf, arch, default_eps=1e-5)
    n_layer = shape["n_layer"]
    window = m("attention.sliding_window", 0) or 0
    return HParams(
        **shape,
        rope_base=[float(m("rope.freq_base", 10000.0))] * n_layer,
        rope_freq_scale=[rope_freq_scale(gguf, arch)] * n_layer,
        rope_mode=variant.rope_mode,
        window=[int(window)] * n_layer,
        attn_scale=default_attn_scale(shape["head_dim"]),
    )


def build(gguf: GGUFFile, hp: HParams, g: GraphBuilder, variant: Variant = LLAMA) -> None:
    E, hd = hp.n_embd, hp.head_dim
    freq_factors = g.f32("rope_freqs.weight", hd // 2) if g.has("rope_freqs.weight") else None
    x = g.get_rows("token_embd.weight", "x", E)        # [n, E]
    h = g.buffer("h", E)
    for il in range(hp.n_layer):
        p = f"blk.{il}."
        g.rms_norm(x, h, hp.eps, p + "attn_norm.weight")
        q = g.matmul(p + "attn_q.weight", h, "q")      # [n, n_head * hd]
        k = g.matmul(p + "attn_k.weight", h, "k")      # [n, n_head_kv * hd]
        v = g.matmul(p + "attn_v.weight", h, "v")      # [n, n_head_kv * hd_v]
        if variant.qkv_bias:
            for name, buf in (("attn_q", q), ("attn_k", k), ("attn_v", v)):
                g.add_bias(p + name + ".bias", buf)
        if variant.qk_norm:
            g.rms_norm(q, q, hp.eps, p + "attn_q_norm.weight", group=hd)
            g.rms_norm(k, k, hp.eps, p + "attn_k_norm.weight", group=hd)
        rope = {"base": hp.rope_base[il], "mode": hp.rope_mode, "freq_scale": hp.rope_freq_scale[il],
                "freq_factors": freq_factors}
        g.rope(q, hp.n_head, hd, **rope)
        g.rope(k, hp.n_head_kv, hd, **rope)
        g.kv_store(il, k, v, head_dim=hd, rope=rope)
        a = g.attention(il, q, "attn", n_head=hp.n_head, n_head_kv=hp.n_head_kv, head_dim=hd,
                        head_dim_v=hp.head_dim_v, scale=hp.attn_scale, window=hp.window[il])
        o = g.matmul(p + "attn_output.weight", a, "o")  # [n, E]
        g.binary("add", x, o, x)
        g.rms_norm(x, h, hp.eps, p + "ffn_norm.weight")
        gate = g.matmul(p + "ffn_gate.weight", h, "gate")  # [n, n_ff]
        up = g.matmul(p + "ffn_up.weight", h, "up")
        g.gated("silu_mul", gate, up, gate)
        d = g.matmul(p + "ffn_down.weight", gate, "o")
        g.binary("add", x, d, x)
    last = g.logit_rows(x, "x_out")                    # [n_logits, E]
    g.rms_norm(last, last, hp.eps, "output_norm.weight")
    g.output("output.weight" if g.has("output.weight") else "token_embd.weight", last)
