"""localllm vs llama.cpp (through llama-cpp-python, the `bench` extra) on the same GGUF files.

    python benchmarks/compare_llamacpp.py [MODEL.gguf ...] [--threads 2] [--reps 5] [-p 512] [-n 128]
                                          [--ttft-reps 3] [--write]

Each runtime lives in a worker process of its own that waits for commands, so their thread pools
never compete; the parent alternates A/B over the repetitions, test by test:
    pp<P>  P random tokens evaluated in one go from an empty KV cache (logits of the last one)
    tg<N>  N random tokens decoded one at a time from an empty KV cache (logits of each)
and reports t/s (median and spread) with the ratio localllm / llama.cpp. Then, in fresh processes
(alternating, --ttft-reps each): time to first token (interpreter start, imports, load, a 6-token
prompt, one more token) and peak RSS. Decode is also put next to its ceiling: this machine's
streaming read bandwidth (the matmul benchmark's probe, sampled before and after the tg runs) over
the weight bytes a token reads. --write puts the tables, the machine, the commit and this command
into benchmarks/RESULTS.md (section "localllm vs llama.cpp").

On CPUs with AMX (Sapphire Rapids and later), the llama.cpp that `pip install llama-cpp-python`
builds with native flags puts weights in its AMX buffer and crashed (SIGSEGV) in the first decode on
our VM. The peer is then built with the same AVX-512 flags and AMX off (its repacked CPU kernels
stay on):

    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
      -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON -DGGML_AVX_VNNI=ON
      -DGGML_AMX_INT8=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_BF16=OFF" \
      pip install --no-cache-dir --force-reinstall --no-binary llama-cpp-python llama-cpp-python
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SECTION = "## localllm vs llama.cpp"
N_CTX = 2048

# ---- workers -------------------------------------------------------------------------------

_LOCALLLM_WORKER = """
import sys, time, numpy as np
from localllm.engine import load_model
from localllm.benchmark import prompt_run, generation_run
lm = load_model(sys.argv[1], n_ctx=int(sys.argv[3]), n_batch=512, n_threads=int(sys.argv[2]))
def pp(tokens): return prompt_run(lm, tokens)
def tg(tokens): return generation_run(lm, tokens)
"""

_LLAMA_CPP_WORKER = """
import sys, time, numpy as np, llama_cpp
llm = llama_cpp.Llama(sys.argv[1], n_ctx=int(sys.argv[3]), n_batch=512, n_ubatch=512, n_threads=int(sys.argv[2]),
                      n_threads_batch=int(sys.argv[2]), verbose=False)
ctx, memory = llm._ctx.ctx, llama_cpp.llama_get_memory(llm._ctx.ctx)
def decode(tokens, pos0, all_logits):
    batch = llama_cpp.llama_batch_init(len(tokens), 0, 1)
    for i, t in enumerate(tokens):
        batch.token[i], batch.pos[i], batch.n_seq_id[i] = int(t), pos0 + i, 1
        batch.seq_id[i][0], batch.logits[i] = 0, all_logits or i == len(tokens) - 1
    batch.n_tokens = len(tokens)
    status = llama_cpp.llama_decode(ctx, batch)
    llama_cpp.llama_batch_free(batch)
    assert status == 0, status
def pp(tokens):
    llama_cpp.llama_memory_clear(memory, True)
    start = time.perf_counter_ns()
    for b in range(0, len(tokens), 512):
        decode(tokens[b:b + 512], b, False)
    return time.perf_counter_ns() - start
def tg(tokens):
    llama_cpp.llama_memory_clear(memory, True)
    start = time.perf_counter_ns()
    for i, t in enumerate(tokens):
        decode([t], i, True)
    return time.perf_counter_ns() - start
"""

_COMMAND_LOOP = """
n_vocab = int(sys.argv[4])
print("ready", flush=True)
for line in sys.stdin:
    kind, n, seed = line.split()
    tokens = np.random.default_rng(int(seed)).integers(0, n_vocab, int(n)).astype(np.int32)
    print((pp if kind == "pp" else tg)(tokens), flush=True)
"""

_TTFT = {
    "localllm": """
