"""The vocabulary of a GGUF model, read the way llama.cpp's `llama_vocab::load` reads it.

GGUF keys used (all under `tokenizer.ggml.`):
    model                 "llama" (SentencePiece), "gpt2" (byte-level BPE), "bert" (WordPiece)
    pre                   pre-tokenizer name for gpt2 vocabularies (see pretokenize.py)
    tokens                string [n_vocab]
    scores                float32 [n_vocab] (SPM merge priority; optional)
    token_type            int32 [n_vocab]: 1 normal, 2 unknown, 3 control, 4 user-defined,
                          5 unused, 6 byte (optional: all normal)
    merges                string [n_merges] "left right", by rank (gpt2 only)
    *_token_id            bos, eos, eot, eom, unknown, seperator (sic), padding, mask, fim_*
    add_bos_token, add_eos_token, add_sep_token, add_space_prefix
    normalizer.lowercase, normalizer.strip_accents (bert)

Token types become llama.cpp's attribute bits (ATTR_*), then llama.cpp's fix-ups apply:
control-looking texts (`<|eot_id|>`, `<end_of_turn>`, ...) are forced to CONTROL and collected as
end-of-generation ids, control tokens named "unused" get ATTR_UNUSED, and a few model families
get LSTRIP/RSTRIP on their special tokens (phi-3, jina-v2, modern-bert).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from localllm.errors import TokenizerError

MODELS = ("llama", "gpt2", "bert")

# llama.cpp token attributes (bit flags of llama_token_attr)
ATTR_UNDEFINED = 0
ATTR_UNKNOWN = 1 << 0
ATTR_UNUSED = 1 << 1
ATTR_NORMAL = 1 << 2
ATTR_CONTROL = 1 << 3
ATTR_USER_DEFINED = 1 << 4
ATTR_BYTE = 1 << 5
ATTR_LSTRIP = 1 << 7
ATTR_RSTRIP = 1 << 8
ATTR_SPECIAL = ATTR_CONTROL | ATTR_UNKNOWN  # hidden by decode(skip_special=True)
ATTR_PARTITIONED = ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN  # split out before encoding

# GGUF token_type 0..6 -> attribute; anything else is UNDEFINED
_TYPE_TO_ATTR = np.array([ATTR_UNDEFINED, ATTR_NORMAL, ATTR_UNKNOWN, ATTR_CONTROL,
                          ATTR_USER_DEFINED, ATTR_UNUSED, ATTR_BYTE], np.uint16)
TYPE_UNKNOWN, TYPE_BYTE = 2, 6

# Special tokens found by their text when the file does not name them (llama.cpp's lists).
EOT_NAMES = ("<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
             "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>")
EOM_NAMES = ("<|eom_id|>",)
FIM_NAMES = {
    "fim_pre": ("<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
                "<|code_prefix|>", "<|prefix|>"),
    "fim_suf": ("<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
                "<|code_suffix|>", "<|suffix|>"),
    "fim_mid": ("<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>",
                "<|code_middle|>", "<|middle|>"),
    "fim_pad": ("<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"),
    "fim_rep": ("<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"),
    "fim_sep": ("<|file_sep|>",),
}
EOG_NAMES = ("<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
             "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
             "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
             "<｜end▁of▁sentence｜>", "[e~[")
# llama.cpp lists "</s>" for paddleocr, which also makes the ordinary "</s>" of Gemma 3 (an HTML tag)
# and Qwen (a text token) end generation; its fix (PR #21492) covers Gemma 4 only. Here "</s>" ends
# generation only where the file itself marks it as a control token.
_CONTROL_ONLY_EOG = frozenset({"</s>"})
ALWAYS_RENDERED = ("<|channel|>", "<|message|>", "<|start|>", "<|constrain|>")  # gpt-oss

# (model, default ids) as llama.cpp sets them before reading the *_token_id keys
_DEFAULT_IDS = {
    "llama": {"bos": 1, "eos": 2, "unk": 0},
    "bert": {"bos": 101, "unk": 100, "sep": 102, "pad": 0, "mask": 103},
    "gpt2": {"bos": 11, "eos": 11},
}
_ID_KEYS = {
    "bos": "bos_token_id", "eos": "eos_token_id", "eot": "eot_token_id", "eom": "eom_token_id",
    "unk": "unknown_token_id", "sep": "seperator_token_id", "pad": "padding_token_id",
    "mask": "mask_token_id", "fim_pre": "fim_pre_token_id", "fim_suf": "fim_suf_token_id",
    "fim_mid": "fim_mid_token_id", "fim_pad": "fim_pad_token_id", "fim_rep": "fim_rep_token_id",
    "fim_sep": "fim_sep_token_id",
}
_DEPRECATED_ID_KEYS = {"fim_pre": "prefix_token_id", "fim_suf": "suffix_token_id", "fim_mid": "middle_token_id"}


@dataclass
class Vocab:
    """Everything the encoders and the detokenizer need, as plain Python/numpy values."""

    model: str                      # "llama" | "gpt2" | "bert"
    pre: str                        # tokenizer.ggml.pre, "" when absent
    tokens: list[str] = field(repr=False)         # [n_vocab] token texts (empty ones renamed "[EMPTY_i]")
    byte_lengths: np.ndarray = field(repr=False)  # int64 [n_vocab] UTF-8 length of each token text
    scores: np.ndarray = field(repr=False)        # float32 [n_vocab]
    types: np.ndarray = field(repr=False)         # int32 [n_vocab] GGUF token types as stored
    attrs: np.ndarray = field(repr=False)         # uint16 [n_vocab] ATTR_* bits after llama.cpp's fix-ups
    merges: list[str] | None = field(default=None, repr=False)  # gpt2: "left right" strings, by rank
    ids: dict[str, int | None] = field(default_factory=dict)  # bos, eos, eot, eom, unk, sep, pad, mask, fim_*
    add_bos: bool = False
    add_eos: bool = False
    add_sep: bool = False
    add_space_prefix: bool = False
    lowercase: bool = True          # bert normalizer
    strip_accents: bool = True      # bert normalizer
    model_name: str = ""            # general.name
    architecture: str = ""          # general.architecture
    eog_ids: frozenset[int] = frozenset()
    _lookup: Callable[[str], int | None] | None = field(default=None, repr=False)
    _index: dict[str, int] | None = field(default=None, repr=False)

    @property
    def n_vocab(self) -> int:
        return len(self.tokens)

    def token_id(self, text: str) -> int | None:
        """The id whose text is exactly `text`, or None."""
        if self._lookup is not None:
            return self._lookup(text)
        return self.index.get(text)

    @property
    def index(self) -> dict[str, int]:
        """text -> id for the whole vocabulary (built on first use)."""
        if self._index is None:
            self._index = dict(zip(self.tokens, range(len(self.tokens)), strict=True))
            if len(self._index) != len(self.tokens):
                raise_duplicate(self.tokens)
        return self._index

    def use_lookup(self, lookup: Callable[[str], int | None]) -> None:
        """Use an encoder's own text -> id map (sentencepiece's) instead of building a dict."""
        self._lookup = lookup

    def special_entries(self) -> list[tuple[int, str, int]]:
        """(id, text, attrs) of every token split out before encoding, longest text first."""
        ids = np.flatnonzero(self.attrs & ATTR_PARTITIONED)
        order = np.argsort(-self.byte_lengths[ids], kind="stable")
        return [(int(i), self.tokens[int(i)], int(self.attrs[int(i)])) for i in ids[order]]


def read_vocab(gguf: Any) -> Vocab:
    """Read the tokenizer keys of an open GGUF file (`localllm.gguf.GGUFFile` or anything with
    `.metadata`). Special-token detection by text happens in `finalize`, once an encoder can look
    texts up."""
    meta: Mapping[str, Any] = gguf.metadata
    model = _model_name(meta)
    tokens_arr = meta.get("tokenizer.ggml.tokens")
    if tokens_arr is None or not hasattr(tokens_arr, "__len__") or isinstance(tokens_arr, str):
        raise TokenizerError("model file has no token list (tokenizer.ggml.tokens)")
    n = len(tokens_arr)
    if n == 0:
        raise TokenizerError("model file has an empty token list (tokenizer.ggml.tokens)")
    tokens, lengths = _token_texts(tokens_arr)
    types = _int_array(meta, "tokenizer.ggml.token_type", n, default=1)
    scores = _float_array(meta, "tokenizer.ggml.scores", n)
    attrs = _TYPE_TO_ATTR[np.clip(types, 0, 6)]
    attrs[(types < 0) | (types > 6)] = ATTR_UNDEFINED
    vocab = Vocab(model=model, pre=_string(meta, "tokenizer.ggml.pre"), tokens=tokens, byte_lengths=lengths,
                  scores=scores, types=types, attrs=attrs.astype(np.uint16),
                  model_name=_string(meta, "general.name"), architecture=_string(meta, "general.architecture"))
    if model == "gpt2":
        vocab.merges = _merges(meta)
    _read_flags(vocab, meta)
    _read_ids(vocab, meta)
    return vocab


def finalize(vocab: Vocab) -> None:
    """llama.cpp's fix-ups that need text lookups: special ids by name, EOG set, attributes."""
    for kind, names in (("eot", EOT_NAMES), ("eom", EOM_NAMES), *FIM_NAMES.items()):
        if vocab.ids.get(kind) is None:
            found = _first_present(vocab, names)
            if found is not None:
                vocab.ids[kind] = found
                vocab.attrs[found] |= ATTR_CONTROL
    _mark_unused(vocab)
    eog = {vocab.ids[k] for k in ("fim_pad", "fim_rep", "fim_sep") if vocab.ids.get(k) is not None}
    for name in EOG_NAMES:
        i = vocab.token_id(name)
        if name in _CONTROL_ONLY_EOG and i is not None and not vocab.attrs[i] & ATTR_CONTROL:
            continue
        if i is not None:
            eog.add(i)
            vocab.attrs[i] |= ATTR_CONTROL
    for name in ALWAYS_RENDERED:
        i = vocab.token_id(name)
        if i is not None:
            vocab.attrs[i] = ATTR_USER_DEFINED
    eog.update(vocab.ids[k] for k in ("eos", "eot", "eom") if vocab.ids.get(k) is not None)
    _eog_workarounds(vocab, eog)
    vocab.eog_ids = frozenset(eog)
    _strip_attributes(vocab)


