"""The `localllm` command line (typer + rich): the only package that prints.

Each command lives in a module of its own; importing them registers them on `app`.
"""

from . import (  # noqa: F401 (importing a module registers its commands)
    bench_cmd, chat_cmd, convert_cmd, embed_cmd, generate_cmds, inspect_cmds, perplexity_cmd, text_cmds,
)
from .app import app, main

__all__ = ["app", "main"]
