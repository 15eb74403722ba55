"""Qwen3 (dense): the llama block with per-head RMS norm of q and k before NeoX RoPE."""

from __future__ import annotations

from functools import partial

from .base import ROPE_NEOX
from .llama import Variant, build as llama_build, hparams as llama_hparams

VARIANT = Variant("qwen3", ROPE_NEOX, qk_norm=True)
hparams = partial(llama_hparams, variant=VARIANT)
build = partial(llama_build, variant=VARIANT)
