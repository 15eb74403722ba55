"""NEON kernels vs the scalar reference: cross-compiled for AArch64 and run under qemu-user.

tests/native/neon_driver.c includes the whole native core (native/variant.c), compiled as
native/build.py compiles the neon level (COMMON_FLAGS, the level's flags and LL_WITH_* switches), and
compares a kernel table filled with the NEON kernels against one filled with the scalar reference only:
vec_dot within |neon - ref| <= 1e-6 * sum_i |x_i * y_i| (block sums are exact integers on both sides, so
only float summation order may differ), Q8_0 / Q8_K quantize_row byte-identical, dequantize bit-identical,
on rows of 1, 7 and 33 blocks with extreme scales (the driver's header has the details).

It runs twice: under `qemu-aarch64 -cpu max` (has dotprod, so the sdot kernels are selected) and under
`-cpu cortex-a57` (ARMv8.0 without dotprod: the plain NEON kernels are selected, and a stray sdot
instruction would die with SIGILL). Needs Debian's gcc-aarch64-linux-gnu and qemu-user; without them the
test fails rather than skips, because CI must prove the ARM path on every run.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NATIVE = ROOT / "native"
DRIVER_SOURCE = ROOT / "tests" / "native" / "neon_driver.c"
CC = "aarch64-linux-gnu-gcc"
QEMU = "qemu-aarch64"
INSTALL_HINT = "apt-get install gcc-aarch64-linux-gnu qemu-user"
# qemu CPU model -> the path the driver must report: max has dotprod, Cortex-A57 (ARMv8.0) has not
CPU_MODELS = {"max": "dotprod", "cortex-a57": "neon"}
TYPES = ("F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K")


def neon_level_flags() -> list[str]:
    """Compiler flags of the neon variant module, read from native/build.py so they cannot drift."""
    spec = importlib.util.spec_from_file_location("localllm_native_build", NATIVE / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    flags, switches, level_id = build.LEVELS["neon"]
    return [*build.COMMON_FLAGS, *flags, *(f"-D{s}=1" for s in switches), f"-DLL_BUILD_LEVEL={level_id}"]


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: the NEON kernels are tested by cross-compiling for AArch64 and "
                    f"running under qemu-user; install them with `{INSTALL_HINT}`", pytrace=False)
    return path


@functools.lru_cache(maxsize=1)
def build_driver(out_dir: Path) -> Path:
    """The driver, statically linked for AArch64 (qemu-user then needs no target libraries); built once."""
    cc = require_tool(CC)
    out_dir.mkdir(parents=True, exist_ok=True)
    exe = out_dir / "neon_driver"
    cmd = [cc, *neon_level_flags(), "-static", f"-I{NATIVE}", f"-I{NATIVE / 'include'}", str(DRIVER_SOURCE),
           "-o", str(exe), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.fail(f"cross-compiling the NEON driver failed:\n{' '.join(cmd)}\n{proc.stderr}", pytrace=False)
    return exe


@pytest.mark.parametrize("cpu", sorted(CPU_MODELS))
def test_neon_kernels_match_scalar_reference(tmp_path_factory: pytest.TempPathFactory, cpu: str) -> None:
    qemu = require_tool(QEMU)  # tools are checked in the test, so a missing one is a failure, not an error
    driver = build_driver(tmp_path_factory.getbasetemp() / "neon")
    proc = subprocess.run([qemu, "-cpu", cpu, str(driver)], capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert f"path: {CPU_MODELS[cpu]}" in out, f"qemu -cpu {cpu} should select the {CPU_MODELS[cpu]} kernels:\n{out}"
    summary = re.search(r"^(\d+) passed, (\d+) failed$", proc.stdout, re.MULTILINE)
    assert summary is not None, f"the driver did not finish (exit status {proc.returncode}):\n{out}"
    assert int(summary[2]) == 0 and proc.returncode == 0, out
    compared = set(re.findall(r"^(\S+) +vec_dot ", proc.stdout, re.MULTILINE))
    assert compared == set(TYPES), f"vec_dot not compared for {sorted(set(TYPES) - compared)}:\n{out}"
    assert re.search(r"^Q8_0 +quantize_row", proc.stdout, re.MULTILINE), out
    assert re.search(r"^Q8_K +quantize_row", proc.stdout, re.MULTILINE), out
