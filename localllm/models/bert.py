"""BERT encoders (sentence embedding models such as all-MiniLM, bge, e5): token + absolute position
+ token-type embeddings and a LayerNorm, then post-norm blocks of bidirectional attention (Q, K, V,
output with biases) and a GELU FFN with biases, each followed by residual + LayerNorm. No RoPE, no
vocabulary head: the program outputs the hidden state of the last block. Tensor names and metadata
are llama.cpp's (`bert.attention.layer_norm_epsilon`, `bert.attention.causal`, `bert.pooling_type`).

Every token is of type 0 ("sentence A"), as llama.cpp does: token_types row 0 is added as a bias.
The FFN activation is the exact (erf) GELU that HF BERT's "gelu" computes; llama.cpp uses the tanh
approximation (a difference of ~1e-3 at most per activation).
"""

from __future__ import annotations

import numpy as np

from ..gguf import GGMLType, GGUFFile
from .base import ROPE_NORMAL, GraphBuilder, HParams, ModelFormatError, default_attn_scale, meta, transformer_shape

ARCH = "bert"
TOKEN_TYPE_A = 0


def hparams(gguf: GGUFFile) -> HParams:
    def m(key, default=...):
        return meta(gguf, key, default, arch=ARCH)

    shape = transformer_shape(gguf, ARCH, default_eps=1e-12)
    shape["eps"] = float(m("attention.layer_norm_epsilon", 1e-12))
    n_layer = shape["n_layer"]
    if shape["n_head_kv"] != shape["n_head"]:
        raise ModelFormatError(f"{gguf.path}: bert has as many key/value heads as query heads")
    return HParams(
        **shape,
        rope_base=[0.0] * n_layer,
        rope_freq_scale=[1.0] * n_layer,
        rope_mode=ROPE_NORMAL,
        window=[0] * n_layer,
        attn_scale=default_attn_scale(shape["head_dim"]),
        causal=bool(m("attention.causal", False)),
    )


def token_type_row(g: GraphBuilder, n: int) -> np.ndarray:
    """float32 [n]: row TOKEN_TYPE_A of the token_types table, in any storage type."""
    t = g.tensor("token_types.weight")
    if t.shape[0] != n:
        raise ModelFormatError(f"tensor 'token_types.weight' has rows of {t.shape[0]}, expected {n}")
    if t.type == GGMLType.F32:
        row = np.array(t.array().reshape(-1, n)[TOKEN_TYPE_A])
    else:
        from ..backend.native import dequantize_row

        row = dequantize_row(t.type, t.rows()[TOKEN_TYPE_A], n)
    return row


def linear(g: GraphBuilder, name: str, src: int, dst: str | int) -> int:
    """dst = src @ W^T + b for the weight/bias pair `name`."""
    out = g.matmul(name + ".weight", src, dst)
    g.add_bias(name + ".bias", out)
    return out


def layer_norm(g: GraphBuilder, src: int, dst: int, hp: HParams, name: str) -> int:
    return g.layer_norm(src, dst, hp.eps, name + ".weight", name + ".bias")


def embeddings(g: GraphBuilder, hp: HParams) -> int:
    """x [n, E] = LayerNorm(token_embd[token] + position_embd[pos] + token_types[0])."""
    E = hp.n_embd
    x = g.get_rows("token_embd.weight", "x", E)
    pos = g.get_rows("position_embd.weight", "o", E, by_position=True)
    g.binary("add", x, pos, x)
    g.add_vector(x, token_type_row(g, E))
    return layer_norm(g, x, x, hp, "token_embd_norm")


def build(gguf: GGUFFile, hp: HParams, g: GraphBuilder) -> None:
    hd = hp.head_dim
    x = embeddings(g, hp)                                  # [n, E]
    for il in range(hp.n_layer):
        p = f"blk.{il}."
        q = linear(g, p + "attn_q", x, "q")                # [n, n_head * hd]
        k = linear(g, p + "attn_k", x, "k")
        v = linear(g, p + "attn_v", x, "v")
        g.kv_store(il, k, v, head_dim=hd, rope=None)
        a = g.attention(il, q, "attn", n_head=hp.n_head, n_head_kv=hp.n_head_kv, head_dim=hd,
                        head_dim_v=hp.head_dim_v, scale=hp.attn_scale, causal=hp.causal)
        o = linear(g, p + "attn_output", a, "o")          # [n, E]
        g.binary("add", o, x, o)
        layer_norm(g, o, x, hp, p + "attn_output_norm")
        up = linear(g, p + "ffn_up", x, "up")             # [n, n_ff]
        g.gated("gelu_erf", up, None, up)
        d = linear(g, p + "ffn_down", up, "o")            # [n, E]
        g.binary("add", d, x, d)
        if il < hp.n_layer - 1:
            layer_norm(g, d, x, hp, p + "layer_output_norm")
    last = g.logit_rows(d, "x_out")                        # [n_out, E]: the row-wise last norm after the pick
    layer_norm(g, last, last, hp, f"blk.{hp.n_layer - 1}.layer_output_norm")
    g.output(None, last)
