"""Gemma 3 (text): sliding-window layers (5 local : 1 global), RoPE base 10000 on local layers and
the metadata base on global ones, QK-norm, post-attention and post-FFN norms, embeddings scaled by
sqrt(n_embd), tanh-GELU gated FFN, output tied to the token embeddings unless output.weight exists."""

from __future__ import annotations

import math

from ..gguf import GGUFFile
from .base import ROPE_NEOX, GraphBuilder, HParams, meta, rope_freq_scale, transformer_shape

ARCH = "gemma3"
LOCAL_ROPE_BASE = 10000.0  # when the file has no rope.freq_base_swa
SLIDING_WINDOW_PATTERN = 6  # layers il with il % 6 < 5 use the sliding window
N_LAYER_27B = 62


def hparams(gguf: GGUFFile) -> HParams:
    def m(key, default=...):
        return meta(gguf, key, default, arch=ARCH)

    shape = transformer_shape(gguf, ARCH, default_eps=1e-6)
    n_layer, n_embd, n_head, head_dim = shape["n_layer"], shape["n_embd"], shape["n_head"], shape["head_dim"]
    window = m("attention.sliding_window", 0)
    is_local = [window > 0 and il % SLIDING_WINDOW_PATTERN < SLIDING_WINDOW_PATTERN - 1 for il in range(n_layer)]
    global_base, global_scale = float(m("rope.freq_base", 1e6)), rope_freq_scale(gguf, ARCH)
    local_base = float(m("rope.freq_base_swa", LOCAL_ROPE_BASE))
    # query_pre_attn_scalar: head_dim for every size but 27B, which uses n_embd / n_head.
    attn_dim = n_embd // n_head if n_layer == N_LAYER_27B else head_dim
    return HParams(
        **shape,
        rope_base=[local_base if local else global_base for local in is_local],
        rope_freq_scale=[1.0 if local else global_scale for local in is_local],
        rope_mode=ROPE_NEOX,
        window=[window if local else 0 for local in is_local],
        attn_scale=1.0 / math.sqrt(attn_dim),
        extra={"final_softcap": float(m("final_logit_softcapping", 0.0) or 0.0)},
    )


def build(gguf: GGUFFile, hp: HParams, g: GraphBuilder) -> None:
    E, hd, hdv = hp.n_embd, hp.head_dim, hp.head_dim_v
    x = g.get_rows("token_embd.weight", "x", E)        # [n, E]
    g.scale(x, math.sqrt(E))
    h = g.buffer("h", E)
    for il in range(hp.n_layer):
        p = f"blk.{il}."
        g.rms_norm(x, h, hp.eps, p + "attn_norm.weight")
        q = g.matmul(p + "attn_q.weight", h, "q")      # [n, n_head * hd]
        k = g.matmul(p + "attn_k.weight", h, "k")      # [n, n_head_kv * hd]
        v = g.matmul(p + "attn_v.weight", h, "v")      # [n, n_head_kv * hdv]
        g.rms_norm(q, q, hp.eps, p + "attn_q_norm.weight", group=hd)
        g.rms_norm(k, k, hp.eps, p + "attn_k_norm.weight", group=hd)
        rope = {"base": hp.rope_base[il], "mode": hp.rope_mode, "freq_scale": hp.rope_freq_scale[il]}
        g.rope(q, hp.n_head, hd, **rope)
        g.rope(k, hp.n_head_kv, hd, **rope)
        g.kv_store(il, k, v, head_dim=hd, rope=rope)
        g.scale(q, hp.attn_scale)                      # on q, as llama.cpp does (not on q.k)
        a = g.attention(il, q, "attn", n_head=hp.n_head, n_head_kv=hp.n_head_kv, head_dim=hd, head_dim_v=hdv,
                        scale=1.0, window=hp.window[il])
        o = g.matmul(p + "attn_output.weight", a, "o")  # [n, E]
        g.rms_norm(o, o, hp.eps, p + "post_attention_norm.weight")
        g.binary("add", x, o, x)
        g.rms_norm(x, h, hp.eps, p + "ffn_norm.weight")
        gate = g.matmul(p + "ffn_gate.weight", h, "gate")  # [n, n_ff]
        up = g.matmul(p + "ffn_up.weight", h, "up")
        g.gated("gelu_mul", gate, up, gate)
        d = g.matmul(p + "ffn_down.weight", gate, "o")
        g.rms_norm(d, d, hp.eps, p + "post_ffw_norm.weight")
        g.binary("add", x, d, x)
    last = g.logit_rows(x, "x_out")                    # [n_logits, E]
    g.rms_norm(last, last, hp.eps, "output_norm.weight")
    g.output("output.weight" if g.has("output.weight") else "token_embd.weight", last,
             softcap=hp.extra["final_softcap"])
