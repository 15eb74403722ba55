"""The native core: picks the variant module for this CPU and wraps its C functions.

One install carries a module per kernel level (localllm._native_scalar, _avx2, _avx512 on x86-64;
_scalar, _neon on AArch64). The best level the CPU supports is used unless LOCALLLM_ISA forces a
lower one; asking for a level the CPU or the build lacks is an ISAError. C status codes become
NativeError.
"""

from __future__ import annotations

import functools
import importlib
import os
from dataclasses import dataclass

import numpy as np

from ..errors import ISAError, NativeError, UnsupportedQuantError

# Best first. Each level: the CPU features (names of enum ll_cpu_feature, minus LL_CPU_) it needs.
LEVEL_REQUIREMENTS = {
    "avx512": ("AVX512F", "AVX512BW", "AVX512DQ", "AVX512VL", "AVX512VNNI", "AVX2", "FMA", "F16C", "BMI2"),
    "avx2": ("AVX2", "FMA", "F16C", "BMI2"),
    "neon": ("NEON",),
    "scalar": (),
}
FEATURE_NAMES = (
    "SSE3", "SSSE3", "AVX", "AVX2", "FMA", "F16C", "BMI2", "AVX512F", "AVX512BW", "AVX512DQ",
    "AVX512VL", "AVX512VNNI", "AVX512BF16", "AVXVNNI", "NEON", "DOTPROD",
)


@dataclass(frozen=True)
class Native:
    """A loaded variant module: `ffi` for buffers, `lib` for the C functions."""

    level: str
    ffi: object
    lib: object


def _import_level(level: str):
    try:
        return importlib.import_module(f"localllm._native_{level}")
    except ImportError as exc:
        raise ISAError(
            f"the native core for kernel level '{level}' is not built in this install "
            f"(reinstall with `pip install .` on this machine): {exc}"
        ) from exc


@functools.lru_cache(maxsize=1)
def cpu_features() -> tuple[str, ...]:
    """Names of the CPU features the native core detected (cpuid / getauxval)."""
    mask = _import_level("scalar").lib.ll_cpu_features()
    return tuple(name for bit, name in enumerate(FEATURE_NAMES) if mask & (1 << bit))


def built_levels() -> tuple[str, ...]:
    """Kernel levels whose module is present in this install, best first."""
    found = []
    for level in LEVEL_REQUIREMENTS:
        try:
            importlib.import_module(f"localllm._native_{level}")
        except ImportError:
            continue
        found.append(level)
    return tuple(found)


def supported_levels() -> tuple[str, ...]:
    """Levels both built and runnable on this CPU, best first."""
    have = set(cpu_features())
    return tuple(lv for lv in built_levels() if set(LEVEL_REQUIREMENTS[lv]) <= have)


def choose_level(requested: str | None = None) -> str:
    """The level to run: `requested` (or LOCALLLM_ISA) if possible, else the best supported."""
    requested = (requested if requested is not None else os.environ.get("LOCALLLM_ISA", "")).strip().lower()
    supported = supported_levels()
    if not requested:
        return supported[0]
    if requested not in LEVEL_REQUIREMENTS:
        raise ISAError(f"LOCALLLM_ISA={requested!r} is not a kernel level; choose one of {', '.join(LEVEL_REQUIREMENTS)}")
    if requested not in supported:
        missing = sorted(set(LEVEL_REQUIREMENTS[requested]) - set(cpu_features()))
        why = f"this CPU lacks {', '.join(missing)}" if missing else "it is not built in this install"
        raise ISAError(f"LOCALLLM_ISA={requested} cannot run here: {why} (available: {', '.join(supported)})")
    return requested


@functools.lru_cache(maxsize=None)
def load(level: str | None = None) -> Native:
    """The native core at `level` (default: LOCALLLM_ISA or the best level for this CPU)."""
    level = choose_level(level)
    module = _import_level(level)
    return Native(level=level, ffi=module.ffi, lib=module.lib)


