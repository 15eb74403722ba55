"""Op-by-op comparison of a GPU segment with its CPU twin (native/segment.c) on the same inputs.

    python tests/cuda/op_compare.py MODEL.gguf [--rows 1,96] [--layers 1] [--device cuda|cpu]

For every prefix [layer 0 start, op k] of the first `--layers` layers, both segments run the same
batch (random hidden-state rows as the layer's input, an empty cache) and the output buffer of op k
is compared: relative error ||dev - cpu|| / ||cpu||. A jump between two consecutive ops names the
op whose GPU arithmetic differs from the CPU's. Then the whole program's logits are compared, and,
as a floor, the CPU with its input nudged by one part in 1e7 (how much the file itself amplifies
float-level differences). `--device cpu` runs the comparison CPU against CPU (the tool's own check:
every error must be 0).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

from localllm.backend.native import Context  # noqa: E402
from localllm.backend.program import ModelConfig, NativeModel  # noqa: E402
from localllm.backend.segment import CpuSegment  # noqa: E402
from localllm.backend.split import _live_in  # noqa: E402
from localllm.gguf import open_gguf  # noqa: E402
from localllm.models.base import BUF_LOGITS, OP  # noqa: E402

OP_NAMES = {v: k for k, v in OP.items()}
N_CTX = 256


class Bench:
    """The program of a file and the means to run any contiguous run of its ops as a segment."""

    def __init__(self, path: str, n_batch: int):
        self.gguf = open_gguf(path)
        self.context = Context(8)
        self.model = NativeModel(self.gguf, self.context, ModelConfig(n_ctx=N_CTX, n_batch=n_batch))
        self.graph = self._graph()
        self.native = self.model.native
        self.n_batch = n_batch

    def _graph(self):
        from localllm.models import architecture_module
        from localllm.models.base import GraphBuilder

        arch = architecture_module(str(self.gguf.get("general.architecture", "")))
        graph = GraphBuilder(self.gguf)
        arch.build(self.gguf, arch.hparams(self.gguf), graph)
        return graph

    def segment(self, start: int, end: int, live_out: list[int], device: str):
        ops = self.graph.ops[start:end]
        layers = {op["layer"] for op in ops if op["kind"] in (OP["kv_store"], OP["attention"])}
        ffi = self.native.ffi
        args = dict(ops=self.model._ops(ops), n_ops=len(ops), buffer_width=ffi.new("int64_t[]", self.graph.buffer_width),
                    n_buffers=len(self.graph.buffer_width), n_batch=self.n_batch,
                    kv=self.model._kv_config(self.graph, lambda il: il in layers), live_in=_live_in(ops),
                    live_out=live_out)
        if device == "cpu":
            return CpuSegment(self.native, 8, **args)
        from localllm.backend.cuda import CudaSegment

        return CudaSegment(self.native, self.model.config, **args)

    def run(self, seg, inputs: dict[int, np.ndarray], rows: int, logits_width: int = 0):
        """Runs `seg` on a fresh batch of `rows` rows at positions 0.. in cells 0..; returns the buffers."""
        ffi = self.native.ffi
        buffers = [np.zeros((self.n_batch, w), np.float32) for w in self.graph.buffer_width]
        for i, x in inputs.items():
            buffers[i][:rows] = x
        keep = [ffi.from_buffer("float[]", b) for b in buffers]
        pos = np.arange(rows, dtype=np.int32)
        seq = np.zeros(rows, np.int32)
        logit_rows = np.arange(rows, dtype=np.int32)
        logits = np.zeros((rows, max(logits_width, 1)), np.float32)
        arrays = [ffi.from_buffer("int32_t[]", a) for a in (pos, seq, pos, logit_rows)]
        pointers, logits_ptr = ffi.new("float *[]", keep), ffi.from_buffer("float[]", logits)  # alive until the run ends
        batch = ffi.new("ll_offload_batch *", {
            "n": rows, "tokens": arrays[0], "pos": arrays[0], "seq": arrays[1], "cells": arrays[2],
            "logit_rows": arrays[3], "n_logits": rows if logits_width else 0, "cell_pos": arrays[0],
            "cell_seq": arrays[1], "kv_extent": rows, "buffers": pointers, "logits": logits_ptr})
        status = seg.run_fn(seg.handle, batch)
        if status != 0:
            raise RuntimeError(f"segment run failed: {status} {seg.error_text()}")
        return buffers, logits


def rel(a: np.ndarray, b: np.ndarray) -> float:
    norm = float(np.linalg.norm(b))
    return float(np.linalg.norm(a - b)) / norm if norm else float(np.linalg.norm(a))


def layer_range(graph, il: int) -> tuple[int, int]:
    start = graph.layer_starts[il]
    return start, graph.layer_starts.get(il + 1, graph.output_start or len(graph.ops))


def compare_ops(bench: Bench, rows: int, n_layers: int, device: str, x: np.ndarray) -> None:
    g = bench.graph
    start = g.layer_starts[0]
    inputs = {b: x[:, :g.buffer_width[b]] for b in _live_in(g.ops[start:layer_range(g, n_layers - 1)[1]])}
    for k in range(start, layer_range(g, n_layers - 1)[1]):
        op = g.ops[k]
        dst = op.get("dst", -1)
        if dst < 0:
            continue
        got = [bench.run(bench.segment(start, k + 1, [dst], d), inputs, rows)[0][dst][:rows] for d in ("cpu", device)]
        print(f"  rows {rows:3d} op {k:4d} {OP_NAMES.get(op['kind'], op['kind']):12s} layer {op.get('layer', -1):2d} "
              f"n {op.get('n', 0):6d}: rel err {rel(got[1], got[0]):.3e}", flush=True)


def compare_logits(bench: Bench, rows: int, device: str, x: np.ndarray) -> None:
    g = bench.graph
    start = g.layer_starts[0]
    width = next(op["w_rows"] if op["kind"] == OP["matmul"] else op["n"] for op in g.ops if op.get("dst") == BUF_LOGITS)
    inputs = {b: x[:, :g.buffer_width[b]] for b in _live_in(g.ops[start:])}
    cpu = bench.run(bench.segment(start, len(g.ops), [], "cpu"), inputs, rows, width)[1]
    dev = bench.run(bench.segment(start, len(g.ops), [], device), inputs, rows, width)[1]
    nudged = {b: v * np.float32(1 + 1e-7) for b, v in inputs.items()}
    floor = bench.run(bench.segment(start, len(g.ops), [], "cpu"), nudged, rows, width)[1]
    print(f"  rows {rows:3d} logits: {device} vs cpu rel err {rel(dev, cpu):.3e}, top-1 "
          f"{np.mean(dev.argmax(-1) == cpu.argmax(-1)) * 100:.1f} %; cpu vs cpu(input x (1+1e-7)) "
          f"rel err {rel(floor, cpu):.3e}, top-1 {np.mean(floor.argmax(-1) == cpu.argmax(-1)) * 100:.1f} %", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--rows", default="1,96")
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--no-ops", action="store_true")
    args = parser.parse_args()
    rows_list = [int(r) for r in args.rows.split(",")]
    bench = Bench(args.model, max(rows_list))
    rng = np.random.default_rng(1)
    width = max(bench.graph.buffer_width)
    print(f"{args.model}: {len(bench.graph.ops)} ops")
    for rows in rows_list:
        x = rng.standard_normal((rows, width)).astype(np.float32)
        if not args.no_ops:
            compare_ops(bench, rows, args.layers, args.device, x)
        compare_logits(bench, rows, args.device, x)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
