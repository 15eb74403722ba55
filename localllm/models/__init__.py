"""Architecture registry: `general.architecture` -> the module that reads its hparams and builds
its program. Adding an architecture = one module here + its entry + its test."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import InputError

REGISTRY = {
    "bert": "bert",
    "gemma3": "gemma3",
    "llama": "llama",
    "qwen2": "qwen2",
    "qwen3": "qwen3",
}
ALIASES = {"mistral": "llama"}  # files whose tensors and keys are the llama ones under another name


class UnsupportedArchitectureError(InputError):
    """The file's general.architecture has no module here."""


def architecture_module(arch: str) -> ModuleType:
    name = REGISTRY.get(ALIASES.get(arch, arch))
    if name is None:
        supported = ", ".join(sorted([*REGISTRY, *ALIASES]))
        raise UnsupportedArchitectureError(f"architecture {arch!r} is not supported (supported: {supported})")
    return importlib.import_module(f"{__name__}.{name}")
