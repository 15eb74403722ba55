"""`localllm perplexity`: score a text file as llama-perplexity does."""

from __future__ import annotations

from typing import Optional

import typer

from .app import ModelArg, VerboseOpt, app, err, out, size_text


@app.command()
def perplexity(
    model: Optional[str] = ModelArg,
    file: str = typer.Option(..., "-f", "--file", help="Text file to score."),
    ctx_size: int = typer.Option(512, "-c", "--ctx-size", help="Tokens per chunk."),
    chunks: Optional[int] = typer.Option(None, "--chunks", help="Score at most this many chunks."),
    threads: Optional[int] = typer.Option(None, "-t", "--threads", help="Threads (default: physical cores)."),
    batch: int = typer.Option(512, "-b", "--batch-size", help="Tokens per forward call."),
    n_gpu_layers: str = typer.Option("0", "-ngl", "--n-gpu-layers", envvar="LOCALLLM_N_GPU_LAYERS",
                                     help="Layers to run on the GPU: the last N, or 'all'."),
    verbose: bool = VerboseOpt,
) -> None:
    """Perplexity of a text, as llama-perplexity computes it (second half of each chunk)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from ..engine import load_model
    from ..errors import InputError
    from ..perplexity import perplexity as compute

    try:
        with open(file, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {file!r}: {exc}") from exc
    with load_model(model, n_ctx=ctx_size, n_batch=batch, n_threads=threads, n_gpu_layers=n_gpu_layers) as lm:
        err.print(f"[dim]{lm.model.hparams.arch}, KV cache {size_text(lm.model.kv_bytes)} "
                  f"({lm.n_ctx} cells, {lm.model.config.type_k}/{lm.model.config.type_v}), "
                  f"{lm.context.threads} threads, kernels {lm.context.level}, GPU layers {lm.model.n_gpu_layers}[/dim]")
        columns = (TextColumn("[progress.description]{task.description}"), BarColumn(),
                   TextColumn("{task.completed}/{task.total} chunks"), TimeRemainingColumn())
        with Progress(*columns, console=err, transient=True) as bar:
            task = bar.add_task("perplexity", total=None)

            def progress(done: int, total: int, running: float) -> None:
                bar.update(task, completed=done, total=total)
                err.print(f"[dim]chunk {done}/{total}: running PPL {running:.4f}[/dim]")

            result = compute(lm, text, ctx_size, chunks, progress)
    out.print(f"Final estimate: PPL = {result.ppl:.4f} +/- {result.stderr:.5f} "
              f"({result.n_chunks} chunks of {result.n_ctx} tokens, {result.n_scored} tokens scored)")
