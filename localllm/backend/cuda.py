"""The optional CUDA backend: the shared library native/cuda builds at install (when a CUDA
toolkit is found, or LOCALLLM_CUDA=1), loaded only when GPU offload is asked for.

`status()` says whether it can run here and why not; `CudaSegment` uploads the device part of a
split program (see split.py) and hands the CPU program's OFFLOAD op its run and shift functions.
LOCALLLM_GPU_MEMORY_LIMIT=BYTES caps the GPU memory a model may take (default: what is free).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Sequence

from ..errors import GPUMemoryError, GPUOffloadError, NativeError, UnsupportedQuantError
from .native import Native
from .segment import Segment

PACKAGE_DIR = Path(__file__).resolve().parent.parent
LIBRARY = PACKAGE_DIR / "_localllm_cuda.so"
SKIP_NOTE = PACKAGE_DIR / "_localllm_cuda.txt"
LL_ERR_UNSUPPORTED, LL_ERR_NOMEM = 2, 3

# native/cuda/localllm_cuda.h, with void * for the structs of localllm.h (built by the CPU module's ffi).
CDEF = """
int llc_device_count(int *count);
int llc_device_info(char *name, int name_len, int64_t *free_bytes, int64_t *total_bytes);
const char *llc_last_error(void);
int llc_segment_new(const void *ops, int n_ops, const int64_t *buffer_width, int n_buffers, int n_batch_max,
                    const void *kv, const int32_t *live_in, int n_live_in, const int32_t *live_out, int n_live_out,
                    int64_t memory_limit, void **out, int *bad_op, int64_t *bytes_needed, int64_t *bytes_free);
void llc_segment_free(void *segment);
int llc_segment_run(void *segment, const void *batch);
int llc_segment_kv_shift(void *segment, const int32_t *cell_pos, const int32_t *cell_seq, int32_t kv_extent,
                         int32_t seq, int32_t p0, int32_t p1, int32_t delta);
float llc_segment_last_ms(const void *segment);
int llc_segment_profile(void *segment, float *ms);
"""


@functools.lru_cache(maxsize=1)
def _load():
    """(ffi, lib), or the reason the backend cannot run here (a str)."""
    if not LIBRARY.exists():
        why = SKIP_NOTE.read_text(encoding="utf-8").strip() if SKIP_NOTE.exists() else \
            "this install has no CUDA backend (it is built at install when nvcc is found, or with LOCALLLM_CUDA=1)"
        return why
    from cffi import FFI

    ffi = FFI()
    ffi.cdef(CDEF)
    try:
        lib = ffi.dlopen(str(LIBRARY))
    except OSError as exc:
        return f"the CUDA backend cannot be loaded (CUDA runtime or cuBLAS missing?): {exc}"
    count = ffi.new("int *")
    if lib.llc_device_count(count) != 0:
        return f"no usable CUDA device: {ffi.string(lib.llc_last_error()).decode()}"
    return ffi, lib


def status() -> tuple[bool, str]:
    """Whether GPU offload can run here, and the device (or why not)."""
    loaded = _load()
    if isinstance(loaded, str):
        return False, loaded
    ffi, lib = loaded
    name, free, total = ffi.new("char[256]"), ffi.new("int64_t *"), ffi.new("int64_t *")
    if lib.llc_device_info(name, 256, free, total) != 0:
        return False, ffi.string(lib.llc_last_error()).decode()
    return True, f"{ffi.string(name).decode()}, {free[0] / 2**30:.1f} GiB free of {total[0] / 2**30:.1f} GiB"


def require():
    loaded = _load()
    if isinstance(loaded, str):
        raise GPUOffloadError(f"GPU offload (n_gpu_layers / -ngl) is not available: {loaded}")
    return loaded


class CudaSegment(Segment):
    """The device part of a split program, uploaded to GPU 0."""

    def __init__(self, native: Native, config, *, ops, n_ops: int, buffer_width, n_buffers: int, n_batch: int, kv,
                 live_in: Sequence[int], live_out: Sequence[int]):
        ffi, lib = require()
        if config.type_k != "f16" or config.type_v != "f16":
            raise GPUOffloadError(f"GPU layers keep an f16 KV cache: the cache types must be f16 with GPU offload, "
                                  f"not {config.type_k}/{config.type_v}")
        self.native, self._ffi, self._lib = native, ffi, lib

        def ptr(ctype: str, cdata):
            return ffi.cast(ctype, int(native.ffi.cast("uintptr_t", cdata)))

        out, bad_op = ffi.new("void **"), ffi.new("int *")
        needed, free = ffi.new("int64_t *"), ffi.new("int64_t *")
        ids_in, ids_out = ffi.new("int32_t[]", list(live_in) or [0]), ffi.new("int32_t[]", list(live_out) or [0])
        limit = int(os.environ.get("LOCALLLM_GPU_MEMORY_LIMIT", "0") or 0)
        code = lib.llc_segment_new(ptr("void *", ops), n_ops, ptr("int64_t *", buffer_width), n_buffers, n_batch,
                                   ptr("void *", kv), ids_in, len(live_in), ids_out, len(live_out), limit, out, bad_op,
                                   needed, free)
        self._raise_for(code, bad_op[0], needed[0], free[0])
        self._ptr = ffi.gc(out[0], lib.llc_segment_free)
        address = int(ffi.cast("uintptr_t", out[0]))
        self.handle = native.ffi.cast("void *", address)
        self.run_fn = native.ffi.cast("ll_offload_fn", int(ffi.cast("uintptr_t", lib.llc_segment_run)))
        self.shift_fn = native.ffi.cast("ll_offload_shift_fn", int(ffi.cast("uintptr_t", lib.llc_segment_kv_shift)))
        self.gpu_bytes = int(needed[0])

    def _raise_for(self, code: int, bad_op: int, needed: int, free: int) -> None:
        if code == 0:
            return
        if code == LL_ERR_NOMEM and needed > free:
            raise GPUMemoryError(f"the GPU layers need {needed:,} bytes of GPU memory but only {free:,} bytes are "
                                 f"free: offload fewer layers (-ngl) or use a smaller context (-c)",
                                 needed_bytes=needed, free_bytes=free)
        if code == LL_ERR_UNSUPPORTED:
            raise UnsupportedQuantError(f"the CUDA backend cannot run op {bad_op} of the GPU layers (a weight type, "
                                        f"head size or KV cache type without a GPU kernel): offload fewer layers")
        raise NativeError(code, f"the CUDA backend failed: {self._ffi.string(self._lib.llc_last_error()).decode()}")

    def error_text(self) -> str:
        return f"the GPU failed: {self._ffi.string(self._lib.llc_last_error()).decode()}"

    def profile(self) -> dict[str, float]:
        """ms per step kind since the last call (LOCALLLM_CUDA_PROFILE=1; zeros otherwise)."""
        ms = self._ffi.new("float[5]")
        self._lib.llc_segment_profile(self._ptr, ms)
        return dict(zip(("matmul", "row ops", "attention", "logit rows", "output head"), list(ms)))

    @property
    def last_ms(self) -> float:
        """GPU milliseconds of the last batch (CUDA events around its launches)."""
        return float(self._lib.llc_segment_last_ms(self._ptr))
