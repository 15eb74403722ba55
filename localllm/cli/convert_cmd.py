"""`localllm convert`: a Hugging Face checkpoint directory -> one GGUF file."""

from __future__ import annotations

import logging

import typer

from .app import VerboseOpt, app, err, out, size_text


@app.command("convert")
def convert_cmd(
    hf_dir: str = typer.Argument(..., help="Hugging Face checkpoint directory (config.json, *.safetensors, tokenizer)."),
    out_path: str = typer.Argument(..., metavar="OUT.gguf", help="GGUF file to write."),
    outtype: str = typer.Option("f16", "--outtype", help="Type of the 2-D weights: f32, f16, bf16 or q8_0."),
    verbose: bool = VerboseOpt,
) -> None:
    """Convert a checkpoint (llama, qwen2, qwen3, gemma3, bert) to GGUF as llama.cpp's converter does."""
    from pathlib import Path

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..convert import convert

    logging.getLogger("gguf").setLevel(logging.ERROR)  # the writer's notes on unhandled special tokens
    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("[dim]{task.fields[tensor]}[/dim]"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("converting", total=None, tensor="")

        def progress(done: int, total: int, name: str) -> None:
            bar.update(task, completed=done, total=total, tensor=name)

        path = convert(hf_dir, out_path, outtype=outtype, progress=progress)
    total = bar.tasks[0].total or 0
    out.print(f"wrote {path} ({size_text(Path(path).stat().st_size)}, {total:.0f} tensors, {outtype.lower()})",
              markup=False, soft_wrap=True)
