"""cffi builders for the native core: one extension module per kernel level.

`setup.py` lists the builders for the machine it runs on (x86-64: scalar, avx2, avx512;
AArch64: scalar, neon). Each module compiles native/variant.c (a unity build of the whole core)
with its level's flags, so one install runs on any CPU of the family and
localllm/backend/native.py imports the best module the CPU supports at run time.
"""

from __future__ import annotations

import os
import platform
import re

from cffi import FFI

NATIVE_DIR = os.path.dirname(os.path.abspath(__file__))
HEADER = os.path.join(NATIVE_DIR, "include", "localllm.h")

COMMON_FLAGS = ["-O3", "-std=gnu11", "-pthread", "-fno-strict-aliasing", "-ffp-contract=off", "-Wall"]

# level -> (compiler flags, LL_WITH_* switches, enum ll_isa_level value)
X86_AVX2_FLAGS = ["-mavx", "-mavx2", "-mfma", "-mf16c", "-mbmi2"]
X86_AVX512_FLAGS = X86_AVX2_FLAGS + ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mavx512vnni"]
LEVELS = {
    "scalar": ([], [], 0),
    "avx2": (X86_AVX2_FLAGS, ["LL_WITH_AVX2"], 1),
    "avx512": (X86_AVX512_FLAGS, ["LL_WITH_AVX2", "LL_WITH_AVX512"], 2),
    "neon": (["-march=armv8-a"], ["LL_WITH_NEON"], 3),
}


def levels_for_machine(machine: str | None = None) -> list[str]:
    """The variant modules worth building on this machine's architecture."""
    machine = (machine or platform.machine()).lower()
    if machine in ("x86_64", "amd64"):
        return ["scalar", "avx2", "avx512"]
    if machine in ("aarch64", "arm64"):
        return ["scalar", "neon"]
    return ["scalar"]


def cdef_text() -> str:
    """The public header with preprocessor lines removed, as cffi's cdef wants it."""
    with open(HEADER, encoding="utf-8") as f:
        return "\n".join(line for line in f.read().splitlines() if not re.match(r"\s*#", line))


def make_builder(level: str) -> FFI:
    flags, switches, level_id = LEVELS[level]
    ffi = FFI()
    ffi.cdef(cdef_text())
    ffi.set_source(
        f"localllm._native_{level}",
        '#include "variant.c"\n',
        include_dirs=[NATIVE_DIR, os.path.dirname(HEADER)],
        define_macros=[(s, "1") for s in switches] + [("LL_BUILD_LEVEL", str(level_id))],
        extra_compile_args=COMMON_FLAGS + flags,
        extra_link_args=["-pthread"],
    )
    return ffi


ffi_scalar = make_builder("scalar")
ffi_avx2 = make_builder("avx2")
ffi_avx512 = make_builder("avx512")
ffi_neon = make_builder("neon")

if __name__ == "__main__":  # build in place for development: python native/build.py
    for name in levels_for_machine():
        make_builder(name).compile(tmpdir=os.path.join(NATIVE_DIR, "..", "build", name), verbose=True)
