"""Hand-built op programs for the native op tests (tests/test_ops.py).

A test declares float32 tables, builds ops with `GraphBuilder` and runs them through
`NativeModel(program=(hparams, graph))`, the same path the real architectures take:

    prog = OpProgram(tmp_path, {"x": X}, weights={"w": w}, out_widths=[W])  # X: [rows, W] input table
    x = prog.g.get_rows("x", "x", W)                                # token t selects row X[t] exactly
    prog.g.rms_norm(x, x, 1e-6, "w")
    prog.finish([x])                                                # read x back through the logits
    runner = prog.model(n_ctx=8, n_batch=8)
    (y,) = runner.run(tokens=range(rows), positions=...)            # y: float32 [rows, W]

Reading back is exact: each buffer read back is placed at its column offset of a "readback" row
by a matmul with an F32 one-hot matrix, the pieces are added (x + 0 is exact), and an F32
identity matrix (padded with zero rows to the vocabulary size) is the final MATMUL into the
logits. Every table has n_vocab rows, so any token id below n_vocab selects a row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import gguf
import numpy as np

from localllm.backend import native
from localllm.backend.native import Context
from localllm.backend.program import ModelConfig, NativeModel
from localllm.gguf import open_gguf
from localllm.models.base import OP, GraphBuilder, HParams

U = 2.0**-24       # float32 unit roundoff
U16 = 2.0**-11     # float16 unit roundoff


class Quantized:
    """A table stored as ggml type `qtype`, made from float `values` by `raw()`."""

    def __init__(self, qtype: gguf.GGMLQuantizationType, values: np.ndarray):
        self.qtype = qtype
        self.values = np.asarray(values, np.float32)
        self.shape = self.values.shape

    def raw(self) -> np.ndarray:
        """uint8 [rows, row_bytes]: gguf's numpy quantizer, or the native reference quantizer for the
        types gguf cannot quantize (k-quants)."""
        if self.qtype == gguf.GGMLQuantizationType.F16:
            return self.values.astype(np.float16).view(np.uint8)
        try:
            return gguf.quants.quantize(self.values, self.qtype).view(np.uint8)
        except NotImplementedError:
            raw = native.quantize_row(int(self.qtype), self.values.reshape(-1))
            return raw.reshape(self.values.shape[0], -1)


def write_tables(path: Path, tables: dict) -> None:
    """A GGUF file holding each table as an F32 tensor (numpy shape [rows, cols] = ggml (cols, rows)),
    or, for a `Quantized` table, as its ggml type."""
    w = gguf.GGUFWriter(str(path), arch="optest")
    for name, array in tables.items():
        if isinstance(array, Quantized):
            w.add_tensor(name, array.raw(), raw_dtype=array.qtype)
        else:
            w.add_tensor(name, np.ascontiguousarray(array, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def pad_rows(array: np.ndarray, rows: int) -> np.ndarray:
    """`array` [r, w] with zero rows appended up to `rows`."""
    array = np.asarray(array, dtype=np.float32)
    out = np.zeros((rows, array.shape[1]), np.float32)
    out[: array.shape[0]] = array
    return out


class OpProgram:
    """One hand-built program: its GGUF tables, its GraphBuilder `g`, and how it is read back.

    tables: name -> [rows, width] float32 array or `Quantized`: row tables for get_rows, padded with
    zero rows to n_vocab. weights: name -> array or `Quantized` written as is (matmul matrices
    [n_out, n_in], norm scales, biases). out_widths: widths of the buffers that `finish` will read
    back, in order. n_vocab defaults to the larger of their total width and the rows of any table.
    """

    def __init__(self, tmp_path: Path, tables: dict, *, out_widths: Sequence[int], weights: dict | None = None,
                 n_vocab: int | None = None, name: str = "ops"):
        self.out_widths = [int(w) for w in out_widths]
        total = sum(self.out_widths)
        rows = max([t.shape[0] for t in tables.values()] + [1])
        self.n_vocab = int(n_vocab or max(total, rows))
        assert self.n_vocab >= total and self.n_vocab >= rows
        self.total = total
        full = {}
        for key, t in tables.items():
            if isinstance(t, Quantized):
                full[key] = Quantized(t.qtype, pad_rows(t.values, self.n_vocab))
            else:
                full[key] = pad_rows(t, self.n_vocab)
        for key, t in (weights or {}).items():
            full[key] = t if isinstance(t, Quantized) else np.asarray(t, np.float32)
        offset = 0
        for i, width in enumerate(self.out_widths):   # one-hot placement of piece i: [total, width]
            place = np.zeros((total, width), np.float32)
            place[offset + np.arange(width), np.arange(width)] = 1.0
            full[f"readback.place{i}"] = place
            offset += width
        full["readback.eye"] = np.eye(self.n_vocab, total, dtype=np.float32)  # [n_vocab, total]
        self.path = Path(tmp_path) / f"{name}.gguf"
        write_tables(self.path, full)
        self.gguf = open_gguf(self.path)
        self.g = GraphBuilder(self.gguf)
        self._finished = False

    def finish(self, buffers: Sequence[int], *, softcap: float = 0.0) -> None:
        """Reads `buffers` back (widths as declared) into the logits; softcap the final output if asked.
        A LOGIT_ROWS op always comes first: the output matmul must only see the rows that get logits
        (the native core does not check this; see the report on issue 5)."""
        g = self.g
        assert [g.width(b) for b in buffers] == self.out_widths, ([g.width(b) for b in buffers], self.out_widths)
        if len(buffers) == 1:
            out = buffers[0]
        else:
            out = g.buffer("readback", self.total)
            tmp = g.buffer("readback.piece", self.total)
            for i, b in enumerate(buffers):
                g.matmul(f"readback.place{i}", b, out if i == 0 else tmp)
                if i:
                    g.binary("add", out, tmp, out)
        out = g.logit_rows(out, "readback.rows")
        g.output("readback.eye", out, softcap=softcap)
        self._finished = True

    def own_output(self) -> None:
        """The program wrote its logits itself (a matmul with "readback.eye", [n_vocab, total])."""
        self._finished = True

    def hparams(self) -> HParams:
        """What NativeModel reads: n_layer (KV layers), n_vocab (logits width), arch (messages) and
        head_dim / head_dim_v (its q8_0 cache check), from the first attention op."""
        n_layer = max([layer + 1 for layer in self.g.kv_width] + [0])
        head_dim = head_dim_v = 32
        for op in self.g.ops:
            if op["kind"] == OP["attention"]:
                head_dim = op["group"]
                head_dim_v = self.g.kv_width.get(op["layer"], (0, head_dim * op["n_head_kv"]))[1] // op["n_head_kv"]
                break
        return HParams(arch="optest", n_vocab=self.n_vocab, n_ctx_train=1 << 20, n_embd=self.total, n_layer=n_layer,
                       n_head=1, n_head_kv=1, head_dim=head_dim, head_dim_v=head_dim_v, n_ff=1, eps=0.0,
                       rope_base=[10000.0] * n_layer, rope_freq_scale=[1.0] * n_layer, rope_mode=0,
                       window=[0] * n_layer, attn_scale=1.0)

    def model(self, *, n_ctx: int | None = None, n_batch: int = 64, type_k: str = "f32", type_v: str = "f32",
              threads: int = 1, level: str | None = None) -> "Runner":
        """A NativeModel of the program (n_ctx defaults to n_batch: every batch takes cache cells),
        on the kernel level `level` (default: the best this CPU runs)."""
        assert self._finished, "call finish() first"
        n_ctx = n_batch if n_ctx is None else n_ctx
        ctx = Context(threads, level=level)
        m = NativeModel(self.gguf, ctx, ModelConfig(n_ctx, n_batch, type_k, type_v), program=(self.hparams(), self.g))
        return Runner(m, ctx, self.out_widths)


class Runner:
    """A NativeModel of an OpProgram; `run` returns the read-back buffers of every row."""

    def __init__(self, model: NativeModel, ctx: Context, out_widths: list[int]):
        self.model = model
        self.ctx = ctx
        self.out_widths = out_widths

    def run(self, tokens, positions=None, seq_ids=None, rows=None) -> list[np.ndarray]:
        """Read-back buffers [len(rows), width] for the batch (rows: logit rows, default all)."""
        tokens = np.asarray(list(tokens), dtype=np.int32)
        positions = np.arange(tokens.size, dtype=np.int32) if positions is None else np.asarray(positions, np.int32)
        rows = np.arange(tokens.size) if rows is None else rows
        logits = self.model.forward(tokens, positions, seq_ids, logit_rows=rows)
        out, offset = [], 0
        for width in self.out_widths:
            out.append(logits[:, offset:offset + width].copy())
            offset += width
        return out

    def run_chunks(self, tokens, positions, seq_ids=None, chunk: int = 64) -> list[np.ndarray]:
        """`run` over consecutive chunks of the batch (the cache keeps growing); outputs concatenated."""
        tokens, positions = np.asarray(tokens, np.int32), np.asarray(positions, np.int32)
        seq_ids = np.zeros_like(tokens) if seq_ids is None else np.asarray(seq_ids, np.int32)
        parts = [self.run(tokens[i:i + chunk], positions[i:i + chunk], seq_ids[i:i + chunk])
                 for i in range(0, tokens.size, chunk)]
        return [np.concatenate([p[j] for p in parts]) for j in range(len(self.out_widths))]


def attention_program(tmp_path: Path, q: np.ndarray, k: np.ndarray, v: np.ndarray, *, n_head: int, n_head_kv: int,
                      head_dim: int, scale: float, window: int = 0, softcap: float = 0.0, causal: bool = True,
                      n_layer: int = 1, windows: Sequence[int] | None = None, rope: dict | None = None,
                      n_vocab: int | None = None) -> OpProgram:
    """q [rows, n_head*hd], k [rows, n_head_kv*hd], v [rows, n_head_kv*hd_v] as tables; per layer:
    get_rows q/k/v (scaled by layer + 1 for layers > 0, so every layer's cache differs),
    optional RoPE on q and k, kv_store, attention. Reads back every layer's attention output."""
    hd_v = v.shape[1] // n_head_kv
    windows = list(windows) if windows is not None else [window] * n_layer
    prog = OpProgram(tmp_path, {"q_table": q, "k_table": k, "v_table": v},
                     out_widths=[n_head * hd_v] * n_layer, n_vocab=n_vocab, name="attn")
    g = prog.g
    outs = []
    for il in range(n_layer):
        qb = g.get_rows("q_table", "q", q.shape[1])
        kb = g.get_rows("k_table", "k", k.shape[1])
        vb = g.get_rows("v_table", "v", v.shape[1])
        if il:
            g.scale(kb, float(il + 1))
            g.scale(vb, float(il + 1))
        if rope is not None:
            g.rope(qb, n_head, head_dim, **rope)
            g.rope(kb, n_head_kv, head_dim, **rope)
        g.kv_store(il, kb, vb, head_dim=head_dim, rope=rope)
        outs.append(g.attention(il, qb, f"attn{il}", n_head=n_head, n_head_kv=n_head_kv, head_dim=head_dim,
                                head_dim_v=hd_v, scale=scale, window=windows[il], softcap=softcap, causal=causal))
    prog.finish(outs)
    return prog