import time; t0 = time.perf_counter()
import sys, resource, numpy as np
from localllm.engine import load_model
lm = load_model(sys.argv[1], n_ctx={n_ctx}, n_threads=int(sys.argv[2]))
logits = lm.eval_tokens(np.arange(100, 106))
lm.model.forward(np.array([int(logits[0].argmax())]), np.array([6]))
print(time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
""",
    "llama.cpp": """
import time; t0 = time.perf_counter()
import sys, resource, numpy as np, llama_cpp
llm = llama_cpp.Llama(sys.argv[1], n_ctx={n_ctx}, n_threads=int(sys.argv[2]), verbose=False)
llm.eval(list(range(100, 106)))
llm.eval([int(np.argmax(llm.scores[5]))])
print(time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
""",
}


class Worker:
    """A runtime in its own process, answering "pp N SEED" / "tg N SEED" with nanoseconds."""

    def __init__(self, source: str, model: str, threads: int, n_vocab: int):
        self.proc = subprocess.Popen([sys.executable, "-c", source + _COMMAND_LOOP, model, str(threads), str(N_CTX),
                                      str(n_vocab)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("a benchmark worker failed to start")

    def run(self, kind: str, n: int, seed: int) -> int:
        self.proc.stdin.write(f"{kind} {n} {seed}\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if not answer:
            raise RuntimeError(f"a benchmark worker died (exit status {self.proc.wait()}); on a CPU with AMX, "
                               f"see this script's docstring for a llama.cpp build without it")
        return int(answer)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


# ---- measuring -----------------------------------------------------------------------------

def speed(workers: dict[str, Worker], kind: str, n: int, reps: int) -> dict[str, list[float]]:
    """t/s samples per runtime, alternating A/B, same tokens for both in each repetition."""
    for w in workers.values():
        w.run(kind, n, 0)  # warm-up
    samples: dict[str, list[float]] = {name: [] for name in workers}
    for rep in range(reps):
        order = list(workers) if rep % 2 == 0 else list(workers)[::-1]
        for name in order:
            samples[name].append(n / (workers[name].run(kind, n, rep + 1) * 1e-9))
    return samples


def first_token(model: str, threads: int, reps: int) -> dict[str, tuple[float, int]]:
    """(median seconds to the first token, median peak RSS bytes) per runtime, fresh processes."""
    runs: dict[str, list[tuple[float, int]]] = {name: [] for name in _TTFT}
    for rep in range(reps):
        for name in (list(_TTFT) if rep % 2 == 0 else list(_TTFT)[::-1]):
            out = subprocess.run([sys.executable, "-c", _TTFT[name].format(n_ctx=N_CTX), model, str(threads)],
                                 capture_output=True, text=True, check=True).stdout.split()
            runs[name].append((float(out[0]), int(out[1])))
    return {name: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs))
            for name, rs in runs.items()}


_READ_BANDWIDTH = """
import sys, time, statistics, numpy as np
from localllm.backend.native import Context
buf = np.ones(512 << 17, np.uint64)  # 512 MiB
with Context(int(sys.argv[1])) as ctx:
    ctx.read_bandwidth_probe(buf)
    seconds = []
    for _ in range(5):
        t0 = time.perf_counter()
        ctx.read_bandwidth_probe(buf)
        seconds.append(time.perf_counter() - t0)
print(buf.nbytes / statistics.median(seconds) / 1e9)
"""


def read_bandwidth(threads: int) -> float:
    """Streaming read GB/s of this machine now: the matmul benchmark's probe (512 MiB, median of 5),
    in a process of its own (a child started later would inherit this one's peak RSS)."""
    out = subprocess.run([sys.executable, "-c", _READ_BANDWIDTH, str(threads)], capture_output=True, text=True,
                         check=True).stdout
    return float(out)


def bytes_per_token(model: str) -> int:
    """Weight bytes one decoded token reads: every tensor, but of an untied token embedding only the
    token's row (negligible, left out)."""
    from localllm.gguf import open_gguf

    with open_gguf(model) as f:
        names = {t.name for t in f.tensors}
        tied = "output.weight" not in names
        return sum(t.n_bytes for t in f.tensors if tied or t.name != "token_embd.weight")


def n_vocab_of(model: str) -> int:
    from localllm.gguf import open_gguf

    with open_gguf(model) as f:
        return len(f.get("tokenizer.ggml.tokens"))


def compare(model: str, args) -> dict:
    n_vocab = n_vocab_of(model)
    workers = {"localllm": Worker(_LOCALLLM_WORKER, model, args.threads, n_vocab),
               "llama.cpp": Worker(_LLAMA_CPP_WORKER, model, args.threads, n_vocab)}
    try:
        result = {"model": os.path.basename(model), "size": os.path.getsize(model),
                  f"pp{args.n_prompt}": speed(workers, "pp", args.n_prompt, args.reps)}
        bandwidth = [read_bandwidth(args.threads)]  # sampled on both sides of the decode runs
        result[f"tg{args.n_gen}"] = speed(workers, "tg", args.n_gen, args.reps)
        bandwidth.append(read_bandwidth(args.threads))
    finally:
        for w in workers.values():
            w.close()
    result["read_gbs"], result["bytes_per_token"] = statistics.mean(bandwidth), bytes_per_token(model)
    result["first_token"] = first_token(model, args.threads, args.ttft_reps)
    return result


# ---- reporting -----------------------------------------------------------------------------

def _ts(samples: list[float]) -> str:
    spread = statistics.stdev(samples) if len(samples) > 1 else 0.0
    return f"{statistics.median(samples):.1f} ± {spread:.1f}"


def table(results: list[dict], args) -> str:
    pp, tg = f"pp{args.n_prompt}", f"tg{args.n_gen}"
    lines = ["| model | test | localllm t/s | llama.cpp t/s | ratio |", "|---|---|---:|---:|---:|"]
    for r in results:
        for test in (pp, tg):
            a, b = r[test]["localllm"], r[test]["llama.cpp"]
            lines.append(f"| {r['model']} | {test} | {_ts(a)} | {_ts(b)} | "
                         f"**{statistics.median(a) / statistics.median(b):.2f}x** |")
    lines += ["", "| model | time to first token: localllm | llama.cpp | ratio | peak RSS: localllm | llama.cpp | "
                  "difference |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        (ta, ra), (tb, rb) = r["first_token"]["localllm"], r["first_token"]["llama.cpp"]
        lines.append(f"| {r['model']} | {ta:.2f} s | {tb:.2f} s | {ta / tb:.2f}x | {ra / 2**20:.0f} MiB | "
                     f"{rb / 2**20:.0f} MiB | {(ra - rb) / 2**20:+.0f} MiB |")
    lines += ["", f"| model | weight MB read per token | read bandwidth GB/s | {tg} ceiling t/s | localllm {tg} t/s | "
                  "% of ceiling |", "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        ceiling = r["read_gbs"] * 1e9 / r["bytes_per_token"]
        rate = statistics.median(r[tg]["localllm"])
        lines.append(f"| {r['model']} | {r['bytes_per_token'] / 1e6:.0f} | {r['read_gbs']:.1f} | {ceiling:.1f} | "
                     f"{rate:.1f} | {100 * rate / ceiling:.0f} % |")
    return "\n".join(lines)


def machine() -> str:
    import psutil

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {psutil.cpu_count(logical=True)} logical cores, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM"


def versions() -> str:
    import llama_cpp

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip() or "?"
    system = llama_cpp.llama_print_system_info().decode().strip()
    return f"localllm commit {commit}; llama-cpp-python {llama_cpp.__version__} ({system})"


def write_results(text: str) -> None:
    current = RESULTS.read_text(encoding="utf-8")
    start = current.find(SECTION)
    if start < 0:
        RESULTS.write_text(current.rstrip() + "\n\n" + text + "\n", encoding="utf-8")
        return
    end = current.find("\n## ", start + len(SECTION))
    RESULTS.write_text(current[:start] + text + ("\n" + current[end:] if end >= 0 else "\n"), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="GGUF files (default: the default model)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("-p", "--n-prompt", type=int, default=512)
    parser.add_argument("-n", "--n-gen", type=int, default=128)
    parser.add_argument("--ttft-reps", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.models:
        from localllm.model_path import resolve_model

        args.models = [str(resolve_model(None))]
    results = []
    for model in args.models:
        print(f"comparing on {model} ...", file=sys.stderr, flush=True)
        results.append(compare(model, args))
    if args.json:
        print(json.dumps(results, indent=1))
    text = table(results, args)
    print(text)
    if args.write:
        command = "python benchmarks/compare_llamacpp.py " + " ".join(sys.argv[1:]).replace(" --write", "")
        write_results(f"{SECTION}\n\nMachine: {machine()}; {args.threads} threads; {versions()}.\n"
                      f"Command: `{command} --write` ({time.strftime('%Y-%m-%d')}).\n\n{text}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
