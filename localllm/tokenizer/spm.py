"""SentencePiece ("llama") vocabularies, encoded by the `sentencepiece` package.

llama.cpp's SPM tokenizer is a BPE over UTF-8 characters: spaces become U+2581, adjacent symbols
whose concatenation is in the vocabulary merge by highest score (ties: leftmost), and a symbol
that is no token falls back to its `<0xXX>` byte tokens. sentencepiece's BPE model does the same
when given a model proto built from the GGUF arrays with:

    every token as a NORMAL piece (so merges may form any token, as in llama.cpp), except
    BYTE pieces for byte tokens and one UNKNOWN piece; trainer_spec: model_type BPE,
    byte_fallback; normalizer_spec: "identity" rules, no dummy prefix, no whitespace clean-up,
    escape_whitespaces (the leading space of add_space_prefix is added by us).

The proto is serialized here directly (no protobuf dependency), with numpy doing the per-piece
work, so a 262k vocabulary loads in a few hundred milliseconds. `reference_encode` is the slow
twin: llama.cpp's algorithm in plain Python, used by the tests to check the fast path.

ModelProto wire format used (field number, wire type):
    ModelProto: pieces 1 (len, repeated), trainer_spec 2 (len), normalizer_spec 3 (len)
    SentencePiece: piece 1 (len), score 2 (fixed32 float), type 3 (varint: 1 normal, 2 unknown, 6 byte)
    TrainerSpec: model_type 3 (=2 BPE), byte_fallback 35, unk_id 40, bos_id 41, eos_id 42, pad_id 43
    NormalizerSpec: name 1, add_dummy_prefix 3, remove_extra_whitespaces 4, escape_whitespaces 5
"""

from __future__ import annotations

import heapq

import numpy as np

from localllm.errors import TokenizerError
from localllm.tokenizer.vocab import TYPE_BYTE, TYPE_UNKNOWN, Vocab, raise_duplicate

SPACE = "\u2581"  # the escaped space, "▁"
PIECE_NORMAL, PIECE_UNKNOWN, PIECE_BYTE = 1, 2, 6
_SYNTHETIC_UNK = "\u2581\u2581<localllm:unk>\u2581\u2581"  # added when the vocabulary has no unknown token


class SpmEncoder:
    """Encodes raw text fragments with a sentencepiece processor built from the vocabulary."""

    def __init__(self, vocab: Vocab):
        import sentencepiece

        self.vocab = vocab
        self.n_vocab = vocab.n_vocab
        proto, self.synthetic_unk = build_model_proto(vocab)
        self.sp = sentencepiece.SentencePieceProcessor()
        try:
            self.sp.LoadFromSerializedProto(proto)
        except (RuntimeError, OSError) as e:
            if "already defined" in str(e):
                raise_duplicate(vocab.tokens)
            raise TokenizerError(f"sentencepiece cannot load this vocabulary: {e}") from None
        self.unk_piece_id = self.sp.unk_id()
        vocab.use_lookup(self.piece_id)

    def piece_id(self, text: str) -> int | None:
        """The id of the token whose text is exactly `text`, or None."""
        i = self.sp.piece_to_id(text)
        if i >= self.n_vocab or (i == self.unk_piece_id and self.vocab.tokens[i] != text):
            return None
        return i

    def encode(self, text: str, prev_special: bool) -> list[int]:
        """One raw fragment -> ids. A space is prepended when the vocabulary asks for it and the
        fragment starts the text or follows a special token (llama.cpp's is_prev_special)."""
        if self.vocab.add_space_prefix and prev_special:
            text = " " + text
        ids = self.sp.encode(text.replace(" ", SPACE))
        if self.synthetic_unk and self.n_vocab in ids:
            ids = self._replace_synthetic_unk(ids)
        return ids

    def _replace_synthetic_unk(self, ids: list[int]) -> list[int]:
        unk = self.vocab.ids.get("unk")
        if unk is None:
            raise TokenizerError("text has a character the vocabulary cannot encode (no byte tokens, "
                                 "no unknown token)")
        return [unk if i == self.n_vocab else i for i in ids]


def build_model_proto(vocab: Vocab) -> tuple[bytes, bool]:
    """-> (serialized ModelProto, whether a synthetic unknown piece was appended)."""
    types = vocab.types
    piece_type = np.where(types == TYPE_BYTE, PIECE_BYTE, PIECE_NORMAL).astype(np.uint8)
    unknown = np.flatnonzero(types == TYPE_UNKNOWN)
    tokens, lengths, scores = vocab.tokens, vocab.byte_lengths, vocab.scores
    synthetic = unknown.size == 0
    if synthetic:
        tokens = tokens + [_SYNTHETIC_UNK]
        lengths = np.append(lengths, len(_SYNTHETIC_UNK.encode("utf-8")))
        scores = np.append(scores, np.float32(0.0))
        piece_type = np.append(piece_type, np.uint8(PIECE_UNKNOWN))
        unk_id = len(vocab.tokens)
    else:
        unk_id = int(unknown[0])
        piece_type[unk_id] = PIECE_UNKNOWN
    pieces = _pieces_blob(tokens, lengths, scores, piece_type)
    trainer = (_tag(3, 0) + _varint(2) + _tag(35, 0) + _varint(1) + _tag(40, 0) + _varint(unk_id)
               + _tag(41, 0) + _varint(-1) + _tag(42, 0) + _varint(-1) + _tag(43, 0) + _varint(-1))
    normalizer = (_tag(1, 2) + _varint(8) + b"identity" + _tag(3, 0) + _varint(0)
                  + _tag(4, 0) + _varint(0) + _tag(5, 0) + _varint(1))
    tail = _tag(2, 2) + _varint(len(trainer)) + trainer + _tag(3, 2) + _varint(len(normalizer)) + normalizer
    return pieces + tail, synthetic


