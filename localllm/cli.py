"""The `localllm` command line (typer + rich). The only module that prints.

Errors: a LocalLLMError becomes one red line on stderr and exit code 1 (bad input file) or 2 (bad
usage); click's usage errors exit 2. `-v/--verbose` (anywhere on the line) adds the traceback.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .errors import LocalLLMError

app = typer.Typer(
    name="localllm",
    help="Run GGUF language models locally on the CPU.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

ModelArg = typer.Argument(None, help="GGUF file (default: LOCALLLM_MODEL, models/*.gguf, or the demo model)")
VerboseOpt = typer.Option(False, "-v", "--verbose", help="Show tracebacks on errors.")


def _size(n_bytes: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n_bytes < 1024 or unit == "TiB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    raise AssertionError("unreachable")


def _number(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:g}"


def _count(n: int) -> str:
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            return f"{n / div:.2f}{suffix}"
    return str(n)


@app.command()
def show(
    model: Optional[str] = ModelArg,
    as_json: bool = typer.Option(False, "--json", help="Print the facts as JSON."),
    tensors: bool = typer.Option(False, "--tensors", help="Also list every tensor."),
    metadata: bool = typer.Option(False, "--metadata", help="Also list every metadata key."),
    verbose: bool = VerboseOpt,
) -> None:
    """Show what a model is: architecture, size, quantization, context, vocabulary."""
    from .gguf import open_gguf
    from .model_info import describe
    from .model_path import resolve_model

    with open_gguf(resolve_model(model)) as gguf:
        info = describe(gguf)
        tensor_rows = [_tensor_row(t) for t in gguf.tensors] if tensors else None
        meta_rows = {k: _short_value(v) for k, v in gguf.metadata.items()} if metadata else None
    if as_json:
        doc = info.to_dict()
        if tensor_rows is not None:
            doc["tensors"] = tensor_rows
        if meta_rows is not None:
            doc["metadata"] = meta_rows
        out.print_json(json.dumps(doc))
        return
    _print_info(info)
    if meta_rows is not None:
        _print_rows("Metadata", ("key", "value"), meta_rows.items())
    if tensor_rows is not None:
        rows = [(r["name"], r["type"], "x".join(map(str, r["shape"])), _size(r["bytes"])) for r in tensor_rows]
        _print_rows("Tensors", ("name", "type", "shape", "size"), rows)


def _tensor_row(t) -> dict:
    return {"name": t.name, "type": t.type.name, "shape": list(t.shape), "offset": t.offset, "bytes": t.n_bytes}


def _short_value(value):
    """Metadata value for display: big arrays summarized, never decoded whole."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    n = len(value)
    head = [v.item() if hasattr(v, "item") else v for v in list(value[: min(n, 5)])]
    return head if n <= 5 else f"[{n} items: {', '.join(map(repr, head))}, ...]"


def _print_info(info) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column(overflow="fold")
    rope = _number(info.rope_freq_base) if info.rope_freq_base else "-"
    if info.rope_freq_base_local:
        rope += f" (global layers), {_number(info.rope_freq_base_local)} (sliding-window layers)"
    specials = ", ".join(f"{k} {v['id']} {v['text']!r}" for k, v in info.special_tokens.items())
    quant = ", ".join(f"{name} {g.tensors} ({_size(g.bytes)})" for name, g in info.quantization.items())
    rows = [
        ("model", info.name or "-"),
        ("architecture", info.architecture),
        ("parameters", _count(info.parameters)),
        ("file type", info.file_type or "-"),
        ("quantization", quant),
        ("context length", str(info.context_length)),
        ("embedding length", str(info.embedding_length)),
        ("layers", str(info.layers)),
        ("feed-forward length", str(info.feed_forward_length)),
        ("heads / KV heads", f"{info.heads} / {info.kv_heads}"),
        ("head dim", str(info.head_dim)),
        ("RoPE base", rope),
        ("sliding window", str(info.sliding_window) if info.sliding_window else "none"),
        ("vocabulary", f"{info.vocab_type} ({info.vocab_size:,} tokens)"),
        ("special tokens", specials or "-"),
        ("chat template", "yes (in file)" if info.chat_template else "none in file"),
        ("file", f"{info.path} ({_size(info.file_size)}, GGUF v{info.gguf_version}, {info.tensor_count} tensors)"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    out.print(table)


def _print_rows(title: str, columns, rows) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(str(c) for c in row))
    out.print(table)


@app.command("system-info")
def system_info_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print the facts as JSON."),
    verbose: bool = VerboseOpt,
) -> None:
    """Show the CPU, its SIMD features, the kernel level in use, memory and CUDA."""
    from .system import system_info

    info = system_info()
    if as_json:
        out.print_json(json.dumps(info))
        return
    rows = [
        ("CPU", f"{info['cpu']} ({info['machine']})"),
        ("cores", f"{info['physical_cores']} physical, {info['logical_cores']} logical"),
        ("SIMD features", " ".join(info["simd_features"]) or "none"),
        ("kernel level", f"{info['kernel_level']} (built: {', '.join(info['kernel_levels_built'])}; "
                         f"runnable here: {', '.join(info['kernel_levels_supported'])})"),
        ("RAM", f"{_size(info['ram_total_bytes'])} total, {_size(info['ram_available_bytes'])} available"),
        ("CUDA", ("yes: " if info["cuda"] else "no: ") + info["cuda_detail"]),
        ("Python", info["python"]),
    ]
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    out.print(table)


