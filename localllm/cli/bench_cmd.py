"""`localllm bench`: prompt processing and generation speed, the llama-bench way."""

from __future__ import annotations

import json
from typing import Optional

import typer

from ..errors import UsageError
from .app import ModelArg, VerboseOpt, app, err, out, size_text


def _ints(text: str, flag: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"{flag} takes comma-separated integers, not {text!r}") from None
    if not values or min(values) < 0:
        raise UsageError(f"{flag} takes comma-separated integers >= 0, not {text!r}")
    return values


@app.command("bench")
def bench_cmd(
    model: Optional[str] = ModelArg,
    n_prompt: str = typer.Option("512", "-p", "--n-prompt", help="Prompt lengths to test (comma-separated; 0: none)."),
    n_gen: str = typer.Option("128", "-n", "--n-gen", help="Generation lengths to test (comma-separated; 0: none)."),
    repetitions: int = typer.Option(5, "-r", "--repetitions", help="Measured runs per test."),
    threads: str = typer.Option("", "-t", "--threads", help="Thread counts (comma-separated; default: physical "
                                                               "cores)."),
    batch_size: int = typer.Option(512, "-b", "--batch-size", help="Logical batch size."),
    ubatch_size: int = typer.Option(512, "-ub", "--ubatch-size", help="Physical batch: tokens per forward pass."),
    cache_type_k: str = typer.Option("f16", "-ctk", "--cache-type-k", help="KV cache type for K."),
    cache_type_v: str = typer.Option("f16", "-ctv", "--cache-type-v", help="KV cache type for V."),
    output: str = typer.Option("md", "-o", "--output", help="md (a table) or json (llama-bench's field names)."),
    n_gpu_layers: str = typer.Option("0", "-ngl", "--n-gpu-layers", envvar="LOCALLLM_N_GPU_LAYERS",
                                     help="Layers to run on the GPU: the last N, or 'all'."),
    verbose: bool = VerboseOpt,
) -> None:
    """Measure prompt processing (pp) and generation (tg) speed in tokens per second."""
    from ..backend.native import default_threads
    from ..benchmark import bench
    from ..engine import load_model

    if output not in ("md", "json"):
        raise UsageError(f"-o takes md or json, not {output!r}")
    if repetitions < 1:
        raise UsageError(f"-r must be at least 1, not {repetitions}")
    prompts, gens = [p for p in _ints(n_prompt, "-p") if p], [n for n in _ints(n_gen, "-n") if n]
    thread_counts = _ints(threads, "-t") if threads else [default_threads()]
    n_ctx = max([*prompts, *gens, min(batch_size, ubatch_size)])
    records = []
    for n_threads in thread_counts:
        with load_model(model, n_ctx=n_ctx, n_batch=min(batch_size, ubatch_size), n_threads=n_threads,
                        type_k=cache_type_k, type_v=cache_type_v, n_gpu_layers=n_gpu_layers) as lm:
            for kind, lengths in (("n_prompt", prompts), ("n_gen", gens)):
                for length in lengths:
                    err.print(f"[dim]{'pp' if kind == 'n_prompt' else 'tg'}{length}, {n_threads} threads ...[/dim]")
                    records.append(bench(lm, repetitions=repetitions, **{kind: length}))
    if output == "json":
        out.print_json(json.dumps([r.to_json() for r in records]))
        return
    lines = ["| model | size | params | kernels | ngl | threads | test | t/s |",
             "|---|---:|---:|---|---:|---:|---:|---:|"]
    for r in records:
        j = r.to_json()
        lines.append(f"| {r.model_type} | {size_text(r.model_size)} | {r.model_n_params / 1e6:.2f} M | {r.kernels} | "
                     f"{r.n_gpu_layers} | {r.n_threads} | {r.test} | {j['avg_ts']:.2f} ± {j['stddev_ts']:.2f} |")
    out.print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)
