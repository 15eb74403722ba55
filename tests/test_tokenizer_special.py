"""Special-token partition, vocabulary metadata handling and bad vocabularies, on small GGUF files
written by the test (an SPM vocabulary with byte fallback, in llama.cpp's token-type conventions)."""

from __future__ import annotations

import pytest
from test_tokenizer_corpus import open_tokenizer, write_gguf

from localllm.errors import TokenizerError
from localllm.tokenizer.vocab import ATTR_CONTROL, ATTR_RSTRIP

NORMAL, UNKNOWN, CONTROL, USER, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
PIECES = [("▁", -1.0), ("a", -2.0), ("b", -2.0), ("c", -2.0), ("ab", -1.5), ("▁a", -1.2), ("▁ab", -0.5),
          ("x", -3.0), ("y", -3.0), ("z", -3.0), ("abc", -0.4), ("▁abc", -0.3)]
SPECIAL = [("<ctrl>", CONTROL), ("<user>", USER), ("  ", USER), ("   ", USER), ("xab", USER), ("abc!", USER),
           ("<|eot_id|>", NORMAL), ("<|im_end|>", USER), ("<unused7>", CONTROL)]


def small_vocab(path, *, name: str = "tiny", extra: dict | None = None, with_unk: bool = True):
    tokens = ["<unk>", "<s>", "</s>"] if with_unk else ["<pad>", "<s>", "</s>"]
    types = [UNKNOWN if with_unk else CONTROL, CONTROL, CONTROL]
    scores = [0.0, 0.0, 0.0]
    for b in range(256):
        tokens.append(f"<0x{b:02X}>")
        types.append(BYTE)
        scores.append(0.0)
    for piece, score in PIECES:
        tokens.append(piece)
        types.append(NORMAL)
        scores.append(score)
    for text, kind in SPECIAL:
        tokens.append(text)
        types.append(kind)
        scores.append(0.0)
    meta = {"tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": tokens, "tokenizer.ggml.scores": scores,
            "tokenizer.ggml.token_type": types, "tokenizer.ggml.bos_token_id": 1,
            "tokenizer.ggml.eos_token_id": 2, "tokenizer.ggml.add_space_prefix": False, "general.name": name}
    if with_unk:
        meta["tokenizer.ggml.unknown_token_id"] = 0
    meta.update(extra or {})
    return write_gguf(path, meta)


@pytest.fixture(scope="module")
def vocab_path(tmp_path_factory):
    return small_vocab(tmp_path_factory.mktemp("spm") / "tiny.gguf")


@pytest.fixture(scope="module")
def tok(vocab_path):
    return open_tokenizer(vocab_path)


def ids_of(tok, *texts):
    return [tok.token_id(t) for t in texts]


def test_user_defined_tokens_always_split_control_only_when_parsing(tok):
    assert tok.fragments("ab<user>ab<ctrl>") == ["ab", *ids_of(tok, "<user>"), "ab<ctrl>"]
    assert tok.fragments("ab<user>ab<ctrl>", parse_special=True) == ["ab", *ids_of(tok, "<user>"), "ab",
                                                                    *ids_of(tok, "<ctrl>")]


def test_longer_special_tokens_are_cut_first(tok):
    three, two = ids_of(tok, "   ", "  ")
    assert tok.fragments("a     b") == ["a", three, two, "b"]  # 5 spaces: 3 then 2
    assert tok.fragments("a    b") == ["a", three, " b"]
    assert tok.fragments("abc!xab") == [*ids_of(tok, "abc!"), *ids_of(tok, "xab")]
    # "abc!" (4 characters) is cut before "xab" (3), so "xabc!" keeps its "x"
    assert tok.fragments("xabc!") == ["x", *ids_of(tok, "abc!")]


def test_byte_fallback_and_merges(tok):
    assert tok.encode("ab", add_special=False) == ids_of(tok, "ab")
    assert tok.encode("abc", add_special=False) == ids_of(tok, "abc")
    assert tok.encode(" ab", add_special=False) == ids_of(tok, "▁ab")
    assert tok.encode("é", add_special=False) == [3 + 0xC3, 3 + 0xA9]
    assert tok.decode(tok.encode("é ab", add_special=False)) == "é ab"