def check(native: Native, status: int) -> None:
    """Raise NativeError for a non-zero status from a C call."""
    if status != 0:
        raise NativeError(status, native.ffi.string(native.lib.ll_status_str(status)).decode())


def type_info(ggml_type: int, *, level: str | None = None) -> tuple[int, int, int]:
    """(block_size, bytes_per_block, vec_dot_type) of a type, from the native kernel table."""
    native = load(level)
    out = native.ffi.new("int[3]")
    status = native.lib.ll_type_info(int(ggml_type), out, out + 1, out + 2)
    if status != 0:
        raise UnsupportedQuantError(f"ggml type {int(ggml_type)} has no kernels in the native core")
    return out[0], out[1], out[2]


def row_bytes(ggml_type: int, n_elements: int, *, level: str | None = None) -> int:
    """Bytes of one row of `n_elements` values of `ggml_type` (ValueError if not whole blocks)."""
    block_size, block_bytes, _ = type_info(ggml_type, level=level)
    if n_elements % block_size:
        raise ValueError(f"{n_elements} elements are not a whole number of {block_size}-element blocks")
    return n_elements // block_size * block_bytes


def _bytes_in(native: Native, array: np.ndarray, need: int, what: str):
    array = np.ascontiguousarray(array)
    if array.nbytes < need:
        raise ValueError(f"{what} holds {array.nbytes} bytes, {need} needed")
    return native.ffi.from_buffer("uint8_t[]", array), array


def dequantize_row(ggml_type: int, raw: np.ndarray, n_elements: int, *, level: str | None = None) -> np.ndarray:
    """float32[n_elements] from the raw bytes of one row (or several rows back to back) of `ggml_type`."""
    native = load(level)
    need = row_bytes(ggml_type, n_elements, level=level)
    src, _keep = _bytes_in(native, raw, need, f"the {n_elements}-element row")
    out = np.empty(n_elements, dtype=np.float32)
    check(native, native.lib.ll_dequantize_row(int(ggml_type), src, native.ffi.from_buffer("float[]", out), n_elements))
    return out


def quantize_row(ggml_type: int, values: np.ndarray, *, level: str | None = None) -> np.ndarray:
    """uint8 bytes of the row of `ggml_type` that the native quantizer makes from float32 `values`."""
    native = load(level)
    values = np.ascontiguousarray(values, dtype=np.float32).reshape(-1)
    out = np.empty(row_bytes(ggml_type, values.size, level=level), dtype=np.uint8)
    src = native.ffi.from_buffer("float[]", values)
    check(native, native.lib.ll_quantize_row(int(ggml_type), src, native.ffi.from_buffer("uint8_t[]", out), values.size))
    return out


def vec_dot(ggml_type: int, n_elements: int, x: np.ndarray, y: np.ndarray, *, level: str | None = None) -> float:
    """dot(x, y) over n_elements: x raw bytes of a `ggml_type` row, y raw bytes of its vec_dot_type row."""
    native = load(level)
    vec_dot_type = type_info(ggml_type, level=level)[2]
    xb, _kx = _bytes_in(native, x, row_bytes(ggml_type, n_elements, level=level), "x")
    yb, _ky = _bytes_in(native, y, row_bytes(vec_dot_type, n_elements, level=level), "y")
    result = native.ffi.new("float *")
    check(native, native.lib.ll_vec_dot(int(ggml_type), n_elements, xb, yb, result))
    return float(result[0])