# ---- reading keys ------------------------------------------------------------------------

def _model_name(meta: Mapping[str, Any]) -> str:
    model = meta.get("tokenizer.ggml.model")
    if model is None:
        raise TokenizerError("model file has no tokenizer (tokenizer.ggml.model is missing)")
    if model not in MODELS:
        raise TokenizerError(f"tokenizer type {model!r} is not supported (supported: {', '.join(MODELS)})")
    return model


def _token_texts(arr: Any) -> tuple[list[str], np.ndarray]:
    """-> (texts [n], UTF-8 byte lengths int64 [n]); empty texts renamed as llama.cpp does."""
    tokens = arr.tolist() if hasattr(arr, "tolist") else list(arr)
    if not isinstance(tokens[0], str) or not isinstance(tokens[-1], str):
        raise TokenizerError("tokenizer.ggml.tokens is not an array of strings")
    lengths = getattr(arr, "lengths", None)
    if lengths is None:
        lengths = np.fromiter((len(t.encode("utf-8")) for t in tokens), np.int64, len(tokens))
    lengths = np.asarray(lengths, np.int64).copy()
    for i in np.flatnonzero(lengths == 0):
        tokens[int(i)] = f"[EMPTY_{int(i)}]"
        lengths[i] = len(tokens[int(i)])
    return tokens, lengths


