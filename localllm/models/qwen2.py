"""Qwen2 / Qwen2.5: the llama block with biases on q, k, v and NeoX RoPE."""

from __future__ import annotations

from functools import partial

from .base import ROPE_NEOX
from .llama import Variant, build as llama_build, hparams as llama_hparams

VARIANT = Variant("qwen2", ROPE_NEOX, qkv_bias=True)
hparams = partial(llama_hparams, variant=VARIANT)
build = partial(llama_build, variant=VARIANT)
