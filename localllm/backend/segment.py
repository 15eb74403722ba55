"""The device part of a split program (see split.py), as the CPU program's OFFLOAD op sees it: a
handle and two C functions (run a batch, re-rotate keys for a context shift).

`CpuSegment` runs the part on the CPU through the same interface (native/segment.c): the split
machinery is tested with it, and GPU segments are compared with it."""

from __future__ import annotations

from typing import Any, Sequence

from ..errors import NativeError
from .native import Native


class Segment:
    """What the OFFLOAD op needs of a device segment."""

    native: Native
    handle: Any          # void * (in the CPU module's ffi)
    run_fn: Any          # ll_offload_fn
    shift_fn: Any        # ll_offload_shift_fn

    def error_text(self) -> str:
        """Why the last batch failed (LL_ERR_DEVICE)."""
        return "the offload device failed"

    def offload_fields(self) -> dict[str, Any]:
        return {"w": self.handle, "offload": self.run_fn, "offload_shift": self.shift_fn}


def id_array(native: Native, ids: Sequence[int]):
    return native.ffi.new("int32_t[]", list(ids) or [0])


class CpuSegment(Segment):
    """The segment's ops run by a CPU context of `threads` threads, with their own buffers and KV layers."""

    def __init__(self, native: Native, threads: int, *, ops, n_ops: int, buffer_width, n_buffers: int,
                 n_batch: int, kv, live_in: Sequence[int], live_out: Sequence[int]):
        ffi, lib = native.ffi, native.lib
        self.native = native
        out, bad_op = ffi.new("ll_segment **"), ffi.new("int *")
        status = lib.ll_segment_new(threads, ops, n_ops, buffer_width, n_buffers, n_batch, kv,
                                    id_array(native, live_in), len(live_in), id_array(native, live_out),
                                    len(live_out), out, bad_op)
        if status != 0:
            raise NativeError(status, f"the CPU segment rejected op {bad_op[0]} "
                                      f"({ffi.string(lib.ll_status_str(status)).decode()})")
        self._ptr = ffi.gc(out[0], lib.ll_segment_free)
        self.handle = ffi.cast("void *", self._ptr)
        self.run_fn = ffi.addressof(lib, "ll_segment_run")
        self.shift_fn = ffi.addressof(lib, "ll_segment_kv_shift")
