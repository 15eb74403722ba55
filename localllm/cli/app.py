"""The typer app, its consoles, shared options and formatting, and `main`.

Errors: a LocalLLMError becomes one red line on stderr and exit code 1 (bad input file) or 2 (bad
usage); click's usage errors exit 2. `-v/--verbose` (anywhere on the line) adds the traceback.
"""

from __future__ import annotations

import sys
import traceback
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import LocalLLMError

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


def size_text(n_bytes: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n_bytes < 1024 or unit == "TiB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    raise AssertionError("unreachable")


def number_text(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:g}"


def count_text(n: int) -> str:
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            return f"{n / div:.2f}{suffix}"
    return str(n)


def model_and_text(model: Optional[str], text: Optional[str]) -> tuple[Optional[str], Optional[str]]:
    """`localllm tokenize "some text"`, `localllm run "a question"`: a lone argument that names no
    model file is the text."""
    from pathlib import Path

    if text is None and model is not None and not model.endswith(".gguf") and not Path(model).is_file():
        return None, model
    return model, text


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
