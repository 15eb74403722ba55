"""Token ids back to text, as llama.cpp's token_to_piece / llama_detokenize do it.

A token's piece is bytes, not text: a byte-fallback token (`<0xE2>`) or a byte-level BPE token
can hold part of a UTF-8 character. Pieces by token attribute:
    control / unknown   their text, or nothing when special tokens are skipped
    user-defined        their text, always
    normal              SPM and WordPiece: "▁" -> " "; byte-level BPE: byte alphabet -> bytes
    byte                the byte of `<0xXX>`
    anything else       nothing

`StreamingDetokenizer` turns a stream of ids into text pieces that never end inside a UTF-8
character: incomplete bytes wait for the next token; bytes that cannot start or continue a
character come out as U+FFFD.
"""

from __future__ import annotations

import codecs
from typing import Any

from localllm.errors import TokenIdError
from localllm.tokenizer.bpe import byte_decoder
from localllm.tokenizer.vocab import (
    ATTR_BYTE,
    ATTR_NORMAL,
    ATTR_SPECIAL,
    ATTR_USER_DEFINED,
    Vocab,
)

_APOSTROPHE, _SPACE = ord("'"), ord(" ")


class Pieces:
    """token id -> piece bytes, computed on first use and remembered."""

    def __init__(self, vocab: Vocab):
        self.vocab = vocab
        self._cache: dict[int, bytes] = {}
        self._attrs = vocab.attrs.tolist()  # [n_vocab] ints, faster to index than numpy

    def piece(self, token_id: int, special: bool = True) -> bytes:
        """The bytes of one token; control/unknown tokens give b"" unless `special`."""
        if not 0 <= token_id < len(self._attrs):
            raise TokenIdError(f"token id {token_id} is outside the vocabulary (0..{len(self._attrs) - 1})")
        if not special and self._attrs[token_id] & ATTR_SPECIAL:
            return b""
        data = self._cache.get(token_id)
        if data is None:
            data = self._cache[token_id] = self._compute(token_id)
        return data

    def _compute(self, token_id: int) -> bytes:
        attrs, text = self._attrs[token_id], self.vocab.tokens[token_id]
        if attrs & (ATTR_SPECIAL | ATTR_USER_DEFINED):
            return text.encode("utf-8")
        if attrs & ATTR_NORMAL:
            if self.vocab.model == "gpt2":
                return _byte_level_bytes(text)
            return text.replace("\u2581", " ").encode("utf-8")
        if attrs & ATTR_BYTE:
            try:
                return bytes([int(text[3:5], 16)])
            except ValueError:
                return b""
        return b""


def _byte_level_bytes(text: str) -> bytes:
    """A byte-level BPE token's text -> its bytes (llama.cpp marks characters outside the alphabet)."""
    table = byte_decoder()
    out = bytearray()
    for ch in text:
        b = table.get(ch)
        if b is not None:
            out.append(b)
        else:
            out += b"[UNK_BYTE_0x" + ch.encode("utf-8").hex().encode() + text.encode("utf-8") + b"]"
    return bytes(out)


def detokenize(pieces: Pieces, ids: list[int], remove_special: bool, unparse_special: bool,
               clean_spaces: bool) -> str:
    """llama_detokenize: BOS/EOS dropped with remove_special, one leading space removed for
    add_space_prefix vocabularies (unless BOS was dropped), optional clean-up of spaces."""
    vocab = pieces.vocab
    ids = list(ids)
    remove_space = vocab.add_space_prefix
    if remove_special and vocab.add_bos and ids and ids[0] == vocab.ids.get("bos"):
        remove_space = False
        ids = ids[1:]
    if remove_special and vocab.add_eos and ids and ids[-1] == vocab.ids.get("eos"):
        ids = ids[:-1]
    parts = [pieces.piece(int(t), unparse_special) for t in ids]
    if remove_space and parts and parts[0].startswith(b" "):
        parts[0] = parts[0][1:]
    data = b"".join(parts)
    if clean_spaces:
        data = clean_up_spaces(data)
    return data.decode("utf-8", "replace")


def clean_up_spaces(data: bytes) -> bytes:
    """llama.cpp's three passes: " ?" " !" " ." " ," -> no space; " ' " -> "'"; " 's" " 'm" " 're"
    " 've" -> no space."""
    buf = bytearray(data)
    if any(p in data for p in (b" ?", b" !", b" .", b" ,")):
        buf = _drop_space_before_punct(buf)
    if b" ' " in buf:
        buf = _join_lone_apostrophe(buf)
    if b" '" in buf:
        buf = _join_contractions(buf)
    return bytes(buf)


def _drop_space_before_punct(text: bytearray) -> bytearray:
    total = 1 if text else 0
    for i in range(1, len(text)):
        x = text[i]
        if text[i - 1] == _SPACE and x in b"?!.,":
            total -= 1
        text[total] = x
        total += 1
    return text[:total]


def _join_lone_apostrophe(text: bytearray) -> bytearray:
    n, total, i = len(text), 1 if text else 0, 1
    while i < n:
        x = text[i]
        if x == _APOSTROPHE and i + 1 < n and text[i - 1] == _SPACE and text[i + 1] == _SPACE:
            total -= 1
            i += 1
            text[i] = 0
        text[total] = x
        total += 1
        i += 1
    return text[:total]


def _join_contractions(text: bytearray) -> bytearray:
    n, total = len(text), 1 if text else 0
    for i in range(1, n):
        x = text[i]
        if text[i - 1] == _SPACE and x == _APOSTROPHE and i + 1 < n:
            x1 = text[i + 1]
            x2 = text[i + 2] if i + 2 < n else None
            if x1 in b"sm" or (x2 is not None and (x1, x2) in ((ord("r"), ord("e")), (ord("v"), ord("e")))):
                total -= 1
        text[total] = x
        total += 1
    return text[:total]


class StreamingDetokenizer:
    """Feed generated ids one at a time; get text that never ends inside a UTF-8 character.

        detok = StreamingDetokenizer(tokenizer)     # or tokenizer.streaming_detokenizer()
        for tok in generated: print(detok.add(tok), end="")
        print(detok.flush())

    `source`: a Tokenizer (anything with token_to_piece(id, special)) or a Pieces table.
    Control tokens (`<end_of_turn>`...) give no text unless skip_special is False.
    """

    def __init__(self, source: Any, skip_special: bool = True):
        self._piece = source.token_to_piece if hasattr(source, "token_to_piece") else source.piece
        self._special = not skip_special
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def add(self, token_id: int) -> str:
        """The text completed by this token (may be "" while a character is incomplete)."""
        return self._decoder.decode(self._piece(int(token_id), self._special))

    def flush(self) -> str:
        """Whatever is pending: an incomplete character at the end becomes U+FFFD."""
        text = self._decoder.decode(b"", final=True)
        self._decoder.reset()
        return text

    def reset(self) -> None:
        self._decoder.reset()