def top_k(logits: np.ndarray, k: int, *, level: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ids int64 [m], values float32 [m]) of the k largest logits, largest first (ties: lower id
    first), m = min(k, number of non-NaN logits). One pass over float32 `logits` [n]."""
    native = load(level)
    logits = np.ascontiguousarray(logits, dtype=np.float32)
    ids, vals, found = np.empty(k, np.int32), np.empty(k, np.float32), native.ffi.new("int32_t *")
    ffi = native.ffi
    check(native, native.lib.ll_top_k(ffi.from_buffer("float[]", logits), logits.size, k,
                                      ffi.from_buffer("int32_t[]", ids), ffi.from_buffer("float[]", vals), found))
    return ids[:found[0]].astype(np.int64), vals[:found[0]]


def default_threads() -> int:
    """Physical cores: the default thread count of a Context (SMT siblings only contend)."""
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


class Context:
    """A native context (`ll_ctx`): a persistent pool of `threads` threads, the calling thread plus
    `threads - 1` workers that live until `close()`, and the scratch memory of its calls.

    Use as a context manager or call `close()`; a context that is garbage collected is closed too.
    Calls on one context from several Python threads are serialized in C.
    """

    def __init__(self, threads: int | None = None, *, level: str | None = None):
        threads = default_threads() if threads is None else int(threads)
        if not 1 <= threads <= 256:
            raise ValueError(f"threads must be between 1 and 256, not {threads}")
        self._native = load(level)
        out = self._native.ffi.new("ll_ctx **")
        check(self._native, self._native.lib.ll_ctx_new(threads, out))
        self._ptr = self._native.ffi.gc(out[0], self._native.lib.ll_ctx_free)

    @property
    def level(self) -> str:
        """The kernel level of the native module this context runs."""
        return self._native.level

    @property
    def threads(self) -> int:
        return self._native.lib.ll_ctx_n_threads(self._live())

    @property
    def handle(self):
        """The `ll_ctx *` cdata, for code that drives the C API directly (benchmarks)."""
        return self._live()

    @property
    def native(self) -> Native:
        """The variant module (ffi, lib) this context belongs to."""
        return self._native

    def _live(self):
        if self._ptr is None:
            raise ValueError("this Context is closed")
        return self._ptr

    def close(self) -> None:
        """Stops the worker threads and frees the context (idempotent)."""
        if self._ptr is not None:
            self._native.ffi.release(self._ptr)
            self._ptr = None

    def __enter__(self) -> "Context":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._ptr is None else f"threads={self.threads}"
        return f"Context({state}, level={self.level!r})"

    def matmul(self, w_type: int, w_bytes, n_out: int, n_in: int, x: np.ndarray) -> np.ndarray:
        """y = x @ W^T as float32: W is `n_out` rows of `n_in` values of ggml type `w_type` given as
        raw bytes (`w_bytes`: any buffer, e.g. a uint8 array or a memory map); x is float32
        [n_tok, n_in] or [n_in]; y is [n_tok, n_out] or [n_out] to match."""
        native = self._native
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim not in (1, 2) or x.shape[-1] != n_in:
            raise ValueError(f"x must be [n_tok, {n_in}] or [{n_in}], not {list(x.shape)}")
        x2 = x.reshape(-1, n_in)
        w = np.frombuffer(w_bytes, dtype=np.uint8) if not isinstance(w_bytes, np.ndarray) else w_bytes
        wb, _keep = _bytes_in(native, w, n_out * row_bytes(w_type, n_in, level=native.level), "w_bytes")
        y = np.empty((x2.shape[0], n_out), dtype=np.float32)
        status = native.lib.ll_matmul(
            self._live(), int(w_type), wb, n_out, n_in,
            native.ffi.from_buffer("float[]", x2), x2.shape[0], native.ffi.from_buffer("float[]", y),
        )
        if status == native.lib.LL_ERR_UNSUPPORTED:
            raise UnsupportedQuantError(f"ggml type {int(w_type)} has no vec_dot kernel in the native core")
        check(native, status)
        return y if x.ndim == 2 else y[0]

    def read_bandwidth_probe(self, buf: np.ndarray) -> int:
        """Reads every byte of `buf` once on the context's threads (split as decode matmul splits
        its weights); returns a checksum. Time it for the streaming read bandwidth."""
        native = self._native
        buf = np.ascontiguousarray(buf)
        checksum = native.ffi.new("uint64_t *")
        check(native, native.lib.ll_bench_read(self._live(), native.ffi.from_buffer("uint8_t[]", buf.view(np.uint8).reshape(-1)), buf.nbytes, checksum))
        return int(checksum[0])
