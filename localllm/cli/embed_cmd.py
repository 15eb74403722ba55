"""`localllm embed`: sentence embeddings of texts as JSON (stdout or a file) or a .npy array."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from .app import VerboseOpt, app, out

EmbedArgs = typer.Argument(None, metavar="[MODEL] [TEXT]...",
                           help="Optional GGUF file (a first argument ending in .gguf or naming a file), then "
                                "the texts (default: --file, else one text per line of standard input).")
POOLINGS = ("mean", "cls", "last", "none")


@app.command("embed")
def embed_cmd(
    args: Optional[List[str]] = EmbedArgs,
    file: Optional[str] = typer.Option(None, "-f", "--file", help="Embed each non-empty line of this file."),
    pooling: Optional[str] = typer.Option(None, "--pooling", help="mean, cls, last or none (default: the model's)."),
    embd_normalize: int = typer.Option(2, "--embd-normalize",
                                       help="-1 none, 0 max-abs (int16), 1 taxicab, 2 Euclidean, >2 p-norm."),
    output: Optional[str] = typer.Option(None, "-o", "--output", help="Write to OUT.npy or OUT.json instead."),
    truncate: bool = typer.Option(False, "--truncate", help="Cut inputs longer than the batch instead of failing."),
    threads: Optional[int] = typer.Option(None, "-t", "--threads", help="Threads (default: physical cores)."),
    ctx_size: Optional[int] = typer.Option(None, "-c", "--ctx-size", help="Context size (default: the model's)."),
    batch: int = typer.Option(2048, "-b", "--batch-size", help="Tokens per forward pass (capped at the context)."),
    verbose: bool = VerboseOpt,
) -> None:
    """Embed texts with an embedding model (e.g. a converted all-MiniLM-L6-v2) or any supported model."""
    from ..embedding import Embedder
    from ..engine import load_model
    from ..errors import UsageError

    if pooling is not None and pooling not in POOLINGS:
        raise UsageError(f"--pooling must be one of {', '.join(POOLINGS)}, not {pooling!r}")
    if output is not None and Path(output).suffix.lower() not in (".npy", ".json"):
        raise UsageError(f"--output must end in .npy or .json, not {output!r}")
    model, texts = _model_and_texts(args or [], file)
    with load_model(model, n_ctx=ctx_size, n_batch=batch, n_threads=threads, embedding=True) as lm:
        embedder = Embedder(lm, pooling)
        result = embedder.embed_with_counts(texts, normalize=embd_normalize, truncate=truncate)
        _write(result, embedder.pooling, Path(lm.gguf.path).name, output)


def _model_and_texts(args: list[str], file: Optional[str]) -> tuple[Optional[str], list[str]]:
    from ..errors import InputError, UsageError

    model = None
    if args and (args[0].endswith(".gguf") or Path(args[0]).is_file()):
        model, args = args[0], args[1:]
    if args and file:
        raise UsageError("give texts as arguments or with --file, not both")
    if args:
        return model, list(args)
    try:
        source = Path(file).read_text(encoding="utf-8") if file else sys.stdin.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {file!r}: {exc}") from exc
    texts = [line for line in source.splitlines() if line.strip()]
    if not texts:
        raise UsageError("no text to embed (give TEXT arguments, --file or lines on standard input)")
    return model, texts


def _write(result, pooling: str, model_name: str, output: Optional[str]) -> None:
    import numpy as np

    from ..errors import InputError, UsageError

    if output is not None and output.lower().endswith(".npy"):
        if pooling == "none":
            raise UsageError("--pooling none gives one matrix per text: write it with -o OUT.json")
        try:
            np.save(output, result.vectors)
        except OSError as exc:
            raise InputError(f"cannot write {output!r}: {exc}") from exc
        return
    n_tokens = sum(result.n_tokens)
    data = [{"object": "embedding", "index": i, "embedding": np.asarray(v).tolist()}
            for i, v in enumerate(result.vectors)]
    doc = json.dumps({"object": "list", "model": model_name, "pooling": pooling, "data": data,
                      "usage": {"prompt_tokens": n_tokens, "total_tokens": n_tokens}})
    if output is None:
        out.print(doc, markup=False, highlight=False, soft_wrap=True)
        return
    try:
        Path(output).write_text(doc + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {output!r}: {exc}") from exc
