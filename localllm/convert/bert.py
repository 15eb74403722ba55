"""BERT encoders (BertModel, BertForMaskedLM; sentence-transformers folders of them), written as
llama.cpp's convert_hf_to_gguf.py writes `bert`:

- metadata: block_count, context_length, embedding_length, feed_forward_length, head_count,
  attention.layer_norm_epsilon, attention.causal = false, token_type_count (type_vocab_size) and,
  for a sentence-transformers folder, pooling_type from the Pooling module's config
  (modules.json -> e.g. 1_Pooling/config.json: mean, cls or last token);
- tensors: a "bert." prefix dropped, old `.gamma`/`.beta` LayerNorm names renamed, the pooler, the
  masked-LM head (cls.predictions), the next-sentence head and position_ids dropped;
  position_embd and token_types stay F32 (encode.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import gguf

from ..errors import ConvertError

if TYPE_CHECKING:
    from .archs import Params

SKIPPED = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")
SKIPPED_PREFIXES = ("cls.predictions", "cls.seq_relationship")
POOLING_MODULE = "sentence_transformers.models.Pooling"
POOLING_MODES = (("pooling_mode_mean_tokens", gguf.PoolingType.MEAN),
                 ("pooling_mode_cls_token", gguf.PoolingType.CLS),
                 ("pooling_mode_lasttoken", gguf.PoolingType.LAST))


def bert_tensor_name(name: str) -> str | None:
    """The HF name llama.cpp maps for a BERT tensor, or None to skip it."""
    name = name.removeprefix("bert.")
    if name.endswith(".gamma"):
        name = name[: -len(".gamma")] + ".weight"
    elif name.endswith(".beta"):
        name = name[: -len(".beta")] + ".bias"
    if name in SKIPPED or name.startswith(SKIPPED_PREFIXES):
        return None
    return name


def write_bert(p: Params, w: gguf.GGUFWriter) -> None:
    w.add_block_count(int(p.find("num_hidden_layers")))
    w.add_context_length(int(p.find("max_position_embeddings")))
    w.add_embedding_length(int(p.find("hidden_size")))
    w.add_feed_forward_length(int(p.find("intermediate_size")))
    w.add_head_count(p.n_head)
    w.add_layer_norm_eps(float(p.find("layer_norm_eps", "layer_norm_epsilon", default=1e-12)))
    w.add_causal_attention(False)
    w.add_token_type_count(int(p.find("type_vocab_size", default=1)))
    act = p.config.get("hidden_act", "gelu")
    if act not in ("gelu", "gelu_python"):
        raise ConvertError(f"bert with hidden_act {act!r} cannot be converted (localllm's bert uses the erf GELU)")
    if p.config.get("position_embedding_type", "absolute") != "absolute":
        raise ConvertError(f"bert position_embedding_type {p.config['position_embedding_type']!r} is not supported "
                           "(only absolute)")


def pooling_type(hf_dir: Path) -> gguf.PoolingType | None:
    """The pooling of a sentence-transformers folder (None when it is a plain checkpoint)."""
    modules_file = hf_dir / "modules.json"
    if not modules_file.is_file():
        return None
    try:
        modules = json.loads(modules_file.read_text(encoding="utf-8"))
        path = next((m["path"] for m in modules if m.get("type") == POOLING_MODULE), None)
        if path is None:
            return None
        config = json.loads((hf_dir / path / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, TypeError, KeyError, AttributeError) as e:
        raise ConvertError(f"{hf_dir}: cannot read the sentence-transformers pooling configuration: {e}") from None
    for key, kind in POOLING_MODES:
        if config.get(key):
            return kind
    raise ConvertError(f"{hf_dir / path / 'config.json'}: only mean, CLS and last-token pooling can be converted")


def write_pooling(hf_dir: Path, w: gguf.GGUFWriter) -> None:
    kind = pooling_type(hf_dir)
    if kind is not None:
        w.add_pooling_type(kind)
