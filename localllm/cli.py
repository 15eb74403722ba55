"""The `localllm` command line (typer + rich). The only module that prints.

Errors: a LocalLLMError becomes one red line on stderr and exit code 1 (bad input file) or 2 (bad
usage); click's usage errors exit 2. `-v/--verbose` (anywhere on the line) adds the traceback.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Optional

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
