"""`localllm show` and `localllm system-info`: what a model file is, what this machine has."""

from __future__ import annotations

import json
from typing import Optional

import typer
from rich.table import Table

from .app import ModelArg, VerboseOpt, app, count_text, number_text, out, size_text


@app.command()
def show(
    model: Optional[str] = ModelArg,
    as_json: bool = typer.Option(False, "--json", help="Print the facts as JSON."),
    tensors: bool = typer.Option(False, "--tensors", help="Also list every tensor."),
    metadata: bool = typer.Option(False, "--metadata", help="Also list every metadata key."),
    verbose: bool = VerboseOpt,
) -> None:
    """Show what a model is: architecture, size, quantization, context, vocabulary."""
    from ..gguf import open_gguf
    from ..model_info import describe
    from ..model_path import resolve_model

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
        rows = [(r["name"], r["type"], "x".join(map(str, r["shape"])), size_text(r["bytes"])) for r in tensor_rows]
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
    rope = number_text(info.rope_freq_base) if info.rope_freq_base else "-"
    if info.rope_freq_base_local:
        rope += f" (global layers), {number_text(info.rope_freq_base_local)} (sliding-window layers)"
    specials = ", ".join(f"{k} {v['id']} {v['text']!r}" for k, v in info.special_tokens.items())
    quant = ", ".join(f"{name} {g.tensors} ({size_text(g.bytes)})" for name, g in info.quantization.items())
    rows = [
        ("model", info.name or "-"),
        ("architecture", info.architecture),
        ("parameters", count_text(info.parameters)),
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
        ("file", f"{info.path} ({size_text(info.file_size)}, GGUF v{info.gguf_version}, {info.tensor_count} tensors)"),
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
    from ..system import system_info

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
        ("RAM", f"{size_text(info['ram_total_bytes'])} total, {size_text(info['ram_available_bytes'])} available"),
        ("CUDA", ("yes: " if info["cuda"] else "no: ") + info["cuda_detail"]),
        ("Python", info["python"]),
    ]
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    out.print(table)
