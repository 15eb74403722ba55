"""localllm: run GGUF language models locally on the CPU.

Public API: `Llama` (generation, chat, tokenization; llama-cpp-python's names), `inspect` (facts
about a model file), the typed errors, `__version__`.
Heavy modules load on first use, so `import localllm` stays fast.
"""

from __future__ import annotations

import os

from . import errors
from .errors import (
    ContextLengthExceeded, GGUFError, InputError, ISAError, LocalLLMError, ModelNotFoundError, NativeError,
    UnsupportedQuantError, UsageError,
)

__version__ = "0.1.0"
__all__ = [
    "Llama", "inspect", "errors", "__version__", "LocalLLMError", "InputError", "UsageError", "GGUFError",
    "UnsupportedQuantError", "ModelNotFoundError", "ISAError", "NativeError", "ContextLengthExceeded",
]


def inspect(model: str | os.PathLike | None = None):
    """A `ModelInfo` describing a GGUF file (the default model when `model` is None)."""
    from .model_info import inspect as _inspect

    return _inspect(model)


def __getattr__(name: str):
    if name == "Llama":  # loaded on first use: the native core and numpy stay out of `import localllm`
        from .api import Llama

        return Llama
    raise AttributeError(f"module 'localllm' has no attribute {name!r}")
