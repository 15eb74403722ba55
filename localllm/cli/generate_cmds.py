"""`localllm run` (one chat turn, then exit) and `localllm complete` (raw completion, no template).
The reply goes to stdout as it is generated; notes and the stats line go to stderr."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from ..errors import UsageError
from .app import app, err, model_and_text, out
from .options import RunOptions, run_options
from .streaming import PrefillBar, announce_template, open_llama, stats_line, stream

RunModelArg = typer.Argument(None, help="GGUF file (default model when omitted). A lone argument that is neither "
                                        "an existing file nor a *.gguf name is taken as the PROMPT.")


@app.command("run")
@run_options
def run_cmd(
    model: Optional[str] = RunModelArg,
    prompt: Optional[str] = typer.Argument(None, help="The message (default: standard input)."),
    system: Optional[str] = typer.Option(None, "-sys", "--system-prompt", envvar="LOCALLLM_SYSTEM_PROMPT",
                                         help="System message first."),
    opts: RunOptions = None,
) -> None:
    """Answer one chat message with the model's chat template, then exit."""
    model, prompt = model_and_text(model, prompt)
    prompt = _text_or_stdin(prompt)
    llm = open_llama(model, opts)
    announce_template(llm)
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    _generate(llm, llm.chat_tokens(messages), opts)


@app.command("complete")
@run_options
def complete_cmd(
    model: Optional[str] = typer.Argument(None, help="GGUF file (default model when omitted)."),
    prompt: Optional[str] = typer.Option(None, "-p", "--prompt", help="Text to continue (default: standard input)."),
    opts: RunOptions = None,
) -> None:
    """Continue a text as it is (BOS added, special tokens parsed, no chat template)."""
    prompt = _text_or_stdin(prompt)
    llm = open_llama(model, opts)
    _generate(llm, llm.tokenize(prompt, add_bos=True, special=True), opts)


def _text_or_stdin(text: Optional[str]) -> str:
    if text is None or text == "-":
        text = sys.stdin.read()
    if not text.strip():
        raise UsageError("the prompt is empty (give it as an argument or on standard input)")
    return text


def _generate(llm, prompt_tokens: list[int], opts: RunOptions) -> None:
    generation = llm.start_generation(prompt_tokens, opts.sampling(llm.tokenizer_.eog_ids),
                                      max_tokens=opts.max_tokens(), stop=opts.reverse_prompt,
                                      progress=PrefillBar(opts.ubatch_size))

    def write(piece: str) -> None:
        out.print(piece, end="", markup=False, highlight=False, soft_wrap=True)

    interrupted = stream(llm, generation, write)
    out.print()
    if interrupted:
        err.print("[yellow]interrupted[/yellow]")
    elif generation.finish_reason == "length" and opts.max_tokens() is None:
        err.print(f"[yellow]note:[/yellow] the context of {llm.n_ctx()} tokens is full (raise -c, or --context-shift)")
    err.print(f"[dim]{stats_line(generation.stats)}[/dim]")
    if interrupted:
        raise typer.Exit(130)
