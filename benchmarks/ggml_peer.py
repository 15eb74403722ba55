"""llama.cpp's own matmul on this machine: ggml's CPU `mul_mat`, called through ctypes from the
libraries llama-cpp-python (the `bench` extra) builds with native CPU flags.

    python benchmarks/ggml_peer.py [--threads 1 2] [--types Q4_0 Q4_K] [--runs 5]

The same measurement as `test-backend-ops perf -o MUL_MAT` (m=4096, k=14336; weights in plain
context memory, so not repacked): one graph `ggml_mul_mat(W, x)` computed with
`ggml_graph_compute_with_ctx`, for n = 512 (prefill, GFLOP/s = 2 m k n / time) and n = 1 (decode,
weight GB/s, rotating over copies of W larger than the caches, as benchmarks/bench_matmul.py does).
Weights are valid blocks from localllm's quantizers; activations random normal.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import time

import numpy as np

M, K = 4096, 14336
TYPES = ("Q4_0", "Q5_0", "Q8_0", "Q4_K", "Q5_K", "Q6_K")
DECODE_COPIES_BYTES = 256 << 20


class InitParams(ctypes.Structure):
    _fields_ = [("mem_size", ctypes.c_size_t), ("mem_buffer", ctypes.c_void_p), ("no_alloc", ctypes.c_bool)]


def load_ggml():
    import llama_cpp

    lib_dir = os.path.join(os.path.dirname(llama_cpp.__file__), "lib")
    base = ctypes.CDLL(os.path.join(lib_dir, "libggml-base.so"), mode=ctypes.RTLD_GLOBAL)
    cpu = ctypes.CDLL(os.path.join(lib_dir, "libggml-cpu.so"), mode=ctypes.RTLD_GLOBAL)
    p = ctypes.c_void_p
    base.ggml_init.restype, base.ggml_init.argtypes = p, [InitParams]
    base.ggml_new_tensor_2d.restype = p
    base.ggml_new_tensor_2d.argtypes = [p, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    base.ggml_mul_mat.restype, base.ggml_mul_mat.argtypes = p, [p, p, p]
    base.ggml_new_graph.restype, base.ggml_new_graph.argtypes = p, [p]
    base.ggml_build_forward_expand.argtypes = [p, p]
    base.ggml_get_data.restype, base.ggml_get_data.argtypes = p, [p]
    base.ggml_nbytes.restype, base.ggml_nbytes.argtypes = ctypes.c_size_t, [p]
    base.ggml_free.argtypes = [p]
    cpu.ggml_graph_compute_with_ctx.restype = ctypes.c_int
    cpu.ggml_graph_compute_with_ctx.argtypes = [p, p, ctypes.c_int]
    cpu.ggml_cpu_init()
    return base, cpu


def fill(base, tensor, data: np.ndarray) -> None:
    raw = np.ascontiguousarray(data).view(np.uint8).reshape(-1)
    assert raw.nbytes == base.ggml_nbytes(tensor)
    ctypes.memmove(base.ggml_get_data(tensor), raw.ctypes.data, raw.nbytes)


def weight_rows(ggml_type: int, rng: np.random.Generator) -> np.ndarray:
    """M rows of valid blocks: 64 random rows quantized, repeated."""
    from localllm.backend.native import quantize_row

    rows = quantize_row(ggml_type, rng.standard_normal((64, K), dtype=np.float32)).reshape(64, -1)
    return np.tile(rows, (M // 64, 1))


class MulMat:
    """One ggml context holding n_copies of W [M, K] and x [K, n]; run(i) computes W_i x."""

    def __init__(self, base, cpu, ggml_type: int, n: int, n_copies: int, threads: int, rng: np.random.Generator):
        self.base, self.cpu, self.threads = base, cpu, threads
        w = weight_rows(ggml_type, rng)
        mem = n_copies * (w.nbytes + (M * n * 4) + 4096) + K * n * 4 + (64 << 20)
        self.ctx = base.ggml_init(InitParams(mem, None, False))
        x = base.ggml_new_tensor_2d(self.ctx, 0, K, n)  # GGML_TYPE_F32
        fill(base, x, rng.standard_normal((n, K), dtype=np.float32))
        self.graphs = []
        for _ in range(n_copies):
            wt = base.ggml_new_tensor_2d(self.ctx, ggml_type, K, M)
            fill(base, wt, w)
            graph = base.ggml_new_graph(self.ctx)
            base.ggml_build_forward_expand(graph, base.ggml_mul_mat(self.ctx, wt, x))
            self.graphs.append(graph)
        self.weight_bytes = w.nbytes

    def run(self, i: int) -> None:
        if self.cpu.ggml_graph_compute_with_ctx(self.ctx, self.graphs[i % len(self.graphs)], self.threads) != 0:
            raise RuntimeError("ggml_graph_compute_with_ctx failed")

    def close(self) -> None:
        self.base.ggml_free(self.ctx)


def seconds_per_call(mm: MulMat, calls: int, runs: int) -> float:
    mm.run(0)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        for i in range(calls):
            mm.run(i)
        samples.append((time.perf_counter() - start) / calls)
    return statistics.median(samples)


def measure(type_name: str, threads: int, runs: int) -> tuple[float, float]:
    """(decode weight GB/s, prefill GFLOP/s) of ggml for one type and thread count."""
    from gguf import GGMLQuantizationType

    base, cpu = load_ggml()
    ggml_type = int(GGMLQuantizationType[type_name])
    rng = np.random.default_rng(0)
    prefill = MulMat(base, cpu, ggml_type, 512, 1, threads, rng)
    gflops = 2 * M * K * 512 / seconds_per_call(prefill, 1, runs) / 1e9
    prefill.close()
    copies = max(1, DECODE_COPIES_BYTES // prefill.weight_bytes)
    decode = MulMat(base, cpu, ggml_type, 1, copies, threads, rng)
    gbps = decode.weight_bytes / seconds_per_call(decode, copies, runs) / 1e9
    decode.close()
    return gbps, gflops


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[2])
    parser.add_argument("--types", nargs="+", default=list(TYPES))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"| type | threads | ggml decode GB/s ({M}x{K}) | ggml prefill GFLOP/s (n=512) |")
    print("|---|---:|---:|---:|")
    for type_name in args.types:
        for threads in args.threads:
            gbps, gflops = measure(type_name, threads, args.runs)
            print(f"| {type_name} | {threads} | {gbps:.1f} | {gflops:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