def _int_array(meta: Mapping[str, Any], key: str, n: int, default: int) -> np.ndarray:
    value = meta.get(key)
    if value is None:
        return np.full(n, default, np.int32)
    arr = np.asarray(value)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise TokenizerError(f"{key} must be an array of integers")
    if len(arr) < n:
        raise TokenizerError(f"{key} has {len(arr)} entries for {n} tokens")
    return arr[:n].astype(np.int32)


def _float_array(meta: Mapping[str, Any], key: str, n: int) -> np.ndarray:
    value = meta.get(key)
    if value is None:
        return np.zeros(n, np.float32)
    arr = np.asarray(value)
    if arr.ndim != 1 or arr.dtype.kind not in "iuf":
        raise TokenizerError(f"{key} must be an array of numbers")
    if len(arr) < n:
        raise TokenizerError(f"{key} has {len(arr)} entries for {n} tokens")
    return arr[:n].astype(np.float32)


def _string(meta: Mapping[str, Any], key: str) -> str:
    value = meta.get(key, "")
    return value if isinstance(value, str) else ""


def _merges(meta: Mapping[str, Any]) -> Any:
    merges = meta.get("tokenizer.ggml.merges")
    if merges is None:
        raise TokenizerError("gpt2 (BPE) vocabulary without merges (tokenizer.ggml.merges is missing)")
    if isinstance(merges, str) or not hasattr(merges, "__len__"):
        raise TokenizerError("tokenizer.ggml.merges must be an array of strings")
    return merges.tolist() if hasattr(merges, "tolist") else list(merges)  # no view of the file kept


def _flag(meta: Mapping[str, Any], key: str, default: bool) -> bool:
    value = meta.get(key)
    return bool(value) if isinstance(value, (bool, int, np.integer)) else default


