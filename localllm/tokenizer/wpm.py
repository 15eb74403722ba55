"""WordPiece ("bert" vocabularies, embedding models), with HF tokenizers' BERT semantics.

GGUF stores a BERT vocabulary in llama.cpp's "phantom space" form: a word-initial piece `hello`
is stored as `▁hello`, a continuation piece `##lo` as `lo`, and `[CLS]`-style tokens as they are.

Normalization (BertNormalizer, lowercase=True by default):
    drop U+0000, U+FFFD and control/format/unassigned characters (keeping \\t \\n \\r), map every
    whitespace to " ", put spaces around CJK ideographs, strip accents (NFD, drop Mn) when asked,
    lowercase character by character.
Pre-tokenization (BertPreTokenizer): split on whitespace; every punctuation character (Unicode P*
or ASCII punctuation/symbols) is a word of its own.
WordPiece: greedy longest match from the left, continuation pieces after the first; a word with
an unmatched remainder, or longer than 100 characters, becomes `[UNK]` as a whole.
"""

from __future__ import annotations

import functools
import unicodedata

from localllm.tokenizer.pretokenize import WHITE_SPACE
from localllm.tokenizer.vocab import Vocab

PHANTOM = "\u2581"
MAX_WORD_CHARS = 100  # HF's max_input_chars_per_word
_CJK = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
        (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))
_ASCII_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_SPACES = frozenset(chr(c) for lo, hi in WHITE_SPACE for c in range(lo, hi + 1))


class WpmEncoder:
    """Encodes raw text fragments into WordPiece ids."""

    def __init__(self, vocab: Vocab):
        self.vocab = vocab
        self.token_to_id = vocab.index
        self.unk_id = vocab.ids.get("unk")
        self.max_len = max(len(t) for t in vocab.tokens)
        self._cache: dict[str, list[int]] = {}

    def encode(self, text: str, prev_special: bool = False) -> list[int]:
        out: list[int] = []
        for word in split_words(normalize(text, self.vocab.lowercase, self.vocab.strip_accents)):
            ids = self._cache.get(word)
            if ids is None:
                ids = self._word_ids(word)
                if len(self._cache) >= 1 << 16:
                    self._cache.clear()
                self._cache[word] = ids
            out.extend(ids)
        return out

    def _word_ids(self, word: str) -> list[int]:
        unk = [] if self.unk_id is None else [self.unk_id]
        if len(word) > MAX_WORD_CHARS:
            return unk
        ids: list[int] = []
        start, lookup = 0, self.token_to_id
        while start < len(word):
            end = min(len(word), start + self.max_len)
            prefix = PHANTOM if start == 0 else ""
            while end > start and (prefix + word[start:end]) not in lookup:
                end -= 1
            if end == start:
                return unk
            ids.append(lookup[prefix + word[start:end]])
            start = end
        return ids


def normalize(text: str, lowercase: bool, strip_accents: bool) -> str:
    s = "".join(map(_normalized_char, text))
    if strip_accents:
        s = "".join(c for c in unicodedata.normalize("NFD", s) if unicodedata.category(c) != "Mn")
    if lowercase:
        s = "".join(map(str.lower, s))  # per character: no final-sigma rule, as HF does
    return s


@functools.lru_cache(maxsize=1 << 16)
def _normalized_char(ch: str) -> str:
    """What BertNormalizer makes of one character before accents and case: "" (dropped), " "
    (whitespace), " ch " (a CJK ideograph) or ch. Cached: texts reuse few distinct characters."""
    cp = ord(ch)
    if cp == 0 or cp == 0xFFFD or _is_control(ch):
        return ""
    if ch in _SPACES:
        return " "
    return f" {ch} " if _is_cjk(cp) else ch


def split_words(text: str) -> list[str]:
    """Space-separated words of a normalized text (all whitespace is " " by then), with every
    punctuation character a word of its own."""
    words: list[str] = []
    for chunk in text.split(" "):
        current: list[str] = []
        for ch in chunk:
            if _is_punct(ch):
                if current:
                    words.append("".join(current))
                    current = []
                words.append(ch)
            else:
                current.append(ch)
        if current:
            words.append("".join(current))
    return words


def _is_control(ch: str) -> bool:
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch) in ("Cc", "Cf", "Cn", "Co", "Cs")


def _is_cjk(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in _CJK)


@functools.lru_cache(maxsize=1 << 16)
def _is_punct(ch: str) -> bool:
    return ch in _ASCII_PUNCT or unicodedata.category(ch)[0] == "P"
