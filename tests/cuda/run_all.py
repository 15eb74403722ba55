"""GPU offload checks on a machine with an NVIDIA GPU, in one run (benchmarks/cuda_check.sh builds and calls it).

    python tests/cuda/run_all.py WORK_DIR [--phases synth,accuracy,decode,shift,floor,ppl,memory,speed] [--text FILE]

On random-weight files with the default model's shapes (gemma3 270M, Q4_K_M-like mix) and a small
llama that uses every GPU weight type, the GPU (-ngl all, and half the layers) is compared with
the CPU on the same file: top-1 agreement and relative logit error over prompts (prefill: GEMM
path), decode one token at a time (matvec + CUDA graph), a context shift, perplexity of a text; a
memory limit gives the typed error; then speed (pp512, tg128; CUDA events and wall time).
Prints a summary table last and writes results.json to WORK_DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from synthetic_models import GEMMA3_270M, LLAMA_SMALL, write_model  # noqa: E402

from localllm.engine import load_model  # noqa: E402

PROMPTS = 3          # prompts of PROMPT_LEN random tokens per comparison
PROMPT_LEN = 96
RESULTS: dict = {}


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def compare(gpu: np.ndarray, cpu: np.ndarray) -> dict:
    return {"top1": float(np.mean(gpu.argmax(-1) == cpu.argmax(-1))), "rel_err": rel_error(gpu, cpu),
            "max_rel_row": float(max(rel_error(g, c) for g, c in zip(gpu, cpu)))}


def prompts(n_vocab: int) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.integers(3, n_vocab, PROMPT_LEN, dtype=np.int32) for _ in range(PROMPTS)]


def all_logits(lm, tokens: np.ndarray) -> np.ndarray:
    lm.model.kv_clear()
    return lm.eval_tokens(tokens, logit_rows=np.arange(len(tokens)))


def phase_accuracy(path: str, name: str, n_layer: int) -> None:
    """Prefill logits at every position: CPU vs -ngl all and -ngl n_layer/2."""
    with load_model(path, n_ctx=512, n_batch=128) as cpu:
        ref = [all_logits(cpu, p) for p in prompts(cpu.model.hparams.n_vocab)]
    for ngl, mode in (("all", "tf32x3"), (n_layer // 2, "tf32x3"), ("all", "tf32"), ("all", "f32")):
        os.environ["LOCALLLM_CUDA_GEMM"] = mode
        with load_model(path, n_ctx=512, n_batch=128, n_gpu_layers=ngl) as gpu:
            got = [all_logits(gpu, p) for p in prompts(gpu.model.hparams.n_vocab)]
        RESULTS[f"{name} prefill ngl={ngl} gemm={mode}"] = compare(np.concatenate(got), np.concatenate(ref))
    os.environ.pop("LOCALLLM_CUDA_GEMM")


def decode_logits(lm, prompt: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Prefill the prompt, then feed the CPU's greedy tokens one at a time (fixed inputs for both)."""
    lm.model.kv_clear()
    out = [lm.eval_tokens(prompt)[0]]
    for i, tok in enumerate(steps):
        out.append(lm.model.forward([tok], [len(prompt) + i])[0])
    return np.stack(out)


