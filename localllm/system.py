"""Facts about the machine localllm runs on: `localllm system-info`."""

from __future__ import annotations

import ctypes.util
import platform
from typing import Any

import psutil

from .backend import native


def cpu_model() -> str:
    """The CPU's marketing name (/proc/cpuinfo on Linux, platform elsewhere)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cuda_status() -> tuple[bool, str]:
    """Whether GPU offload (-ngl) can run here: the device, or why not."""
    from .backend import cuda

    available, detail = cuda.status()
    if not available and ctypes.util.find_library("cuda") is None:
        detail += " (no NVIDIA driver library, libcuda, on this machine)"
    return available, detail


def system_info() -> dict[str, Any]:
    cuda, cuda_why = cuda_status()
    memory = psutil.virtual_memory()
    return {
        "cpu": cpu_model(),
        "machine": platform.machine(),
        "physical_cores": native.default_threads(),
        "logical_cores": psutil.cpu_count(logical=True) or 1,
        "simd_features": list(native.cpu_features()),
        "kernel_levels_built": list(native.built_levels()),
        "kernel_levels_supported": list(native.supported_levels()),
        "kernel_level": native.choose_level(),
        "ram_total_bytes": memory.total,
        "ram_available_bytes": memory.available,
        "cuda": cuda,
        "cuda_detail": cuda_why,
        "python": platform.python_version(),
    }
