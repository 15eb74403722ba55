"""What every architecture module shares: hyperparameters from GGUF metadata, tensor lookup by a
name table, and `GraphBuilder`, which records the static op program the native core runs.

An architecture module provides `hparams(gguf) -> HParams` and `build(gguf, hp, g: GraphBuilder)`.
Buffers are named by role ("x", "q", ...) and reused across layers, so activation memory is
n_batch x (sum of distinct widths), not per layer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError, UnsupportedQuantError
from ..gguf import GGUFFile, GGMLType, TensorInfo

# ggml op kinds, rope modes and special buffers: the enums of native/include/localllm.h.
OP = {
    "get_rows": 1, "rms_norm": 2, "layer_norm": 3, "matmul": 4, "add_bias": 5, "rope": 6, "kv_store": 7,
    "attention": 8, "add": 9, "mul": 10, "scale": 11, "gelu_mul": 12, "silu_mul": 13, "softcap": 14,
    "logit_rows": 15, "gelu_erf": 16, "get_pos_rows": 17, "offload": 18,
}
ROPE_NORMAL, ROPE_NEOX = 0, 2
BUF_LOGITS, BUF_NONE = -2, -1
LAYER_TENSOR = re.compile(r"blk\.(\d+)\.")  # tensors of layer il are named blk.{il}.*


class ModelFormatError(InputError):
    """The GGUF file lacks a tensor or key its architecture needs, or has the wrong shape."""


@dataclass
class HParams:
    """Architecture-independent hyperparameters (per-layer values are lists)."""

    arch: str
    n_vocab: int
    n_ctx_train: int
    n_embd: int
    n_layer: int
    n_head: int
    n_head_kv: int
    head_dim: int
    head_dim_v: int
    n_ff: int
    eps: float
    rope_base: list[float]            # [n_layer]
    rope_freq_scale: list[float]      # [n_layer]
    rope_mode: int
    window: list[int]                 # [n_layer] 0 = full attention
    attn_scale: float
    extra: dict[str, Any] = field(default_factory=dict)
    causal: bool = True               # False: an encoder (bidirectional; no KV cache kept between calls)

    @property
    def kv_width(self) -> int:
        return self.n_head_kv * self.head_dim


def meta(gguf: GGUFFile, key: str, default: Any = ..., *, arch: str | None = None) -> Any:
    """Metadata `{arch}.{key}` (or `key` when arch is None); ModelFormatError when required and absent."""
    full = f"{arch}.{key}" if arch else key
    value = gguf.get(full)
    if value is None:
        if default is ...:
            raise ModelFormatError(f"{gguf.path}: metadata key {full!r} is missing")
        return default
    return value


def per_layer(value: Any, n_layer: int) -> list:
    """A scalar repeated per layer, or a per-layer array checked for length."""
    if isinstance(value, (int, float, np.integer, np.floating)):
        return [value] * n_layer
    values = list(value)
    if len(values) != n_layer:
        raise ModelFormatError(f"per-layer value has {len(values)} entries for {n_layer} layers")
    return values


def transformer_shape(gguf: GGUFFile, arch: str, default_eps: float) -> dict[str, Any]:
    """The HParams fields every decoder reads the same way: sizes, heads, head dims, norm eps."""
    def m(key, default=...):
        return meta(gguf, key, default, arch=arch)

    n_layer, n_embd, n_head = m("block_count"), m("embedding_length"), m("attention.head_count")
    head_dim = m("attention.key_length", n_embd // n_head)
    return {
        "arch": arch,
        "n_vocab": gguf.tensor("token_embd.weight").shape[1],
        "n_ctx_train": m("context_length"),
        "n_embd": n_embd,
        "n_layer": n_layer,
        "n_head": n_head,
        "n_head_kv": per_layer(m("attention.head_count_kv", n_head), n_layer)[0],
        "head_dim": head_dim,
        "head_dim_v": m("attention.value_length", head_dim),
        "n_ff": per_layer(m("feed_forward_length"), n_layer)[0],
        "eps": float(m("attention.layer_norm_rms_epsilon", default_eps)),
    }


def rope_freq_scale(gguf: GGUFFile, arch: str) -> float:
    """1 / factor for linear RoPE scaling, else 1 (llama3 scaling comes as a rope_freqs tensor)."""
    kind = meta(gguf, "rope.scaling.type", None, arch=arch)
    factor = meta(gguf, "rope.scaling.factor", None, arch=arch)
    if kind == "linear" and factor:
        return 1.0 / float(factor)
    return 1.0


class GraphBuilder:
    """Records ops (dicts mirroring `ll_op`) and buffer widths; keeps weight arrays alive.

    embedding=True: `output` emits the hidden state after the final norm (n_embd floats per row)
    instead of vocabulary logits."""

    def __init__(self, gguf: GGUFFile, *, embedding: bool = False):
        self.gguf = gguf
        self.embedding = embedding
        self.hidden_output = False   # set by `output` when the program outputs hidden states
        self.ops: list[dict[str, Any]] = []
        self.buffer_width: list[int] = []
        self.buffer_names: dict[str, int] = {}
        self.keep: list[np.ndarray] = []
        self.kv_width: dict[int, tuple[int, int]] = {}
        self.tensor_names = {t.name for t in gguf.tensors}
        self.layer_starts: dict[int, int] = {}  # layer -> index of its first op (the first to use a blk.{il} tensor)
        self.output_start: int | None = None    # index of the LOGIT_ROWS op: the output head starts there

    # -- weights ---------------------------------------------------------------------------
    def tensor(self, name: str, shape: tuple[int, ...] | None = None) -> TensorInfo:
        try:
            t = self.gguf.tensor(name)
        except KeyError:
            raise ModelFormatError(f"{self.gguf.path}: tensor {name!r} is missing") from None
        if shape is not None and tuple(t.shape) != tuple(shape):
            raise ModelFormatError(f"tensor {name!r} has shape {t.shape}, expected {shape}")
        layer = LAYER_TENSOR.match(name)
        if layer:
            self.layer_starts.setdefault(int(layer[1]), len(self.ops))
        return t

    def has(self, name: str) -> bool:
        return name in self.tensor_names

    def f32(self, name: str, n: int) -> np.ndarray:
        """A float32 [n] weight (norm scales, biases): a view of the file, or a converted copy."""
        t = self.tensor(name)
        if t.n_elements != n:
            raise ModelFormatError(f"tensor {name!r} has {t.n_elements} values, expected {n}")
        if t.type == GGMLType.F32:
            values = t.array().reshape(-1)
        elif t.type in (GGMLType.F16, GGMLType.BF16):
            from ..backend.native import dequantize_row

            values = dequantize_row(t.type, t.data, n)
        else:
            raise UnsupportedQuantError(f"tensor {name!r} is {t.type.name}; norms and biases must be float")
        self.keep.append(values)
        return values

    # -- buffers ---------------------------------------------------------------------------
    def buffer(self, name: str, width: int) -> int:
        """The activation buffer `name` (created on first use; every use must agree on the width)."""
        if name in self.buffer_names:
            index = self.buffer_names[name]
            if self.buffer_width[index] != width:
                raise AssertionError(f"buffer {name!r} used with widths {self.buffer_width[index]} and {width}")
            return index
        self.buffer_names[name] = len(self.buffer_width)
        self.buffer_width.append(int(width))
        return self.buffer_names[name]

    def width(self, buffer: int) -> int:
        return self.buffer_width[buffer]

    # -- ops -------------------------------------------------------------------------------
    def _op(self, kind: str, **fields: Any) -> None:
        self.ops.append({"kind": OP[kind], "src0": BUF_NONE, "src1": BUF_NONE, "dst": BUF_NONE, **fields})

    def get_rows(self, name: str, dst: str, n: int, *, by_position: bool = False) -> int:
        """Row `token` (or, by_position, row `position`) of every batch row from table `name`."""
        t = self.tensor(name)
        out = self.buffer(dst, n)
        self._op("get_pos_rows" if by_position else "get_rows", dst=out, n=n, w=t, w_type=int(t.type),
                 w_rows=t.shape[1])
        return out

    def matmul(self, name: str, src: int, dst: str | int, *, tensor: TensorInfo | None = None) -> int:
        t = tensor or self.tensor(name)
        n_in, n_out = t.shape[0], t.shape[1]
        if n_in != self.width(src):
            raise ModelFormatError(f"tensor {t.name!r} takes {n_in} inputs, its input has {self.width(src)}")
        out = dst if isinstance(dst, int) else self.buffer(dst, n_out)
        self._op("matmul", src0=src, dst=out, n=n_in, w=t, w_type=int(t.type), w_rows=n_out)
        return out

    def add_bias(self, name: str, buf: int) -> None:
        n = self.width(buf)
        self._op("add_bias", src0=buf, dst=buf, n=n, b=self.f32(name, n))

    def add_vector(self, buf: int, values: np.ndarray) -> None:
        """buf[t] += values[n] for every row (a bias computed at load)."""
        values = np.ascontiguousarray(values, dtype=np.float32)
        self.keep.append(values)
        self._op("add_bias", src0=buf, dst=buf, n=self.width(buf), b=values)

    def rms_norm(self, src: int, dst: int, eps: float, weight: str | None = None, group: int | None = None) -> int:
        group = group or self.width(src)
        w = self.f32(weight, group) if weight else None
        self._op("rms_norm", src0=src, dst=dst, n=self.width(src), group=group, w=w, eps=eps)
        return dst

    def layer_norm(self, src: int, dst: int, eps: float, weight: str | None, bias: str | None) -> int:
        n = self.width(src)
        w = self.f32(weight, n) if weight else None
        b = self.f32(bias, n) if bias else None
        self._op("layer_norm", src0=src, dst=dst, n=n, group=n, w=w, b=b, eps=eps)
        return dst

    def rope(self, buf: int, n_head: int, head_dim: int, *, base: float, mode: int, freq_scale: float = 1.0,
             freq_factors: np.ndarray | None = None) -> int:
        self._op("rope", src0=buf, dst=buf, n=self.width(buf), group=head_dim, n_head=n_head, rope_mode=mode,
                 rope_base=base, rope_freq_scale=freq_scale, rope_freq_factors=freq_factors)
        return buf

    def kv_store(self, layer: int, k: int, v: int, *, head_dim: int, rope: dict[str, Any] | None) -> None:
        self.kv_width[layer] = (self.width(k), self.width(v))
        fields = {} if rope is None else {
            "rope_base": rope["base"], "rope_mode": rope["mode"], "rope_freq_scale": rope.get("freq_scale", 1.0),
            "rope_freq_factors": rope.get("freq_factors"),
        }
        self._op("kv_store", src0=k, src1=v, n=self.width(k), n1=self.width(v), group=head_dim, layer=layer, **fields)

    def attention(self, layer: int, q: int, dst: str, *, n_head: int, n_head_kv: int, head_dim: int,
                  head_dim_v: int, scale: float, window: int = 0, softcap: float = 0.0, causal: bool = True) -> int:
        out = self.buffer(dst, n_head * head_dim_v)
        self._op("attention", src0=q, dst=out, n=self.width(q), group=head_dim, layer=layer, n_head=n_head,
                 n_head_kv=n_head_kv, scale=scale, window=window, softcap=softcap, causal=int(causal))
        return out

    def binary(self, kind: str, a: int, b: int, dst: int) -> int:
        self._op(kind, src0=a, src1=b, dst=dst, n=self.width(a))
        return dst

    def gated(self, kind: str, gate: int, up: int | None, dst: int) -> int:
        self._op(kind, src0=gate, src1=BUF_NONE if up is None else up, dst=dst, n=self.width(gate))
        return dst

    def scale(self, buf: int, factor: float) -> int:
        self._op("scale", src0=buf, dst=buf, n=self.width(buf), scale=factor)
        return buf

    def logit_rows(self, src: int, dst: str) -> int:
        out = self.buffer(dst, self.width(src))
        self.output_start = len(self.ops)
        self._op("logit_rows", src0=src, dst=out, n=self.width(src))
        return out

    def output(self, name: str | None, src: int, *, softcap: float = 0.0) -> None:
        """The last matmul: vocabulary logits straight into the caller's array (then capped if asked).

        With embedding=True, or name None (a model without a vocabulary head), the hidden state
        instead: the final norm, the op just before (normalizing `src` in place), is redirected
        to write straight into the caller's array."""
        if self.embedding or name is None:
            self._hidden_state_output(src)
            return
        t = self.tensor(name)
        self.matmul(name, src, BUF_LOGITS, tensor=t)
        if softcap:
            self._op("softcap", src0=BUF_LOGITS, dst=BUF_LOGITS, n=t.shape[1], softcap=softcap)


    def _hidden_state_output(self, src: int) -> None:
        norm = self.ops[-1] if self.ops else {}
        if norm.get("kind") not in (OP["rms_norm"], OP["layer_norm"]) or norm["dst"] != src:
            raise AssertionError("a hidden-state output needs the final norm of its input as the last op")
        norm["dst"] = BUF_LOGITS
        self.hidden_output = True


def default_attn_scale(head_dim: int) -> float:
    return 1.0 / math.sqrt(head_dim)