def test_add_space_prefix_applies_at_the_start_and_after_special_tokens(vocab_path):
    tok = open_tokenizer(vocab_path, add_space_prefix=True)
    assert tok.encode("ab", add_special=False) == ids_of(tok, "▁ab")
    ctrl = ids_of(tok, "<ctrl>")
    assert tok.encode("ab<ctrl>ab", add_special=False, parse_special=True) == [*ids_of(tok, "▁ab"), *ctrl,
                                                                               *ids_of(tok, "▁ab")]
    assert tok.decode(tok.encode("ab", add_special=False)) == "ab"  # the prefix space is removed again
    assert tok.decode(tok.encode("ab")) == "<s> ab"  # ... but not after a BOS


def test_bos_eos_flags(vocab_path):
    assert open_tokenizer(vocab_path).encode("ab")[0] == 1
    assert open_tokenizer(vocab_path, add_bos_token=False).encode("ab") == open_tokenizer(vocab_path).encode(
        "ab", add_special=False)
    with_eos = open_tokenizer(vocab_path, add_eos_token=True)
    assert with_eos.encode("ab")[-1] == 2 and with_eos.decode(with_eos.encode("ab"), skip_special=True) == "ab"


def test_control_looking_tokens_become_control_and_end_generation(tok):
    eot, im_end, unused = ids_of(tok, "<|eot_id|>", "<|im_end|>", "<unused7>")
    assert tok.eog_ids == {2, eot, im_end}
    assert tok.eot_id == eot and tok.is_control(eot) and tok.is_control(im_end)
    assert tok.fragments("a<|eot_id|>") == ["a<|eot_id|>"]  # control now: plain text unless parsed
    assert tok.fragments("a<|eot_id|>", parse_special=True) == ["a", eot]
    assert tok.vocab.attrs[unused] & ATTR_CONTROL


def test_phi3_special_tokens_eat_following_whitespace(vocab_path):
    tok = open_tokenizer(vocab_path, **{"general.name": "Phi-3-mini-4k-instruct"})
    ctrl = tok.token_id("<ctrl>")
    assert tok.vocab.attrs[ctrl] & ATTR_RSTRIP
    assert tok.fragments("<ctrl> \n ab", parse_special=True) == [ctrl, "ab"]
    assert not tok.vocab.attrs[tok.token_id("<s>")] & ATTR_RSTRIP


def test_vocabulary_without_unknown_token_still_loads(tmp_path):
    tok = open_tokenizer(small_vocab(tmp_path / "nounk.gguf", with_unk=False))
    assert tok.unk_id is None or tok.token_text(tok.unk_id) == "<pad>"
    assert tok.encode("ab é", add_special=False) == [*ids_of(tok, "ab", "▁"), 3 + 0xC3, 3 + 0xA9]


@pytest.mark.parametrize("overrides, message", [
    ({"model": None}, "no tokenizer"),
    ({"model": "t5"}, "'t5' is not supported"),
    ({"tokens": None}, "no token list"),
    ({"scores": [0.5]}, "1 entries for"),
    ({"token_type": ["x"]}, "array of integers"),
])
def test_bad_vocabulary_metadata(vocab_path, overrides, message):
    with pytest.raises(TokenizerError, match=message):
        open_tokenizer(vocab_path, **overrides)


def test_duplicate_tokens_are_an_error(vocab_path):
    from localllm.gguf import open_gguf

    tokens = open_gguf(vocab_path).get("tokenizer.ggml.tokens").tolist()
    tokens[-1] = "ab"
    with pytest.raises(TokenizerError, match="duplicate token"):
        open_tokenizer(vocab_path, tokens=tokens)


def test_out_of_range_special_id_warns_and_keeps_default(vocab_path):
    with pytest.warns(UserWarning, match="outside the vocabulary"):
        tok = open_tokenizer(vocab_path, bos_token_id=10 ** 6)
    assert tok.bos_id == 1