@app.command()
def perplexity(
    model: Optional[str] = ModelArg,
    file: str = typer.Option(..., "-f", "--file", help="Text file to score."),
    ctx_size: int = typer.Option(512, "-c", "--ctx-size", help="Tokens per chunk."),
    chunks: Optional[int] = typer.Option(None, "--chunks", help="Score at most this many chunks."),
    threads: Optional[int] = typer.Option(None, "-t", "--threads", help="Threads (default: physical cores)."),
    batch: int = typer.Option(512, "-b", "--batch-size", help="Tokens per forward call."),
    verbose: bool = VerboseOpt,
) -> None:
    """Perplexity of a text, as llama-perplexity computes it (second half of each chunk)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from .engine import load_model
    from .errors import InputError
    from .perplexity import perplexity as compute

    try:
        with open(file, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {file!r}: {exc}") from exc
    with load_model(model, n_ctx=ctx_size, n_batch=batch, n_threads=threads) as lm:
        err.print(f"[dim]{lm.model.hparams.arch}, KV cache {_size(lm.model.kv_bytes)} "
                  f"({lm.n_ctx} cells, {lm.model.config.type_k}/{lm.model.config.type_v}), "
                  f"{lm.context.threads} threads, kernels {lm.context.level}[/dim]")
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


TokenizeModelArg = typer.Argument(
    None, help="GGUF file (default model when omitted). A lone argument that is neither an existing file "
               "nor a *.gguf name is taken as TEXT.")


@app.command("tokenize")
def tokenize_cmd(
    model: Optional[str] = TokenizeModelArg,
    text: Optional[str] = typer.Argument(None, help="Text to tokenize (default: standard input)."),
    no_bos: bool = typer.Option(False, "--no-bos", help="Add no BOS/EOS even where the model asks for them."),
    special: bool = typer.Option(False, "--special", help="Parse special-token texts such as <start_of_turn>."),
    pieces: bool = typer.Option(False, "--pieces", help="Show each token's piece next to its id."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    verbose: bool = VerboseOpt,
) -> None:
    """Show the token ids (and pieces) a model turns a text into, for debugging prompts."""
    from .gguf import open_gguf
    from .model_path import resolve_model
    from .tokenizer import Tokenizer

    model, text = _model_and_text(model, text)
    if text is None:
        text = sys.stdin.read()
    with open_gguf(resolve_model(model)) as gguf:
        tok = Tokenizer.from_gguf(gguf)
    ids = tok.encode(text, add_special=not no_bos, parse_special=special)
    shown = [tok.token_to_piece(i).decode("utf-8", "backslashreplace") for i in ids] if pieces else None
    if as_json:
        doc = {"count": len(ids), "tokens": ids, **({"pieces": shown} if shown is not None else {})}
        out.print_json(json.dumps(doc, ensure_ascii=False))
    elif shown is not None:
        width = len(str(max(ids, default=0)))
        for i, piece in zip(ids, shown, strict=True):
            out.print(f"{i:>{width}}  {json.dumps(piece, ensure_ascii=False)}", markup=False, soft_wrap=True)
    else:
        out.print(json.dumps(ids), markup=False, soft_wrap=True)


def _model_and_text(model: Optional[str], text: Optional[str]) -> tuple[Optional[str], Optional[str]]:
    """`localllm tokenize "some text"`: a lone argument that names no model is the text."""
    from pathlib import Path

    if text is None and model is not None and not model.endswith(".gguf") and not Path(model).is_file():
        return None, model
    return model, text


DetokenizeArgs = typer.Argument(..., metavar="[MODEL] IDS...",
                                help="Optional GGUF file, then token ids (spaces, commas or a JSON list).")


@app.command("detokenize")
def detokenize_cmd(
    args: List[str] = DetokenizeArgs,
    skip_special: bool = typer.Option(False, "--skip-special", help="Leave out control tokens such as <bos>."),
    verbose: bool = VerboseOpt,
) -> None:
    """Turn token ids back into text."""
    from .gguf import open_gguf
    from .model_path import resolve_model
    from .tokenizer import Tokenizer

    model, ids = _model_and_ids(args)
    with open_gguf(resolve_model(model)) as gguf:
        tok = Tokenizer.from_gguf(gguf)
    out.print(tok.decode(ids, skip_special=skip_special), markup=False, highlight=False, soft_wrap=True)


def _model_and_ids(args: List[str]) -> tuple[Optional[str], list[int]]:
    import re

    from .errors import UsageError

    model = None
    if args and not re.fullmatch(r"[\s\[\],0-9-]+", args[0]):
        model, args = args[0], args[1:]
    words = " ".join(args).replace(",", " ").replace("[", " ").replace("]", " ").split()
    if not words:
        raise UsageError("no token ids given (usage: localllm detokenize [MODEL] IDS...)")
    try:
        return model, [int(w) for w in words]
    except ValueError:
        bad = next(w for w in words if not w.lstrip("-").isdigit())
        raise UsageError(f"not a token id: {bad!r}") from None


ChatTemplateOpt = typer.Option(None, "--chat-template", help="Built-in template: gemma, llama3, llama2, chatml, "
                                                              "qwen, mistral, phi3 (default: the model's own).")
ChatTemplateFileOpt = typer.Option(None, "--chat-template-file", help="Jinja2 chat template file to use instead.")


@app.command("chat-template")
def chat_template_cmd(
    model: Optional[str] = ModelArg,
    messages: List[str] = typer.Option([], "-m", "--message", help="A user message (repeatable; default: "
                                       "an OpenAI-style JSON list of messages on standard input)."),
    system: Optional[str] = typer.Option(None, "-sys", "--system-prompt", help="System message first."),
    template: Optional[str] = ChatTemplateOpt,
    template_file: Optional[str] = ChatTemplateFileOpt,
    no_generation_prompt: bool = typer.Option(False, "--no-generation-prompt", help="Leave out the assistant opener."),
    verbose: bool = VerboseOpt,
) -> None:
    """Render a conversation with the model's chat template, to see the exact prompt it will get."""
    from .chat import resolve_template
    from .errors import InputError
    from .gguf import open_gguf
    from .model_path import resolve_model
    from .tokenizer import Tokenizer

    if messages:
        conversation = [{"role": "user", "content": text} for text in messages]
    else:
        try:
            conversation = json.loads(sys.stdin.read())
        except json.JSONDecodeError as exc:
            raise InputError(f"standard input is not a JSON list of messages: {exc}") from exc
    if system is not None:
        conversation = [{"role": "system", "content": system}, *conversation]
    with open_gguf(resolve_model(model)) as gguf:
        chosen = resolve_template(gguf, Tokenizer.from_gguf(gguf), name=template, file=template_file)
    if chosen.announcement:
        err.print(f"[yellow]note:[/yellow] {escape(chosen.announcement)}")
    out.print(chosen.render(conversation, add_generation_prompt=not no_generation_prompt),
              markup=False, highlight=False, end="", soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning errors into one line and an exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "-v" in argv or "--verbose" in argv
    try:
        app(args=argv, prog_name="localllm", standalone_mode=False)
    except LocalLLMError as exc:
        return _fail(str(exc), exc.exit_code, verbose)
    except KeyboardInterrupt:
        err.print("[red]interrupted[/red]")
        return 130
    except Exception as exc:  # click's own exceptions (typer vendors click, so matched by name)
        return _click_outcome(exc, verbose)
    return 0


def _click_outcome(exc: Exception, verbose: bool) -> int:
    kinds = {cls.__name__ for cls in type(exc).__mro__}
    if "NoArgsIsHelpError" in kinds:  # bare `localllm`: the help text, not an error
        out.print(exc.format_message(), markup=False, highlight=False)
        return 0
    if "Exit" in kinds:
        return exc.exit_code
    if "Abort" in kinds:
        err.print("[red]aborted[/red]")
        return 130
    if "UsageError" in kinds:
        ctx = exc.ctx
        command = f"{ctx.command_path} --help" if ctx is not None else "localllm --help"
        return _fail(f"{exc.format_message()} (see: {command})", 2, verbose)
    if "ClickException" in kinds:
        return _fail(exc.format_message(), exc.exit_code or 2, verbose)
    raise exc


def _fail(message: str, code: int, verbose: bool) -> int:
    if verbose:
        err.print(traceback.format_exc(), markup=False)
    err.print(f"[bold red]error:[/bold red] {escape(message)}", soft_wrap=True)
    return code
