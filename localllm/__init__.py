"""localllm: run GGUF language models locally on the CPU.

Public API: `inspect` (facts about a model file), the typed errors, `__version__`.
Heavy modules load on first use, so `import localllm` stays fast.
"""

from __future__ import annotations

import os

from . import errors
from .errors import (
    GGUFError, InputError, ISAError, LocalLLMError, ModelNotFoundError, NativeError,
    UnsupportedQuantError, UsageError,
)

__version__ = "0.1.0"
__all__ = [
    "inspect", "errors", "__version__", "LocalLLMError", "InputError", "UsageError", "GGUFError",
    "UnsupportedQuantError", "ModelNotFoundError", "ISAError", "NativeError",
]


def inspect(model: str | os.PathLike | None = None):
    """A `ModelInfo` describing a GGUF file (the default model when `model` is None)."""
    from .model_info import inspect as _inspect

    return _inspect(model)
