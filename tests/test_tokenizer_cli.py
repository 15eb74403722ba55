"""`localllm tokenize` / `localllm detokenize` on the default model, in process (the CLI's rich
consoles write to whatever sys.stdout / sys.stderr are at print time)."""

from __future__ import annotations

import io
import json

import pytest

from localllm.cli import main

pytestmark = pytest.mark.slow


def run(capsys, *args: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_tokenize_text_with_the_default_model(capsys, default_model_path):
    code, out, err = run(capsys, "tokenize", "Hello world")
    assert (code, err) == (0, "") and json.loads(out) == [2, 9259, 1902]


def test_tokenize_json_pieces_without_bos(capsys, default_model_path):
    code, out, _ = run(capsys, "tokenize", default_model_path, " Hello world", "--no-bos", "--json", "--pieces")
    assert code == 0
    assert json.loads(out) == {"count": 2, "tokens": [26352, 1902], "pieces": [" Hello", " world"]}


def test_tokenize_reads_stdin_and_parses_special_tokens_on_request(capsys, monkeypatch, default_model_path):
    text = "<start_of_turn>user\nHi<end_of_turn>\n"
    _, plain, _ = run(capsys, "tokenize", "--json", stdin=text, monkeypatch=monkeypatch)
    _, special, _ = run(capsys, "tokenize", "--special", "--pieces", stdin=text, monkeypatch=monkeypatch)
    assert 105 not in json.loads(plain)["tokens"]
    lines = special.splitlines()
    assert lines[0].split() == ["2", '"<bos>"'] and lines[1].split() == ["105", '"<start_of_turn>"']
    assert lines[-1].split() == ["107", '"\\n"']


def test_detokenize_accepts_lists_and_skips_special_on_request(capsys, default_model_path):
    assert run(capsys, "detokenize", "2", "9259", "1902") == (0, "<bos>Hello world\n", "")
    assert run(capsys, "detokenize", default_model_path, "[2, 9259, 1902]", "--skip-special")[:2] == (
        0, "Hello world\n")


@pytest.mark.parametrize("args, code, fragment", [
    (("detokenize", "2", "262144"), 2, "outside the vocabulary"),
    (("detokenize", "2", "x1"), 2, "not a token id: 'x1'"),
    (("detokenize", "x1", "2"), 1, "'x1' does not exist"),  # a first word that is no id names the model
    (("detokenize", "no-such-model.gguf", "1"), 1, "does not exist"),
    (("detokenize",), 2, "Missing argument"),
    (("tokenize", "no-such-model.gguf", "hi"), 1, "does not exist"),
])
def test_errors_are_one_line(capsys, default_model_path, args, code, fragment):
    result, out, err = run(capsys, *args)
    lines = [line for line in err.splitlines() if line.strip()]
    assert result == code and len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], err


def test_chat_template_command_renders_the_default_models_fallback(capsys, default_model_path):
    code, out, err = run(capsys, "chat-template", "-m", "Hi there", "-sys", "Be brief")
    assert code == 0
    assert out == "<bos><start_of_turn>user\nBe brief\n\nHi there<end_of_turn>\n<start_of_turn>model\n"
    assert "no chat template" in err and "'gemma'" in err  # the fallback is announced


def test_chat_template_command_takes_a_builtin_or_a_file(capsys, monkeypatch, tmp_path, default_model_path):
    conversation = json.dumps([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}])
    code, out, _ = run(capsys, "chat-template", "--chat-template", "chatml", "--no-generation-prompt",
                       stdin=conversation, monkeypatch=monkeypatch)
    assert code == 0 and out == "<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nb<|im_end|>\n"
    template = tmp_path / "t.jinja"
    template.write_text("{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}")
    code, out, err = run(capsys, "chat-template", "--chat-template-file", str(template), "-m", "x")
    assert (code, out, err) == (0, "[user:x]", "")


def test_chat_template_command_rejects_an_unknown_builtin(capsys, default_model_path):
    code, _, err = run(capsys, "chat-template", "--chat-template", "nope", "-m", "x")
    assert code == 2 and "available: gemma" in err
