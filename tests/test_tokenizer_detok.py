"""Detokenization: pieces, llama.cpp's space clean-up, and the streaming detokenizer's UTF-8
handling, on the small SPM vocabulary of test_tokenizer_special."""

from __future__ import annotations

import pytest
from test_tokenizer_corpus import open_tokenizer
from test_tokenizer_special import small_vocab

from localllm.tokenizer.detok import clean_up_spaces


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    return open_tokenizer(small_vocab(tmp_path_factory.mktemp("detok") / "tiny.gguf"))


def byte(b: int) -> int:
    return 3 + b  # <0x00> is id 3 in the small vocabulary


def test_incomplete_character_waits_for_its_last_byte(tok):
    detok = tok.streaming_detokenizer()
    euro = "€".encode()  # 3 bytes
    assert [detok.add(byte(b)) for b in euro] == ["", "", "€"]
    assert detok.flush() == ""


def test_four_byte_character_across_four_tokens(tok):
    detok = tok.streaming_detokenizer()
    out = [detok.add(byte(b)) for b in "😀".encode()]
    assert out == ["", "", "", "😀"]


def test_invalid_sequences_become_replacement_characters(tok):
    detok = tok.streaming_detokenizer()
    assert detok.add(byte(0xC3)) == ""
    assert detok.add(tok.token_id("ab")) == "\ufffdab"  # a lead byte followed by ASCII
    assert detok.add(byte(0xFF)) == "\ufffd"  # never valid in UTF-8


def test_flush_reports_a_truncated_character(tok):
    detok = tok.streaming_detokenizer()
    assert detok.add(byte(0xE2)) + detok.add(byte(0x82)) == ""
    assert detok.flush() == "\ufffd"
    assert detok.add(tok.token_id("ab")) == "ab"  # usable again after a flush


def test_streaming_equals_decode(tok):
    text = "ab é € 😀 abc  ab"
    ids = tok.encode(text, add_special=False)
    detok = tok.streaming_detokenizer()
    assert "".join(detok.add(t) for t in ids) + detok.flush() == tok.decode(ids) == text


def test_control_tokens_in_stream_and_decode(tok):
    ctrl = tok.token_id("<ctrl>")
    ids = [1, tok.token_id("ab"), ctrl, tok.token_id("<user>"), 2]
    assert tok.decode(ids) == "<s>ab<ctrl><user></s>"
    assert tok.decode(ids, skip_special=True) == "ab<user>"
    assert "".join(map(tok.streaming_detokenizer().add, ids)) == "ab<user>"


@pytest.mark.parametrize("raw, clean", [
    (b"Hello , world .", b"Hello, world."),
    (b"what ? no !", b"what? no!"),
    (b"it ' s", b"it's"),
    (b"John 's dog", b"John's dog"),
    (b"we 're here , they 've gone", b"we're here, they've gone"),
    (b"don 't", b"don 't"),  # llama.cpp keeps " 't" and " 'd"
    (b"", b""),
    (b" .", b"."),
])
def test_clean_up_spaces(raw, clean):
    assert clean_up_spaces(raw) == clean


def test_streaming_detokenizer_built_from_a_tokenizer(tok):
    from localllm.tokenizer import StreamingDetokenizer

    detok = StreamingDetokenizer(tok, skip_special=False)
    assert [detok.add(t) for t in (1, byte(0xC3), byte(0xA9))] == ["<s>", "", "é"]
