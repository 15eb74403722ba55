"""Chat templates: built-ins render each family's documented format, the sandbox and budgets hold
against hostile templates, and the template is chosen (and announced) as the design says."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from localllm import chat
from localllm.chat_builtins import BUILTINS, fingerprint, for_model
from localllm.errors import ChatTemplateError, UnknownChatTemplateError, UsageError

CONVERSATION = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hi!"},
    {"role": "assistant", "content": "Hello."},
    {"role": "user", "content": "Name a color."},
]
# name -> (bos, eos, expected prompt), as each family documents its format
EXPECTED = {
    "gemma": ("<bos>", "<eos>",
              "<bos><start_of_turn>user\nYou are terse.\n\nHi!<end_of_turn>\n"
              "<start_of_turn>model\nHello.<end_of_turn>\n"
              "<start_of_turn>user\nName a color.<end_of_turn>\n<start_of_turn>model\n"),
    "llama3": ("<|begin_of_text|>", "<|eot_id|>",
               "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
               "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"
               "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
               "<|start_header_id|>user<|end_header_id|>\n\nName a color.<|eot_id|>"
               "<|start_header_id|>assistant<|end_header_id|>\n\n"),
    "llama2": ("<s>", "</s>",
               "<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi! [/INST] Hello. </s><s>[INST] Name a color. [/INST]"),
    "chatml": ("", "<|im_end|>",
               "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n"
               "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nName a color.<|im_end|>\n"
               "<|im_start|>assistant\n"),
    "mistral": ("<s>", "</s>", "<s>[INST] Hi![/INST] Hello.</s>[INST] You are terse.\n\nName a color.[/INST]"),
    "phi3": ("<s>", "<|endoftext|>",
             "<|system|>\nYou are terse.<|end|>\n<|user|>\nHi!<|end|>\n<|assistant|>\nHello.<|end|>\n"
             "<|user|>\nName a color.<|end|>\n<|assistant|>\n"),
}


def test_every_builtin_has_a_reference_rendering():
    assert set(EXPECTED) == set(BUILTINS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_builtin_renders_the_documented_format(name):
    bos, eos, expected = EXPECTED[name]
    assert chat.builtin(name, bos, eos).render(CONVERSATION) == expected
    assert fingerprint(BUILTINS[name]) == name


def test_gemma_folds_the_system_message_into_the_first_user_turn():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": " Why? "}]
    out = chat.render(messages, "gemma", bos_token="<bos>")
    assert out == "<bos><start_of_turn>user\nBe brief.\n\nWhy?<end_of_turn>\n<start_of_turn>model\n"
    assert "system" not in out


def test_generation_prompt_is_optional():
    out = chat.render(CONVERSATION[:3], "gemma", add_generation_prompt=False)
    assert out.endswith("Hello.<end_of_turn>\n")
    assert chat.render(CONVERSATION[:3], "phi3", add_generation_prompt=False, eos_token="<|endoftext|>").endswith(
        "<|end|>\n<|endoftext|>")


def test_roles_must_alternate_where_the_family_says_so():
    with pytest.raises(ChatTemplateError, match="must alternate"):
        chat.render([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], "gemma")


def test_gemma_accepts_content_parts():
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": " Describe. "}]}]
    assert chat.render(messages, "gemma") == "<start_of_turn>user\n<start_of_image>Describe.<end_of_turn>\n" \
                                             "<start_of_turn>model\n"


def test_hf_helpers_are_available():
    source = "{{ strftime_now('%Y') }}|{{ messages | tojson }}|{% generation %}ok{% endgeneration %}" \
             "{% for m in messages %}{% if loop.first %}{% continue %}{% endif %}x{% endfor %}"
    messages = [{"role": "user", "content": "é"}, {"role": "user", "content": "b"}]
    out = chat.render(messages, source)
    assert out == f"{time.strftime('%Y')}|{json.dumps(messages, ensure_ascii=False)}|okx"


# ---- hostile templates -------------------------------------------------------------------------

ESCAPES = [
    "{{ cycler.__init__.__globals__.os.popen('touch MARK').read() }}",
    "{{ lipsum.__globals__['os'].system('touch MARK') }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ self._TemplateReference__context.joiner.__init__.__globals__.os.system('touch MARK') }}",
    "{% set x = messages.append({'role': 'touch MARK'}) %}",
    "{{ namespace.__init__.__globals__.__builtins__.open('MARK', 'w').write('x') }}",
]


@pytest.mark.parametrize("payload", ESCAPES)
def test_sandbox_escape_raises_and_creates_no_file(payload, tmp_path):
    mark = tmp_path / "pwned"
    with pytest.raises(ChatTemplateError, match="sandbox|failed"):
        chat.render(CONVERSATION, payload.replace("MARK", str(mark)))
    assert not mark.exists()


@pytest.mark.parametrize("source", [
    "{% for i in range(10**9) %}x{% endfor %}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{{ '' }}{% endfor %}{% endfor %}",
])
def test_endless_loops_stop_within_two_seconds(source):
    start = time.perf_counter()
    with pytest.raises(ChatTemplateError, match="stopped"):
        chat.render(CONVERSATION, source)
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize("source", [
    "{{ 'x' * 10**9 }}",
    "{{ ([0] * 100000) * 100000 }}",
    "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
    "{{ 'x'.ljust(10**9) }}", "{{ 'x' | center(10**9) }}", "{{ '{:>1000000000}'.format(1) }}",
    "{{ '%1000000000s' % 'a' }}", "{{ 2 ** 100000000 }}",
    "{% set ns = namespace(s='xx') %}{% for i in range(40) %}{% set ns.s = ns.s|replace('x', 'xxx') %}{% endfor %}",
    "{% for i in range(100000) %}{{ 'y' * 100 }}{% endfor %}",
])
def test_size_budget(source):
    start = time.perf_counter()
    with pytest.raises(ChatTemplateError, match="stopped"):
        chat.render(CONVERSATION, source)
    assert time.perf_counter() - start < 2.0


def test_budgets_are_adjustable():
    assert len(chat.render([], "{{ 'x' * 5000 }}", max_output_chars=5000)) == 5000
    with pytest.raises(ChatTemplateError):
        chat.render([], "{{ 'x' * 5001 }}", max_output_chars=5000)


def test_template_errors_are_typed():
    with pytest.raises(ChatTemplateError, match="syntax error at line 2"):
        chat.render(CONVERSATION, "ok\n{% for %}")
    with pytest.raises(ChatTemplateError, match="chat template error: custom stop"):
        chat.render(CONVERSATION, "{{ raise_exception('custom stop') }}")
    with pytest.raises(ChatTemplateError, match="recursed"):
        chat.render(CONVERSATION, "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")
    with pytest.raises(ChatTemplateError, match="role"):
        chat.render([{"content": "no role"}], "chatml")


def test_render_restores_the_previous_trace_function():
    before = sys.gettrace()
    with pytest.raises(ChatTemplateError):
        chat.render(CONVERSATION, "{{ 'x' * 10**9 }}")
    chat.render(CONVERSATION, "chatml")
    assert sys.gettrace() is before


# ---- choosing the template ---------------------------------------------------------------------

def model(**meta) -> SimpleNamespace:
    base = {"general.architecture": "qwen2", "tokenizer.ggml.tokens": ["<s>", "</s>", "<|im_start|>", "hi"],
            "tokenizer.ggml.bos_token_id": 0, "tokenizer.ggml.eos_token_id": 1}
    return SimpleNamespace(metadata={**base, **meta})


def test_the_files_template_is_used_when_present():
    t = chat.resolve_template(model(**{"tokenizer.chat_template": "{{ bos_token }}{{ messages[0]['content'] }}"}))
    assert (t.name, t.announcement, t.bos_token, t.eos_token) == ("gguf", None, "<s>", "</s>")
    assert t.render([{"role": "user", "content": "x"}]) == "<s>x"


def test_a_broken_file_template_falls_back_with_an_announcement():
    t = chat.resolve_template(model(**{"tokenizer.chat_template": "<|im_start|>{% if %}"}))
    assert t.name == "chatml" and "cannot be used" in t.announcement and "syntax error" in t.announcement


def test_no_template_picks_a_builtin_by_vocabulary_and_says_so():
    t = chat.resolve_template(model())
    assert t.name == "chatml"
    assert t.announcement.startswith("the model file has no chat template; using the built-in 'chatml'")


def test_name_and_file_choices(tmp_path):
    assert chat.resolve_template(model(), name="Qwen").name == "chatml"
    assert chat.resolve_template(model(), name="llama3").announcement is None
    with pytest.raises(UnknownChatTemplateError, match="available: gemma"):
        chat.resolve_template(model(), name="vicuna")
    assert issubclass(UnknownChatTemplateError, UsageError)
    path = tmp_path / "t.jinja"
    path.write_text("[{{ messages | length }}]", encoding="utf-8")
    t = chat.resolve_template(model(), file=path)
    assert t.name == f"file:{path}" and t.render(CONVERSATION) == "[4]"
    with pytest.raises(ChatTemplateError, match="cannot read"):
        chat.resolve_template(model(), file=tmp_path / "missing.jinja")


@pytest.mark.parametrize("arch, tokens, expected", [
    ("gemma3", [], "gemma"), ("llama", ["<|start_header_id|>"], "llama3"), ("qwen2", ["<|im_start|>"], "chatml"),
    ("phi3", ["<|user|>"], "phi3"), ("llama", ["[INST]"], "mistral"), ("llama", ["<s>"], "llama2"),
    ("gpt2", [], "chatml"),
])
def test_detection_by_architecture_and_vocabulary(arch, tokens, expected):
    assert for_model(arch, set(tokens).__contains__)[0] == expected


@pytest.mark.slow
def test_default_model_gets_gemma_and_a_single_bos(default_model_path):
    from localllm.gguf import open_gguf
    from localllm.tokenizer import Tokenizer

    with open_gguf(default_model_path) as f:
        tok = Tokenizer.from_gguf(f)
        t = chat.resolve_template(f, tok)
    assert t.name == "gemma" and "no chat template" in t.announcement and "gemma3" in t.announcement
    question = "Explain in one sentence why the sky is blue."
    prompt = t.render([{"role": "user", "content": question}])
    reference = Path(__file__).resolve().parents[2] / "shared" / "reference" / "gemma3-270m"
    prompts = json.loads((reference / "logits_prompts.json").read_text(encoding="utf-8"))
    assert prompt == "<bos>" + prompts[4]
    with np.load(reference / "logits.npz") as ref:
        assert tok.encode_chat(prompt) == ref["p4_tokens"].tolist()  # one BOS, not two
