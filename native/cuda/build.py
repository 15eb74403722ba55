"""Builds the optional CUDA backend, localllm/_localllm_cuda.so, with nvcc.

    python native/cuda/build.py          # into localllm/ (development; an editable install finds it there)

setup.py calls `build_if_wanted` after the CPU modules: LOCALLLM_CUDA=1 builds it (an error when it
cannot), LOCALLLM_CUDA=0 never does, and unset builds it when nvcc is found (a failure is then
reported and the install stays CPU-only). LOCALLLM_CUDA_ARCH picks the compute capabilities
("90", "80;86;89;90"; default: the GPU nvidia-smi reports, else 80;86;89;90). cuBLAS comes from the
CUDA toolkit, or from the nvidia-cublas Python package when the toolkit lacks it.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

CUDA_DIR = os.path.dirname(os.path.abspath(__file__))
NATIVE_DIR = os.path.dirname(CUDA_DIR)
LIBRARY_NAME = "_localllm_cuda.so"
SKIP_NOTE = "_localllm_cuda.txt"  # why an install has no CUDA backend (read by `localllm system-info`)
DEFAULT_ARCHS = "80;86;89;90"


def nvcc_path() -> str | None:
    for root in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH")):
        if root and os.path.isfile(os.path.join(root, "bin", "nvcc")):
            return os.path.join(root, "bin", "nvcc")
    return shutil.which("nvcc")


def requested() -> bool | None:
    value = os.environ.get("LOCALLLM_CUDA", "").strip().lower()
    return None if value == "" else value not in ("0", "false", "no", "off")


def arch_flags() -> list[str]:
    archs = os.environ.get("LOCALLLM_CUDA_ARCH", "").strip()
    if not archs:
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=compute_cap", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=30, check=True).stdout.split()
            archs = ";".join(sorted({cap.replace(".", "") for cap in out})) or DEFAULT_ARCHS
        except (OSError, subprocess.SubprocessError):
            archs = DEFAULT_ARCHS
    return [f"-gencode=arch=compute_{a},code=sm_{a}" for a in archs.replace(",", ";").split(";") if a]


def cublas_flags() -> list[str]:
    """-I/-L for the nvidia-cublas wheel when the toolkit has no cublas_v2.h next to nvcc."""
    nvcc = nvcc_path() or ""
    toolkit = os.path.dirname(os.path.dirname(os.path.realpath(nvcc)))
    if glob.glob(os.path.join(toolkit, "include", "cublas_v2.h")) or glob.glob(
            os.path.join(toolkit, "targets", "*", "include", "cublas_v2.h")):
        return []
    for entry in sys.path:
        root = os.path.join(entry, "nvidia", "cublas")
        if os.path.isfile(os.path.join(root, "include", "cublas_v2.h")):
            lib = os.path.join(root, "lib")
            if not os.path.exists(os.path.join(lib, "libcublas.so")):  # wheels ship libcublas.so.N only
                link_dir = os.path.join(CUDA_DIR, "..", "..", "build", "cublas-link")
                os.makedirs(link_dir, exist_ok=True)
                target = sorted(glob.glob(os.path.join(lib, "libcublas.so.*")))[0]
                if not os.path.exists(os.path.join(link_dir, "libcublas.so")):
                    os.symlink(target, os.path.join(link_dir, "libcublas.so"))
                lib_flags = ["-L", link_dir]
            else:
                lib_flags = ["-L", lib]
            return ["-I", os.path.join(root, "include"), *lib_flags, f"-Xlinker=-rpath={lib}"]
    return []


def build(out_dir: str, verbose: bool = True) -> str:
    """Compiles every native/cuda/*.cu into out_dir/_localllm_cuda.so; returns its path."""
    nvcc = nvcc_path()
    if nvcc is None:
        raise RuntimeError("no nvcc found (set CUDA_HOME or put nvcc on PATH)")
    out = os.path.join(out_dir, LIBRARY_NAME)
    sources = sorted(glob.glob(os.path.join(CUDA_DIR, "*.cu")))
    cmd = [nvcc, "-O3", "-std=c++17", "-shared", "-Xcompiler", "-fPIC", *arch_flags(), "-I", CUDA_DIR, "-I", NATIVE_DIR,
           *cublas_flags(), "-o", out, *sources, "-lcublas"]
    if verbose:
        print(" ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True)
    note = os.path.join(out_dir, SKIP_NOTE)
    if os.path.exists(note):
        os.remove(note)
    return out


def build_if_wanted(out_dir: str) -> str | None:
    """The library, built when LOCALLLM_CUDA and nvcc say so; else None (and a note saying why)."""
    wanted, nvcc = requested(), nvcc_path()
    reason = None
    if wanted is False:
        reason = "built with LOCALLLM_CUDA=0"
    elif nvcc is None:
        if wanted:
            raise RuntimeError("LOCALLLM_CUDA=1 but no nvcc was found (set CUDA_HOME or put nvcc on PATH)")
        reason = "no CUDA toolkit (nvcc) was found when localllm was installed; reinstall with LOCALLLM_CUDA=1"
    else:
        try:
            return build(out_dir)
        except (OSError, subprocess.CalledProcessError) as exc:
            if wanted:
                raise
            reason = f"the CUDA backend failed to build at install ({exc}); reinstall with LOCALLLM_CUDA=1 to see why"
    with open(os.path.join(out_dir, SKIP_NOTE), "w", encoding="utf-8") as f:
        f.write(reason + "\n")
    return None


if __name__ == "__main__":
    print(build(os.path.join(NATIVE_DIR, "..", "localllm")))
