"""The default model's tokenizer (gemma-3-270m, SentencePiece vocabulary of 262144 tokens) against
llama.cpp's own tokenization in ../shared/reference/gemma3-270m, plus the SPM slow twin."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_tokenizer_corpus import CORPUS

from localllm.errors import TokenIdError, TokenizerError
from localllm.gguf import open_gguf
from localllm.tokenizer import Tokenizer
from localllm.tokenizer.spm import reference_encode

pytestmark = pytest.mark.slow

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "gemma3-270m"
CASES = json.loads((REFERENCE / "tokens.json").read_text(encoding="utf-8"))["cases"]


@pytest.fixture(scope="module")
def gemma(default_model_path) -> Tokenizer:
    with open_gguf(default_model_path) as f:
        return Tokenizer.from_gguf(f)


def test_the_reference_has_98_cases_with_both_special_modes():
    assert len(CASES) == 98
    assert {c["parse_special"] for c in CASES} == {True, False}


@pytest.mark.parametrize("case", CASES, ids=[f"{i}-{'special' if c['parse_special'] else 'plain'}"
                                             for i, c in enumerate(CASES)])
def test_reference_tokenization(gemma, case):
    assert gemma.encode(case["text"], case["add_special"], case["parse_special"]) == case["tokens"]


def test_logits_and_greedy_prompts_tokenize_as_llama_cpp(gemma):
    prompts = json.loads((REFERENCE / "logits_prompts.json").read_text(encoding="utf-8"))
    with np.load(REFERENCE / "logits.npz") as ref:
        for i, prompt in enumerate(prompts):
            assert gemma.encode(prompt, True, True) == ref[f"p{i}_tokens"].tolist()
    for case in json.loads((REFERENCE / "greedy.json").read_text(encoding="utf-8"))["cases"]:
        assert gemma.encode(case["prompt"], True, True) == case["prompt_tokens"]


def test_perplexity_text_gives_llama_cpps_chunk_counts(gemma):
    ids = gemma.encode((REFERENCE / "perplexity_text.txt").read_text(encoding="utf-8"))
    runs = json.loads((REFERENCE / "perplexity.json").read_text(encoding="utf-8"))["runs"]
    assert ids[0] == gemma.bos_id
    for run in runs:
        assert len(ids) // run["n_ctx"] == run["n_chunks"]


def test_vocabulary_facts(gemma):
    assert (gemma.kind, gemma.vocab_size, gemma.bos_id, gemma.eos_id, gemma.unk_id) == ("spm", 262144, 2, 1, 3)
    assert gemma.add_bos and not gemma.add_eos
    assert gemma.eog_ids == {1, 106}  # <eos>, <end_of_turn>; the HTML tag "</s>" (212) is not one
    assert gemma.eot_id == 106 and gemma.is_eog(106) and not gemma.is_eog(212)
    assert gemma.token_text(106) == "<end_of_turn>" and gemma.token_id("<start_of_turn>") == 105
    assert gemma.token_id("no such token at all") is None


def test_decode_round_trips_the_reference_texts(gemma):
    for case in CASES:
        ids = gemma.encode(case["text"], True, case["parse_special"])
        assert gemma.decode(ids) == "<bos>" + case["text"]
        if not case["parse_special"]:
            assert gemma.decode(ids, skip_special=True) == case["text"]


def test_pieces(gemma):
    assert gemma.token_to_piece(9259) == b"Hello" and gemma.token_to_piece(26352) == b" Hello"
    assert gemma.token_to_piece(238 + 0xF0) == b"\xf0"  # byte token <0xF0>
    assert gemma.token_to_piece(105) == b"<start_of_turn>" and gemma.token_to_piece(105, special=False) == b""
    assert gemma.token_to_piece(138, special=False) == b"  "  # user-defined: always rendered
    with pytest.raises(TokenIdError):
        gemma.token_to_piece(262144)
    with pytest.raises(TokenIdError):
        gemma.decode([1, -1])


def test_streaming_detokenizer_holds_byte_fallback_until_complete(gemma):
    text = "𝔘𝔫𝔦 café 日本"
    ids = gemma.encode(text, add_special=False)
    assert any(238 <= t < 494 for t in ids)  # byte-fallback tokens present
    detok = gemma.streaming_detokenizer()
    pieces = [detok.add(t) for t in ids]
    assert "".join(pieces) + detok.flush() == text
    assert "" in pieces and not any("\ufffd" in p for p in pieces)


def test_streaming_detokenizer_skips_control_tokens_by_default(gemma):
    ids = gemma.encode("<start_of_turn>model\nHi<end_of_turn>", add_special=False, parse_special=True)
    assert "".join(map(gemma.streaming_detokenizer().add, ids)) == "model\nHi"
    shown = gemma.streaming_detokenizer(skip_special=False)
    assert "".join(map(shown.add, ids)) == "<start_of_turn>model\nHi<end_of_turn>"


def test_encode_chat_adds_bos_once(gemma):
    prompt = "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"
    assert gemma.encode_chat("<bos>" + prompt) == gemma.encode_chat(prompt)
    ids = gemma.encode_chat(prompt)
    assert ids[0] == 2 and ids[1] == 105 and ids.count(2) == 1


def test_empty_and_invalid_text(gemma):
    assert gemma.encode("") == [2] and gemma.encode("", add_special=False) == []
    with pytest.raises(TokenizerError, match="surrogate"):
        gemma.encode("bad \udc80 text")


def test_sentencepiece_agrees_with_the_llama_cpp_algorithm(gemma):
    """The slow twin: llama.cpp's SPM merge loop in Python, on odd inputs and the corpus."""
    odd = ["<0x41>", "a\x00b", "\x00", "▁▁x", "\u2581", "<unused12>", "[multimodal]", "a" * 300, "\r\r\n",
           "\ufeffBOM", "\U0010ffff", "\ue000 private"]
    for text in odd + CORPUS:
        expected = _reference_with_partition(gemma, text)
        assert gemma.encode(text, add_special=False) == expected, text


def _reference_with_partition(tok: Tokenizer, text: str) -> list[int]:
    out: list[int] = []
    prev_special = True
    for frag in tok.fragments(text):
        if isinstance(frag, int):
            out.append(frag)
            prev_special = True
        else:
            out += reference_encode(tok.vocab, frag, prev_special)
            prev_special = False
    return out