def phase_decode(path: str, name: str, n_layer: int) -> None:
    with load_model(path, n_ctx=512, n_batch=128) as cpu:
        p = prompts(cpu.model.hparams.n_vocab)[0]
        steps = np.random.default_rng(3).integers(3, cpu.model.hparams.n_vocab, 32)
        ref = decode_logits(cpu, p, steps)
    for ngl, order in (("all", ""), (n_layer // 2, ""), ("all", "cpu_order"), (n_layer // 2, "cpu_order")):
        os.environ["LOCALLLM_CUDA_DECODE_ATTENTION"] = order
        with load_model(path, n_ctx=512, n_batch=128, n_gpu_layers=ngl) as gpu:
            got = decode_logits(gpu, p, steps)
        RESULTS[f"{name} decode ngl={ngl}{' attention=' + order if order else ''}"] = compare(got, ref)
    os.environ.pop("LOCALLLM_CUDA_DECODE_ATTENTION")


def cpu_logits(path: str) -> dict[str, np.ndarray]:
    """The CPU's prefill logits (every prompt) and decode logits, as phase_accuracy / phase_decode take them."""
    with load_model(path, n_ctx=512, n_batch=128) as cpu:
        p = prompts(cpu.model.hparams.n_vocab)
        steps = np.random.default_rng(3).integers(3, cpu.model.hparams.n_vocab, 32)
        return {"prefill": np.concatenate([all_logits(cpu, x) for x in p]), "decode": decode_logits(cpu, p[0], steps)}


def phase_floor(path: str, name: str, work: str) -> None:
    """The CPU against itself at other kernel levels (LOCALLLM_ISA: AVX2, scalar C) on the same
    inputs: float-level differences (summation orders), amplified by the file as the GPU's are."""
    ref = cpu_logits(path)
    for isa in ("avx2", "scalar"):
        out = os.path.join(work, f"{name}-{isa}-logits.npz")
        subprocess.run([sys.executable, os.path.abspath(__file__), work, "--dump-cpu", path, out], check=True,
                       env={**os.environ, "LOCALLLM_ISA": isa})
        got = np.load(out)
        for test in ("prefill", "decode"):
            RESULTS[f"{name} {test} cpu {isa} vs cpu default"] = compare(got[test], ref[test])


def shifted_logits(lm, prompt: np.ndarray) -> np.ndarray:
    lm.model.kv_clear()
    lm.eval_tokens(prompt)
    lm.model.kv_remove(0, 8, 40)
    lm.model.kv_shift(0, 40, len(prompt), -32)
    return lm.model.forward(prompt[:1], [len(prompt) - 32])


def phase_shift(path: str, name: str) -> None:
    with load_model(path, n_ctx=512, n_batch=128) as cpu:
        p = prompts(cpu.model.hparams.n_vocab)[1]
        ref = shifted_logits(cpu, p)
    with load_model(path, n_ctx=512, n_batch=128, n_gpu_layers="all") as gpu:
        RESULTS[f"{name} context shift ngl=all"] = compare(shifted_logits(gpu, p), ref)


def phase_ppl(path: str, name: str, text: str) -> None:
    from localllm.perplexity import perplexity

    values = {}
    for ngl in (0, "all"):
        with load_model(path, n_ctx=512, n_batch=512, n_gpu_layers=ngl) as lm:
            values[str(ngl)] = perplexity(lm, text, 512, 4).ppl
    RESULTS[f"{name} perplexity"] = {"cpu": values["0"], "gpu": values["all"],
                                     "rel_diff": abs(values["all"] - values["0"]) / values["0"]}


def phase_memory(path: str) -> None:
    from localllm.errors import GPUMemoryError

    os.environ["LOCALLLM_GPU_MEMORY_LIMIT"] = str(200 << 20)
    try:
        load_model(path, n_ctx=512, n_gpu_layers="all")
        RESULTS["memory error"] = "NOT RAISED"
    except GPUMemoryError as exc:
        RESULTS["memory error"] = f"GPUMemoryError: {exc} (needed {exc.needed_bytes}, free {exc.free_bytes})"
    finally:
        del os.environ["LOCALLLM_GPU_MEMORY_LIMIT"]


def weight_bytes(lm) -> int:
    """Bytes of the matrices the GPU multiplies per decoded token (every layer and the output)."""
    g = lm.gguf
    names = [t.name for t in g.tensors if t.name.startswith("blk.") and len(t.shape) == 2]
    names.append("output.weight" if any(t.name == "output.weight" for t in g.tensors) else "token_embd.weight")
    return sum(g.tensor(n).n_bytes for n in names)


def phase_speed(path: str, name: str) -> None:
    from localllm.benchmark import bench

    with load_model(path, n_ctx=640, n_batch=512, n_gpu_layers="all") as lm:
        seg = lm.model.segment
        tg = bench(lm, n_gen=128, repetitions=3)
        tg_ms = []
        lm.model.kv_clear()
        for pos in range(128):
            lm.model.forward([5 + pos], [pos])
            tg_ms.append(seg.last_ms)
        pp = bench(lm, n_prompt=512, repetitions=3)
        lm.model.kv_clear()
        lm.eval_tokens(np.arange(3, 515, dtype=np.int32))
        pp_ms = seg.last_ms
        bytes_per_token = weight_bytes(lm)
    gpu_tok_ms = float(np.median(tg_ms))
    os.environ["LOCALLLM_CUDA_DECODE_ATTENTION"] = "cpu_order"
    try:
        with load_model(path, n_ctx=640, n_batch=512, n_gpu_layers="all") as lm:
            ordered_ms = []
            for pos in range(128):
                lm.model.forward([5 + pos], [pos])
                ordered_ms.append(lm.model.segment.last_ms)
    finally:
        del os.environ["LOCALLLM_CUDA_DECODE_ATTENTION"]
    RESULTS[f"{name} speed"] = {
        "tg128_wall_ts": tg.to_json()["avg_ts"], "pp512_wall_ts": pp.to_json()["avg_ts"],
        "tg_gpu_ms_per_token": gpu_tok_ms, "tg128_gpu_ts": 1000.0 / gpu_tok_ms,
        "tg128_gpu_ts_attention_cpu_order": 1000.0 / float(np.median(ordered_ms)), "pp512_gpu_ms": pp_ms,
        "pp512_gpu_ts": 512 / (pp_ms / 1000.0), "weight_bytes_per_token": bytes_per_token,
        "decode_weight_GBps": bytes_per_token / (gpu_tok_ms / 1000.0) / 1e9}


def phase_profile(path: str, name: str) -> None:
    """GPU ms per step kind, each step timed alone: per decoded token (of 32) and for pp512."""
    os.environ["LOCALLLM_CUDA_PROFILE"] = "1"
    try:
        with load_model(path, n_ctx=640, n_batch=512, n_gpu_layers="all") as lm:
            lm.eval_tokens(np.arange(3, 515, dtype=np.int32))
            pp = lm.model.segment.profile()
            for pos in range(512, 544):
                lm.model.forward([7], [pos])
            tg = {k: v / 32 for k, v in lm.model.segment.profile().items()}
    finally:
        del os.environ["LOCALLLM_CUDA_PROFILE"]
    RESULTS[f"{name} profile pp512 ms"] = pp
    RESULTS[f"{name} profile decode ms per token"] = tg


def copy_bandwidth() -> float:
    """GB/s of a 2 GiB device-to-device copy (bytes read + written), the practical ceiling."""
    import torch

    a = torch.empty(1 << 31, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)
    b.copy_(a)
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(10):
        b.copy_(a)
    stop.record()
    torch.cuda.synchronize()
    return 2 * a.numel() * 10 / (start.elapsed_time(stop) / 1000) / 1e9


def run_phase(label: str, fn, *args) -> None:
    start = time.perf_counter()
    try:
        fn(*args)
        print(f"[{label}] done in {time.perf_counter() - start:.1f} s", flush=True)
    except Exception:  # report and go on: one broken phase must not hide the others
        RESULTS[f"{label} FAILED"] = traceback.format_exc(limit=6)
        print(f"[{label}] FAILED\n{traceback.format_exc()}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("work")
    parser.add_argument("--phases", default="synth,accuracy,decode,shift,ppl,memory,speed")
    parser.add_argument("--text", default=None)
    parser.add_argument("--dump-cpu", nargs=2, metavar=("MODEL", "OUT"), help="write cpu_logits(MODEL) to OUT (.npz)")
    args = parser.parse_args()
    if args.dump_cpu:
        np.savez(args.dump_cpu[1], **cpu_logits(args.dump_cpu[0]))
        return 0
    phases = set(args.phases.split(","))
    os.makedirs(args.work, exist_ok=True)
    models = {"gemma3-270m": (GEMMA3_270M, os.path.join(args.work, "gemma3-270m-synthetic.gguf")),
              "llama-small": (LLAMA_SMALL, os.path.join(args.work, "llama-small-synthetic.gguf"))}
    for name, (shape, path) in models.items():
        if "synth" in phases or not os.path.exists(path):
            run_phase(f"write {name}", write_model, path, shape)
    for name, (shape, path) in models.items():
        if "accuracy" in phases:
            run_phase(f"{name} accuracy", phase_accuracy, path, name, shape.n_layer)
        if "decode" in phases:
            run_phase(f"{name} decode", phase_decode, path, name, shape.n_layer)
        if "shift" in phases:
            run_phase(f"{name} shift", phase_shift, path, name)
        if "floor" in phases:
            run_phase(f"{name} floor", phase_floor, path, name, args.work)
    gemma = models["gemma3-270m"][1]
    if "ppl" in phases and args.text:
        with open(args.text, encoding="utf-8") as f:
            run_phase("perplexity", phase_ppl, gemma, "gemma3-270m", f.read())
    if "memory" in phases:
        run_phase("memory", phase_memory, gemma)
    if "speed" in phases:
        run_phase("speed", phase_speed, gemma, "gemma3-270m")
        run_phase("profile", phase_profile, gemma, "gemma3-270m")
        run_phase("copy bandwidth", lambda: RESULTS.__setitem__("d2d copy GBps", copy_bandwidth()))
    with open(os.path.join(args.work, "results.json"), "w") as f:
        json.dump(RESULTS, f, indent=1)
    print("\n==== summary ====")
    for key, value in RESULTS.items():
        print(f"{key}: {json.dumps(value) if not isinstance(value, str) else value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
