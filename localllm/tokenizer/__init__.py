"""Tokenizers straight from GGUF metadata, with llama.cpp's semantics.

    from localllm.gguf import open_gguf
    from localllm.tokenizer import Tokenizer

    with open_gguf(path) as f:
        tok = Tokenizer.from_gguf(f)
    ids = tok.encode("Hello world")            # BOS added as the model asks
    text = tok.decode(ids, skip_special=True)
    detok = tok.streaming_detokenizer()        # for generated ids, one at a time

Modules: vocab (GGUF keys, token attributes, special ids, EOG set), special (special-token
partition), spm (SentencePiece via the `sentencepiece` package), bpe + pretokenize (byte-level
BPE), wpm (WordPiece), detok (pieces, detokenize, streaming).
"""

from __future__ import annotations

from localllm.tokenizer.core import Tokenizer
from localllm.tokenizer.detok import StreamingDetokenizer

__all__ = ["Tokenizer", "StreamingDetokenizer"]
