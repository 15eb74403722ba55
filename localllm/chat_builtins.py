"""Named chat templates for model files that carry none, and how to recognize a family.

Each template is jinja2 text rendered by chat.py's sandbox (trim_blocks, lstrip_blocks), written
to produce exactly the prompt format its model family documents, for this conversation

    [system S, user U1, assistant A1, user U2] + generation prompt:

gemma    <bos><start_of_turn>user\\nS\\n\\nU1<end_of_turn>\\n<start_of_turn>model\\nA1<end_of_turn>\\n
         <start_of_turn>user\\nU2<end_of_turn>\\n<start_of_turn>model\\n
         (no system role: the system text opens the first user turn; Gemma 2/3 model cards)
llama3   <|begin_of_text|><|start_header_id|>system<|end_header_id|>\\n\\nS<|eot_id|>... then
         <|start_header_id|>assistant<|end_header_id|>\\n\\n (Meta Llama 3 model card)
llama2   <s>[INST] <<SYS>>\\nS\\n<</SYS>>\\n\\nU1 [/INST] A1 </s><s>[INST] U2 [/INST]
         (system folded into the first user turn; Meta's Llama 2 chat format)
chatml   <|im_start|>system\\nS<|im_end|>\\n<|im_start|>user\\nU1<|im_end|>\\n...<|im_start|>assistant\\n
         (Qwen, and most fine-tunes)
mistral  <s>[INST] U1[/INST] A1</s>[INST] S\\n\\nU2[/INST]
         (Mistral's "v3" format, Mistral-7B-Instruct-v0.3: the system text joins the last user turn)
phi3     <|system|>\\nS<|end|>\\n<|user|>\\nU1<|end|>\\n<|assistant|>\\nA1<|end|>\\n<|user|>\\nU2<|end|>\\n
         <|assistant|>\\n (Phi-3 / Phi-3.5 model cards)
"""

from __future__ import annotations

from typing import Callable

_ALTERNATE = ("{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
              "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
              "{%- endif -%}")

GEMMA = r"""{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = '' -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    """ + _ALTERNATE + r"""
    {%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- else -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}{{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}{{ item['text'] | trim }}{%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}
"""

LLAMA3 = r"""{%- for message in messages -%}
    {%- set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'
                      + message['content'] | trim + '<|eot_id|>' -%}
    {%- if loop.index0 == 0 -%}{%- set content = bos_token + content -%}{%- endif -%}
    {{ content }}
{%- endfor -%}
{%- if add_generation_prompt -%}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif -%}
"""

LLAMA2 = r"""{%- if messages[0]['role'] == 'system' -%}
    {%- set loop_messages = messages[1:] -%}
    {%- set system_message = messages[0]['content'] -%}
{%- else -%}
    {%- set loop_messages = messages -%}
    {%- set system_message = false -%}
{%- endif -%}
{%- for message in loop_messages -%}
    """ + _ALTERNATE + r"""
    {%- if loop.index0 == 0 and system_message != false -%}
        {%- set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] -%}
    {%- else -%}
        {%- set content = message['content'] -%}
    {%- endif -%}
    {%- if message['role'] == 'user' -%}
        {{ bos_token + '[INST] ' + content | trim + ' [/INST]' }}
    {%- elif message['role'] == 'assistant' -%}
        {{ ' ' + content | trim + ' ' + eos_token }}
    {%- endif -%}
{%- endfor -%}
"""

CHATML = r"""{%- for message in messages -%}
    {{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\n' }}{%- endif -%}
"""

MISTRAL = r"""{%- if messages[0]['role'] == 'system' -%}
    {%- set system_message = messages[0]['content'] -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{{ bos_token }}
{%- for message in loop_messages -%}
    """ + _ALTERNATE + r"""
    {%- if message['role'] == 'user' -%}
        {%- if loop.last and system_message is defined -%}
            {{ '[INST] ' + system_message + '\n\n' + message['content'] + '[/INST]' }}
        {%- else -%}
            {{ '[INST] ' + message['content'] + '[/INST]' }}
        {%- endif -%}
    {%- else -%}
        {{ ' ' + message['content'] | trim + eos_token }}
    {%- endif -%}
{%- endfor -%}
"""

PHI3 = r"""{%- for message in messages -%}
    {%- if message['role'] == 'system' and message['content'] -%}
        {{ '<|system|>\n' + message['content'] + '<|end|>\n' }}
    {%- elif message['role'] == 'user' -%}
        {{ '<|user|>\n' + message['content'] + '<|end|>\n' }}
    {%- elif message['role'] == 'assistant' -%}
        {{ '<|assistant|>\n' + message['content'] + '<|end|>\n' }}
    {%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{ '<|assistant|>\n' }}{%- else -%}{{ eos_token }}{%- endif -%}
"""

BUILTINS: dict[str, str] = {
    "gemma": GEMMA, "llama3": LLAMA3, "llama2": LLAMA2, "chatml": CHATML, "mistral": MISTRAL, "phi3": PHI3,
}
ALIASES: dict[str, str] = {
    "qwen": "chatml", "qwen2": "chatml", "gemma2": "gemma", "gemma3": "gemma", "llama-3": "llama3",
    "llama-2": "llama2", "mistral-v3": "mistral", "phi-3": "phi3",
}


def builtin_name(name: str) -> str | None:
    """The canonical built-in for a name or alias (case-insensitive), or None."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    return key if key in BUILTINS else None


def fingerprint(source: str) -> str | None:
    """The built-in family a template's text belongs to, from the markers it writes (llama.cpp's
    llm_chat_detect_template, for the families built in here)."""
    if "<|im_start|>" in source:
        return "chatml"
    if "[INST]" in source:
        return "llama2" if "<<SYS>>" in source else "mistral"
    if "<|assistant|>" in source and "<|end|>" in source:
        return "phi3"
    if "<start_of_turn>" in source:
        return "gemma"
    if "<|start_header_id|>" in source and "<|end_header_id|>" in source:
        return "llama3"
    return None


def for_model(architecture: str, has_token: Callable[[str], bool]) -> tuple[str, str]:
    """(built-in name, why) for a model file without a template: its architecture, then marker
    tokens in its vocabulary; chatml when nothing matches (llama.cpp's default)."""
    arch = architecture.lower()
    if arch.startswith("gemma"):
        return "gemma", f"architecture {architecture}"
    markers = (("<start_of_turn>", "gemma"), ("<|start_header_id|>", "llama3"), ("<|im_start|>", "chatml"),
               ("<|assistant|>", "phi3"), ("[INST]", "mistral"))
    for token, name in markers:
        if has_token(token):
            return name, f"the vocabulary has {token}"
    if arch.startswith("phi3"):
        return "phi3", f"architecture {architecture}"
    if arch in ("llama", "mistral"):
        return "llama2", f"architecture {architecture}"
    return "chatml", "no known family marker; chatml is the common default"
