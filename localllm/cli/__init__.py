"""The `localllm` command line (typer + rich): the only package that prints.

Each command lives in a module of its own; importing them registers them on `app`.
"""

from . import bench_cmd, chat_cmd, generate_cmds, inspect_cmds, perplexity_cmd, text_cmds  # noqa: F401 (registers the commands)
from .app import app, main

__all__ = ["app", "main"]