def _pieces_blob(tokens: list[str], lengths: np.ndarray, scores: np.ndarray, ptype: np.ndarray) -> bytes:
    """All `pieces` fields of the ModelProto, vectorized. Per piece i:
        0x0A varint(inner_i)  0x0A varint(len_i) utf8_i  0x15 f32_i  0x18 type_i
    with inner_i = 1 + |varint(len_i)| + len_i + 5 + 2."""
    raw = np.frombuffer("".join(tokens).encode("utf-8"), np.uint8)  # [sum(lengths)]
    lengths = np.asarray(lengths, np.int64)                          # [n]
    if raw.size != int(lengths.sum()):
        raise TokenizerError("token byte lengths do not match the token texts")
    len_bytes, len_n = _varints(lengths)
    inner = 1 + len_n + lengths + 7
    inner_bytes, inner_n = _varints(inner)
    size = 1 + inner_n + inner                                       # [n] bytes per piece field
    start = np.zeros_like(size)
    np.cumsum(size[:-1], out=start[1:])
    out = np.zeros(int(size.sum()), np.uint8)
    out[start] = 0x0A
    pos = _put_varints(out, start + 1, inner_bytes, inner_n)
    out[pos] = 0x0A
    pos = _put_varints(out, pos + 1, len_bytes, len_n)
    out[_spans_mask(out.size, pos, lengths)] = raw  # the strings fill their spans, in order
    pos = pos + lengths
    out[pos] = 0x15
    f32 = np.ascontiguousarray(scores, "<f4").view(np.uint8).reshape(-1, 4)
    for k in range(4):
        out[pos + 1 + k] = f32[:, k]
    out[pos + 5] = 0x18
    out[pos + 6] = ptype
    return out.tobytes()


def _spans_mask(size: int, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """bool [size], True on every [starts[i], starts[i] + lengths[i]) (disjoint, non-empty spans)."""
    edges = np.zeros(size + 1, np.int8)
    edges[starts] = 1
    edges[starts + lengths] -= 1
    return np.cumsum(edges[:-1], dtype=np.int8).astype(bool)


def _varints(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int64 [n] (each < 2**28) -> (uint8 [n, 4] varint bytes, int64 [n] how many are used)."""
    if values.size and int(values.max()) >= 1 << 28:
        raise TokenizerError("a token is too long to encode")
    nbytes = 1 + (values >= 1 << 7) + (values >= 1 << 14) + (values >= 1 << 21)
    out = np.zeros((values.size, 4), np.uint8)
    for k in range(4):
        more = np.where(nbytes > k + 1, 0x80, 0)
        out[:, k] = ((values >> (7 * k)) & 0x7F) | more
    return out, nbytes


def _put_varints(out: np.ndarray, pos: np.ndarray, vbytes: np.ndarray, vn: np.ndarray) -> np.ndarray:
    for k in range(4):
        used = vn > k
        out[pos[used] + k] = vbytes[used, k]
    return pos + vn


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int32 fields are 10-byte varints
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _tag(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


# ---- the slow twin --------------------------------------------------------------------------

def reference_encode(vocab: Vocab, text: str, prev_special: bool = True) -> list[int]:
    """llama.cpp's llm_tokenizer_spm_session in plain Python (for tests; slow)."""
    if vocab.add_space_prefix and prev_special:
        text = " " + text
    symbols = list(text.replace(" ", SPACE))  # one per character
    if not symbols:
        return []
    nxt = list(range(1, len(symbols))) + [-1]
    prv = list(range(-1, len(symbols) - 1))
    queue: list = []
    rev_merge: dict[str, tuple[int, int]] = {}

    def try_add(left: int, right: int) -> None:
        if left < 0 or right < 0:
            return
        merged = symbols[left] + symbols[right]
        tid = vocab.index.get(merged)
        if tid is not None:
            heapq.heappush(queue, (-float(vocab.scores[tid]), left, right, len(merged)))
            rev_merge[merged] = (left, right)

    for i in range(1, len(symbols)):
        try_add(i - 1, i)
    lengths = [len(s) for s in symbols]
    while queue:
        _, left, right, size = heapq.heappop(queue)
        if not lengths[left] or not lengths[right] or lengths[left] + lengths[right] != size:
            continue
        symbols[left] += symbols[right]
        lengths[left] += lengths[right]
        lengths[right] = 0
        nxt[left] = nxt[right]
        if nxt[right] >= 0:
            prv[nxt[right]] = left
        try_add(prv[left], left)
        try_add(left, nxt[left])
    out: list[int] = []
    i = 0
    while i != -1:
        _resegment(vocab, symbols[i], rev_merge, symbols, out)
        i = nxt[i]
    return out


def _resegment(vocab: Vocab, text: str, rev_merge: dict, symbols: list[str], out: list[int]) -> None:
    tid = vocab.index.get(text)
    if tid is not None:
        out.append(tid)
        return
    pair = rev_merge.get(text)
    if pair is None:
        for b in text.encode("utf-8"):
            out.append(_byte_token(vocab, b))
        return
    _resegment(vocab, symbols[pair[0]], rev_merge, symbols, out)
    _resegment(vocab, symbols[pair[1]], rev_merge, symbols, out)


def _byte_token(vocab: Vocab, b: int) -> int:
    tid = vocab.index.get(f"<0x{b:02X}>")
    if tid is None:
        tid = vocab.index.get(chr(b))
    if tid is None:
        raise TokenizerError(f"no byte token for 0x{b:02X}")
    return tid
