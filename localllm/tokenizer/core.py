"""`Tokenizer`: text <-> token ids for a GGUF model, with llama.cpp's semantics.

    with open_gguf(path) as f:
        tok = Tokenizer.from_gguf(f)
    ids = tok.encode("Hello world")                 # [2, 9259, 1902] on the default model
    tok.decode(ids)                                 # "<bos>Hello world"
    tok.decode(ids, skip_special=True)              # "Hello world"

encode(text, add_special, parse_special) is llama_tokenize: special-token partition
(special.py), then each raw fragment through the model's encoder (SPM: spm.py, BPE: bpe.py,
WordPiece: wpm.py), with BOS/EOS/SEP added when `add_special` and the vocabulary asks for them.
"""

from __future__ import annotations

from typing import Any, Iterable

from localllm.errors import TokenizerError
from localllm.tokenizer.detok import Pieces, StreamingDetokenizer, detokenize
from localllm.tokenizer.pretokenize import pre_spec
from localllm.tokenizer.special import SpecialSplitter
from localllm.tokenizer.vocab import ATTR_SPECIAL, Vocab, finalize, read_vocab

KINDS = {"llama": "spm", "gpt2": "bpe", "bert": "wpm"}


class Tokenizer:
    """A model's tokenizer. Build it with `Tokenizer.from_gguf(open_gguf(path))`."""

    def __init__(self, vocab: Vocab, encoder: Any, clean_spaces: bool):
        self.vocab = vocab
        self._encoder = encoder  # .encode(fragment: str, prev_special: bool) -> list[int]
        self._splitter = SpecialSplitter(vocab.special_entries())
        self._pieces = Pieces(vocab)
        self.clean_spaces = clean_spaces

    @classmethod
    def from_gguf(cls, gguf: Any) -> "Tokenizer":
        """From an open GGUF file (or anything with a `.metadata` mapping of GGUF keys)."""
        vocab = read_vocab(gguf)
        clean_spaces = False
        if vocab.model == "llama":
            from localllm.tokenizer.spm import SpmEncoder

            encoder: Any = SpmEncoder(vocab)
        elif vocab.model == "gpt2":
            from localllm.tokenizer.bpe import BpeEncoder

            spec = pre_spec(vocab.pre)
            _apply_pre_defaults(vocab, spec, gguf.metadata)
            encoder, clean_spaces = BpeEncoder(vocab, spec), spec.clean_spaces
        else:
            from localllm.tokenizer.wpm import WpmEncoder

            encoder, clean_spaces = WpmEncoder(vocab), True
        finalize(vocab)
        _check_special_ids(vocab)
        return cls(vocab, encoder, clean_spaces)

    # ---- facts ----------------------------------------------------------------------------

    @property
    def kind(self) -> str:
        """"spm", "bpe" or "wpm"."""
        return KINDS[self.vocab.model]

    @property
    def vocab_size(self) -> int:
        return self.vocab.n_vocab

    @property
    def bos_id(self) -> int | None:
        return self.vocab.ids.get("bos")

    @property
    def eos_id(self) -> int | None:
        return self.vocab.ids.get("eos")

    @property
    def eot_id(self) -> int | None:
        return self.vocab.ids.get("eot")

    @property
    def unk_id(self) -> int | None:
        return self.vocab.ids.get("unk")

    @property
    def eog_ids(self) -> frozenset[int]:
        """Every end-of-generation id: EOS, EOT/EOM, and tokens such as `<end_of_turn>`,
        `<|eot_id|>`, `<|im_end|>`, `<|end|>` found in the vocabulary (llama.cpp's list)."""
        return self.vocab.eog_ids

    @property
    def add_bos(self) -> bool:
        return self.vocab.add_bos

    @property
    def add_eos(self) -> bool:
        return self.vocab.add_eos

    def is_eog(self, token_id: int) -> bool:
        return token_id in self.vocab.eog_ids

    def is_control(self, token_id: int) -> bool:
        """Control or unknown: hidden when decoding with skip_special."""
        self._pieces.piece(token_id)  # range check
        return bool(self.vocab.attrs[token_id] & ATTR_SPECIAL)

    def token_id(self, text: str) -> int | None:
        """The id of the token whose text is exactly `text` (e.g. "<end_of_turn>"), or None."""
        return self.vocab.token_id(text)

    def token_text(self, token_id: int) -> str:
        """The token's text as stored in the vocabulary (e.g. "▁Hello", "<0x0A>", "Ġthe")."""
        self._pieces.piece(token_id)  # range check
        return self.vocab.tokens[token_id]

    def token_to_piece(self, token_id: int, special: bool = True) -> bytes:
        """The bytes this token stands for; control tokens give b"" unless `special`."""
        return self._pieces.piece(int(token_id), special)

    # ---- encode / decode ------------------------------------------------------------------

    def encode(self, text: str, add_special: bool = True, parse_special: bool = False) -> list[int]:
        """llama_tokenize. add_special: BOS (and EOS/SEP) as the vocabulary asks; parse_special:
        control-token texts such as "<start_of_turn>" become their ids instead of plain text."""
        _check_text(text)
        vocab, out = self.vocab, []
        if add_special and vocab.add_bos:
            out.append(vocab.ids["bos"])
        prev_special = True
        for fragment in self._splitter.split(text, parse_special):
            if type(fragment) is int:
                out.append(fragment)
                prev_special = True
            else:
                out.extend(self._encoder.encode(fragment, prev_special))
                prev_special = False
        if add_special:
            if vocab.add_eos:
                out.append(vocab.ids["eos"])
            if vocab.add_sep and vocab.model == "bert":  # llama.cpp appends SEP for WordPiece only
                out.append(vocab.ids["sep"])
        return out

    def fragments(self, text: str, parse_special: bool = False) -> list:
        """The special-token partition of `text`: raw str pieces and int ids of special tokens."""
        _check_text(text)
        return self._splitter.split(text, parse_special)

    def encode_chat(self, prompt: str) -> list[int]:
        """Tokenize a rendered chat prompt: special tokens parsed, BOS added only when the
        vocabulary wants one and the prompt does not already begin with it, no EOS."""
        ids = self.encode(prompt, add_special=False, parse_special=True)
        bos = self.bos_id
        if self.vocab.add_bos and bos is not None and (not ids or ids[0] != bos):
            ids.insert(0, bos)
        return ids

    def decode(self, ids: Iterable[int], skip_special: bool = False) -> str:
        """llama_detokenize. skip_special drops control tokens (and a leading BOS / trailing EOS);
        otherwise they appear as their text."""
        return detokenize(self._pieces, list(ids), remove_special=skip_special,
                          unparse_special=not skip_special, clean_spaces=self.clean_spaces)

    def streaming_detokenizer(self, skip_special: bool = True) -> StreamingDetokenizer:
        """A detokenizer for generated ids, one at a time (see detok.StreamingDetokenizer)."""
        return StreamingDetokenizer(self._pieces, skip_special)

    def __repr__(self) -> str:
        return (f"Tokenizer({self.kind}, {self.vocab_size} tokens, bos={self.bos_id}, eos={self.eos_id}, "
                f"eog={sorted(self.eog_ids)})")


def _apply_pre_defaults(vocab: Vocab, spec: Any, meta: Any) -> None:
    """Pre-tokenizer defaults that the add_* keys may still override (llama.cpp's order)."""
    if spec.add_bos and "tokenizer.ggml.add_bos_token" not in meta:
        vocab.add_bos = True
    if spec.add_sep and "tokenizer.ggml.add_sep_token" not in meta:
        vocab.add_sep = True
    if not spec.has_bos:
        vocab.ids["bos"] = None


def _check_special_ids(vocab: Vocab) -> None:
    for flag, kind in (("add_bos", "bos"), ("add_eos", "eos"), ("add_sep", "sep")):
        if getattr(vocab, flag) and vocab.ids.get(kind) is None:
            raise TokenizerError(f"tokenizer.ggml.{flag}_token is true but the vocabulary has no {kind} token")


def _check_text(text: str) -> None:
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise TokenizerError(f"text is not valid Unicode: unpaired surrogate {text[e.start]!r} at "
                             f"index {e.start}") from None


__all__ = ["Tokenizer"]