def _read_flags(vocab: Vocab, meta: Mapping[str, Any]) -> None:
    """Model defaults (llama.cpp), then the add_* keys."""
    if vocab.model == "llama":
        vocab.add_bos, vocab.add_space_prefix = True, True
    elif vocab.model == "bert":
        vocab.add_bos, vocab.add_sep = True, True
    vocab.add_space_prefix = _flag(meta, "tokenizer.ggml.add_space_prefix", vocab.add_space_prefix)
    vocab.add_bos = _flag(meta, "tokenizer.ggml.add_bos_token", vocab.add_bos)
    vocab.add_eos = _flag(meta, "tokenizer.ggml.add_eos_token", vocab.add_eos)
    vocab.add_sep = _flag(meta, "tokenizer.ggml.add_sep_token", vocab.add_sep)
    vocab.lowercase = _flag(meta, "tokenizer.ggml.normalizer.lowercase", True)
    vocab.strip_accents = _flag(meta, "tokenizer.ggml.normalizer.strip_accents", vocab.lowercase)


def _read_ids(vocab: Vocab, meta: Mapping[str, Any]) -> None:
    n = vocab.n_vocab
    ids: dict[str, int | None] = {k: None for k in _ID_KEYS}
    for kind, default in _DEFAULT_IDS[vocab.model].items():
        ids[kind] = default if default < n else None
    for kind, key in (*_DEPRECATED_ID_KEYS.items(), *_ID_KEYS.items()):
        value = meta.get(f"tokenizer.ggml.{key}")
        if value is None or isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            continue
        if 0 <= int(value) < n:
            ids[kind] = int(value)
        else:
            warnings.warn(f"tokenizer.ggml.{key} = {value} is outside the vocabulary of {n} tokens; "
                          f"using {ids[kind]}", stacklevel=3)
    vocab.ids = ids


# ---- llama.cpp fix-ups --------------------------------------------------------------------

def _first_present(vocab: Vocab, names: tuple[str, ...]) -> int | None:
    for name in names:
        i = vocab.token_id(name)
        if i is not None:
            return i
    return None


def _mark_unused(vocab: Vocab) -> None:
    """Control tokens whose text contains "unused" are unused too."""
    for i in np.flatnonzero(vocab.attrs & ATTR_CONTROL):
        if "unused" in vocab.tokens[int(i)]:
            vocab.attrs[i] |= ATTR_UNUSED


def _eog_workarounds(vocab: Vocab, eog: set[int]) -> None:
    """gpt-oss / solar-open: `<|end|>` is not EOG there; gemma4: `</s>` is not."""
    texts = {vocab.tokens[i]: i for i in eog}
    if ("<|return|>" in texts and "<|call|>" in texts or "<|calls|>" in texts and "<|flush|>" in texts) \
            and "<|end|>" in texts:
        eog.discard(texts["<|end|>"])
        vocab.attrs[texts["<|end|>"]] = ATTR_USER_DEFINED
    if "<|tool_response>" in texts and "</s>" in texts:
        eog.discard(texts["</s>"])
        vocab.attrs[texts["</s>"]] = ATTR_NORMAL


def _strip_attributes(vocab: Vocab) -> None:
    """LSTRIP/RSTRIP attributes llama.cpp sets by model, tokenizer or architecture name."""
    name = vocab.model_name.lower()
    if any(p in vocab.pre for p in ("jina-v2-de", "jina-v2-es", "jina-v2-code")) or \
            any(a in vocab.architecture for a in ("nomic-bert-moe", "jina-bert-v3")):
        _set_attr(vocab, "<mask>", ATTR_LSTRIP, True)
    elif "phi-3" in name or "phi3" in name:
        vocab.attrs[np.flatnonzero(vocab.attrs & ATTR_PARTITIONED)] |= ATTR_RSTRIP
        _set_attr(vocab, "</s>", ATTR_RSTRIP, True)
        for text in ("<unk>", "<s>", "<|endoftext|>"):
            _set_attr(vocab, text, ATTR_RSTRIP, False)
    elif "modern-bert" in name:
        _set_attr(vocab, "[MASK]", ATTR_LSTRIP, True)


def _set_attr(vocab: Vocab, text: str, bit: int, on: bool) -> None:
    i = vocab.token_id(text)
    if i is not None:
        vocab.attrs[i] = (vocab.attrs[i] | bit) if on else (vocab.attrs[i] & ~np.uint16(bit))


def raise_duplicate(tokens: list[str]) -> None:
    """Raise TokenizerError naming the first token text that appears twice."""
    seen: dict[str, int] = {}
    for i, t in enumerate(tokens):
        if t in seen:
            raise TokenizerError(f"duplicate token in vocabulary: {t!r} has ids {seen[t]} and {i}")
        seen[t] = i
