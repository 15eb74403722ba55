"""Tokenizer speed on the default model (gemma-3-270m, 262144-token SentencePiece vocabulary).

    python benchmarks/bench_tokenizer.py [MODEL.gguf] [--runs N] [--json]

Measures, each as the median of N runs:
    build        Tokenizer.from_gguf on an already open file, in a fresh process (target < 1 s)
    open+build   open_gguf + Tokenizer.from_gguf, in a fresh process
    encode       the 11 KB perplexity text, warm (target < 50 ms; llama.cpp: about 9 ms)
    decode       the same tokens back to text
    stream       the streaming detokenizer over the same tokens, per token
Wall time and this process's CPU time are both shown: on a busy machine (other processes on the
same cores) wall time grows while CPU time stays what the work costs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

TEXT = Path(__file__).resolve().parents[2] / "shared" / "reference" / "gemma3-270m" / "perplexity_text.txt"

_CHILD = """
import sys, time
w0, c0 = time.perf_counter(), time.process_time()
from localllm.gguf import open_gguf
from localllm.tokenizer import Tokenizer
f = open_gguf(sys.argv[1])
w1, c1 = time.perf_counter(), time.process_time()
Tokenizer.from_gguf(f)
w2, c2 = time.perf_counter(), time.process_time()
print(w2 - w1, w2 - w0, c2 - c1, c2 - c0)
"""


def default_model() -> str:
    from localllm.model_path import resolve_model

    return str(resolve_model(None))


def fresh_process_build(model: str, runs: int) -> list[float]:
    """-> medians of [build wall, open+build wall, build CPU, open+build CPU] seconds, each run in a
    new interpreter."""
    samples = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", _CHILD, model], capture_output=True, text=True, check=True)
        samples.append([float(x) for x in out.stdout.split()])
    return [statistics.median(column) for column in zip(*samples, strict=True)]


def timed(fn, runs: int) -> tuple[float, float]:
    """-> (median wall seconds, median CPU seconds) of fn()."""
    wall, cpu = [], []
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="GGUF file (default: the default model)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    from localllm.gguf import open_gguf
    from localllm.tokenizer import Tokenizer

    model = args.model or default_model()
    build_s, open_build_s, build_cpu, open_build_cpu = fresh_process_build(model, args.runs)
    with open_gguf(model) as f:
        tok = Tokenizer.from_gguf(f)
    text = TEXT.read_text(encoding="utf-8")
    ids = tok.encode(text)  # warm-up
    warm_runs = max(args.runs, 20)
    encode_s, encode_cpu = timed(lambda: tok.encode(text), warm_runs)
    decode_s, decode_cpu = timed(lambda: tok.decode(ids), warm_runs)

    def stream() -> None:
        detok = tok.streaming_detokenizer()
        for t in ids:
            detok.add(t)

    stream_s, stream_cpu = timed(stream, warm_runs)
    ms = 1e3
    results = {
        "model": Path(model).name, "vocab_size": tok.vocab_size, "text_bytes": len(text.encode("utf-8")),
        "tokens": len(ids), "build_ms": build_s * ms, "build_cpu_ms": build_cpu * ms,
        "open_build_ms": open_build_s * ms, "open_build_cpu_ms": open_build_cpu * ms,
        "encode_ms": encode_s * ms, "encode_cpu_ms": encode_cpu * ms, "encode_tokens_per_s": len(ids) / encode_s,
        "decode_ms": decode_s * ms, "decode_cpu_ms": decode_cpu * ms,
        "stream_us_per_token": stream_s / len(ids) * 1e6, "stream_cpu_us_per_token": stream_cpu / len(ids) * 1e6,
        "load_average": os.getloadavg()[0], "cpus": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"model {results['model']} ({results['vocab_size']} tokens); text {results['text_bytes']} bytes "
          f"-> {results['tokens']} tokens; median of {args.runs} fresh processes / {warm_runs} warm runs; "
          f"load average {results['load_average']:.1f} on {results['cpus']} CPUs")
    rows = [("build (fresh process)", "build", "target < 1000 ms"), ("open + build", "open_build", ""),
            ("encode 11 KB (warm)", "encode", "target < 50 ms; llama.cpp ~9 ms"), ("decode", "decode", "")]
    print(f"  {'':28} {'wall ms':>9} {'CPU ms':>9}")
    for label, key, note in rows:
        print(f"  {label:28} {results[key + '_ms']:9.2f} {results[key + '_cpu_ms']:9.2f}   {note}")
    print(f"  {'streaming detokenizer':28} {results['stream_us_per_token']:9.2f} "
          f"{results['stream_cpu_us_per_token']:9.2f}   us per token")
    return 0


if __name__ == "__main__":
    sys.exit(main())
