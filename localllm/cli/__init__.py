"""The `localllm` command line (typer + rich): the only package that prints.

Each command lives in a module of its own; importing them registers them on `app`.
"""

from . import convert_cmd, embed_cmd, inspect_cmds, perplexity_cmd, text_cmds  # noqa: F401 (registers the commands)
from .app import app, main

__all__ = ["app", "main"]
