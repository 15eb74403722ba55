"""Sampling cost and the Python overhead of generation on the default model.

    python benchmarks/bench_generate.py [MODEL.gguf] [--threads 2] [--tokens 128] [--runs 5] [--json]

sampler   the default chain (penalties, top-k 40, top-p 0.95, min-p 0.05, temperature 0.8, seeded
          draw) over random logits of the model's vocabulary size: median ms per token (target < 1 ms)
decode    `Llama.start_generation` of --tokens tokens, default sampling and greedy, --runs times:
          tokens/s, and per token the time inside the native forward pass vs everything else
          (sampling, detokenizing, stop strings, the Python loop). "overhead" is that remainder as a
          share of the token time (target <= 5 %). Wall time and CPU time of this process are both
          timed: on a busy machine wall time grows with the other processes' load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np


def sampler_ms(n_vocab: int, runs: int = 500) -> float:
    from localllm.sampling import Chain, SamplingParams

    logits = (np.random.default_rng(0).standard_normal(n_vocab) * 3).astype(np.float32)
    chain = Chain.from_params(SamplingParams(seed=1, repeat_penalty=1.1))
    for token in range(64):
        chain.accept(token)  # a full penalty window, so the penalties do their work
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        chain.accept(chain.sample(logits))
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def decode_runs(llm, params, tokens: int, runs: int) -> list[dict]:
    prompt = llm.tokenize(b"Once upon a time, in a small village at the edge of a great forest,")
    rows = []
    for _ in range(runs):
        llm.reset()
        generation = llm.start_generation(prompt, params, max_tokens=tokens)
        for _piece in generation:
            pass
        s = generation.stats
        outside = s.generate_seconds - s.forward_seconds
        rows.append({"tokens": s.n_generated, "tps": s.generate_tps, "forward_ms": s.forward_seconds / s.n_generated * 1e3,
                     "outside_ms": outside / s.n_generated * 1e3, "overhead": s.python_overhead})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="GGUF file (default: the default model)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from localllm import Llama
    from localllm.sampling import SamplingParams

    llm = Llama(args.model, n_ctx=1024, n_threads=args.threads, verbose=False)
    result = {"sampler_ms": sampler_ms(llm.n_vocab()), "n_vocab": llm.n_vocab(), "threads": args.threads}
    for name, params in (("default sampling", SamplingParams(seed=1)), ("greedy", SamplingParams(temperature=0))):
        decode_runs(llm, params, 16, 1)  # warm-up
        rows = decode_runs(llm, params, args.tokens, args.runs)
        result[name] = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"sampler chain over {result['n_vocab']:,} logits: {result['sampler_ms']:.3f} ms/token (median)")
    print(f"| decode ({args.threads} threads, {args.tokens} tokens, median of {args.runs}) | t/s | forward ms/token "
          f"| outside ms/token | Python overhead |")
    print("|---|---|---|---|---|")
    for name in ("default sampling", "greedy"):
        r = result[name]
        print(f"| {name} | {r['tps']:.1f} | {r['forward_ms']:.2f} | {r['outside_ms']:.3f} | {r['overhead'] * 100:.2f} % |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
