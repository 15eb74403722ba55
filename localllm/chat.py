"""Chat templates: a conversation (list of {"role", "content"} messages) -> the prompt text.

The template comes from, in order: `--chat-template-file F`, `--chat-template NAME` (a built-in,
chat_builtins.py), the model file's `tokenizer.chat_template`, or a built-in chosen from the model's
architecture / vocabulary. Every fallback carries an `announcement` (one line the CLI prints), so a
guess is never silent.

Templates are jinja2, rendered as Hugging Face does (ImmutableSandboxedEnvironment, trim_blocks,
lstrip_blocks, loop controls, `raise_exception`, `strftime_now`, `tojson`, bos/eos tokens,
`add_generation_prompt`), under budgets a hostile template cannot escape:
    - the sandbox: no attribute starting with "_", no mutation of the messages, ranges of at most
      100000 items (jinja2's), no unsafe callables; a violation is a ChatTemplateError;
    - size: the output, and every string or list a template builds with `*`, `+`, `~`, string
      methods or filters, is limited to `max_output_chars` (checked before a product is allocated);
    - time: a trace hook stops the template's own code after `max_seconds`.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from .chat_builtins import BUILTINS, builtin_name, fingerprint, for_model
from .errors import ChatTemplateError, UnknownChatTemplateError

MAX_OUTPUT_CHARS = 4_000_000   # ~1M tokens of prompt
MAX_SECONDS = 1.0
MAX_TEMPLATE_CHARS = 1_000_000
_TEMPLATE_FILE = "<template>"  # jinja2's code filename for templates from strings


@dataclass(frozen=True)
class ChatTemplate:
    """A template ready to render, and where it came from."""

    source: str                       # jinja2 text
    name: str                         # "gguf", a built-in name, or "file:PATH"
    bos_token: str = ""               # the model's BOS/EOS texts, passed to the template
    eos_token: str = ""
    announcement: str | None = None   # set when a fallback or guess was made: the CLI prints it

    def render(self, messages: Iterable[Mapping[str, Any]], add_generation_prompt: bool = True,
               **variables: Any) -> str:
        return render(messages, self, add_generation_prompt=add_generation_prompt, **variables)


def builtin(name: str, bos_token: str = "", eos_token: str = "") -> ChatTemplate:
    """A built-in template by name or alias (gemma, llama3, llama2, chatml/qwen, mistral, phi3)."""
    canonical = builtin_name(name)
    if canonical is None:
        raise UnknownChatTemplateError(f"no built-in chat template named {name!r}; available: "
                                       f"{', '.join(BUILTINS)}")
    return ChatTemplate(BUILTINS[canonical], canonical, bos_token, eos_token)


def resolve_template(gguf: Any, tokenizer: Any = None, *, name: str | None = None,
                     file: str | Path | None = None) -> ChatTemplate:
    """The template to use for a model (an open GGUF file, or anything with `.metadata`).
    `tokenizer` (optional) supplies the BOS/EOS texts and vocabulary lookups."""
    meta = gguf.metadata
    bos, eos = _special_text(meta, tokenizer, "bos"), _special_text(meta, tokenizer, "eos")
    if file is not None:
        return ChatTemplate(_read_template_file(file), f"file:{file}", bos, eos)
    if name is not None:
        return builtin(name, bos, eos)
    source = meta.get("tokenizer.chat_template")
    if isinstance(source, str) and source.strip():
        try:
            _compile(source)
            return ChatTemplate(source, "gguf", bos, eos)
        except ChatTemplateError as e:
            family = fingerprint(source)
            fallback, why = (family, "it resembles that family") if family else _for_model(meta, tokenizer)
            note = f"the model's chat template cannot be used ({e}); using the built-in '{fallback}' template ({why})"
            return ChatTemplate(BUILTINS[fallback], fallback, bos, eos, note)
    fallback, why = _for_model(meta, tokenizer)
    note = f"the model file has no chat template; using the built-in '{fallback}' template ({why})"
    return ChatTemplate(BUILTINS[fallback], fallback, bos, eos, note)


def render(messages: Iterable[Mapping[str, Any]], template: ChatTemplate | str,
           add_generation_prompt: bool = True, bos_token: str | None = None, eos_token: str | None = None,
           *, max_output_chars: int = MAX_OUTPUT_CHARS, max_seconds: float = MAX_SECONDS,
           **variables: Any) -> str:
    """Render a conversation. `template`: a ChatTemplate, a built-in name, or jinja2 text.
    Extra keyword arguments (tools, documents, ...) become template variables."""
    if isinstance(template, str):
        template = builtin(template) if builtin_name(template) and "{" not in template else \
            ChatTemplate(template, "custom")
    messages = _check_messages(messages)
    context = {"messages": messages, "add_generation_prompt": add_generation_prompt,
               "bos_token": template.bos_token if bos_token is None else bos_token,
               "eos_token": template.eos_token if eos_token is None else eos_token, **variables}
    compiled = _compile(template.source)
    with _Budget(max_output_chars, max_seconds):
        return _run(compiled, context, max_output_chars)


# ---- the sandbox ---------------------------------------------------------------------------

class _Limits(threading.local):
    max_chars: int = MAX_OUTPUT_CHARS


_LIMITS = _Limits()


class _TemplateRaisedError(Exception):
    """raise_exception() called by a template."""


class _OverBudgetError(Exception):
    """A size or time budget ran out."""


def _too_big(size: int) -> None:
    if size > _LIMITS.max_chars:
        raise _OverBudgetError(f"the template asked for a value of {size:,} characters or items, over the "
                               f"limit of {_LIMITS.max_chars:,}")


def _sized(value: Any) -> int:
    return len(value) if isinstance(value, (str, list, tuple, bytes)) else 0


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "*":
        seq, n = (left, right) if _sized(left) else (right, left)
        if isinstance(n, int) and _sized(seq):
            _too_big(_sized(seq) * max(n, 0))
    elif operator == "+":
        _too_big(_sized(left) + _sized(right))
    elif operator == "%" and isinstance(left, str):
        _check_format_string(left)
        for value in right if isinstance(right, tuple) else (right,):
            if isinstance(value, int) and not isinstance(value, bool):
                _too_big(value)
    elif operator == "**" and isinstance(left, (int, float)) and isinstance(right, (int, float)):
        if abs(left) > 1 and right > 4096:
            raise _OverBudgetError(f"the template computed {left} ** {right}, too large a number")


def _check_call_args(obj: Any, args: tuple, kwargs: dict) -> None:
    """Reject calls whose arguments ask for huge results (widths, repeat counts, format fields)."""
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool):
            _too_big(value)
    owner, name = getattr(obj, "__self__", None), getattr(obj, "__name__", "")
    if isinstance(owner, str) and name == "replace" and len(args) >= 2:
        _check_replace(owner, str(args[0]), str(args[1]))


_FORMAT_SPEC = re.compile(r"\{[^{}]*?:([^{}]*)\}")      # str.format: "{name:>20}"
_PRINTF_SPEC = re.compile(r"%[-+ #0]*(\d*)(?:\.(\d+))?")  # printf: "%-20.5s"


def _check_format_string(fmt: str) -> None:
    """Field widths and precisions in a format string must stay within the size budget."""
    for spec in _FORMAT_SPEC.findall(fmt):
        for digits in re.findall(r"\d+", spec):
            _too_big(int(digits))
    for width, precision in _PRINTF_SPEC.findall(fmt):
        for digits in (width, precision):
            if digits:
                _too_big(int(digits))


def _make_environment():
    from jinja2 import nodes
    from jinja2.compiler import CodeGenerator
    from jinja2.ext import Extension, loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class BudgetCodeGenerator(CodeGenerator):
        def visit_Concat(self, node, frame) -> None:  # noqa: N802 (jinja2's name); `a ~ b`, measured
            self.write("environment.checked_join((")
            for arg in node.nodes:
                self.visit(arg, frame)
                self.write(", ")
            self.write("))")

    class GenerationTag(Extension):
        """HF's {% generation %}...{% endgeneration %} (assistant-mask marker): renders its body."""

        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.Scope(body, lineno=lineno)

    class BudgetSandbox(ImmutableSandboxedEnvironment):
        code_generator_class = BudgetCodeGenerator
        intercepted_binops = frozenset({"*", "+", "**", "%"})

        def call_binop(self, context, operator, left, right):
            _check_binop(operator, left, right)
            return super().call_binop(context, operator, left, right)

        def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 (jinja2's signature)
            _check_call_args(__obj, args, kwargs)
            result = super().call(__context, __obj, *args, **kwargs)
            _too_big(_sized(result))
            return result

        def wrap_str_format(self, value):  # `"...".format` is wrapped at attribute access
            owner = getattr(value, "__self__", None)
            if isinstance(owner, str) and getattr(value, "__name__", "") in ("format", "format_map"):
                _check_format_string(owner)
            return super().wrap_str_format(value)

        def checked_join(self, parts) -> str:
            text = "".join(map(str, parts))
            _too_big(len(text))
            return text

    env = BudgetSandbox(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols, GenerationTag])
    env.globals.update(raise_exception=_raise_exception, strftime_now=_strftime_now)
    env.filters["tojson"] = _tojson
    for name in ("center", "indent", "replace", "join", "wordwrap", "format", "truncate"):
        env.filters[name] = _checked_filter(env.filters[name])
    return env


def _checked_filter(inner: Callable) -> Callable:
    """Wrap a jinja2 filter: integer arguments (widths, counts) and the result are size-checked,
    `replace` and `format` are checked before they run."""
    skip = 2 if hasattr(inner, "jinja_pass_arg") else 1  # (eval_ctx or environment,) value, arguments

    def checked(*args: Any, **kwargs: Any) -> Any:
        for value in (*args[skip:], *kwargs.values()):
            if isinstance(value, int) and not isinstance(value, bool):
                _too_big(value)
        if inner.__name__ == "do_replace" and len(args) >= skip + 2:
            _check_replace(str(args[skip - 1]), str(args[skip]), str(args[skip + 1]))
        if inner.__name__ == "do_format" and args:
            _check_format_string(str(args[0]))
        result = inner(*args, **kwargs)
        _too_big(_sized(result))
        return result

    if hasattr(inner, "jinja_pass_arg"):  # keep jinja2's marker for passing eval_ctx/environment
        checked.jinja_pass_arg = inner.jinja_pass_arg  # type: ignore[attr-defined]
    checked.__name__ = inner.__name__
    return checked


def _check_replace(text: str, old: str, new: str) -> None:
    hits = text.count(old) if old else len(text) + 1
    _too_big(len(text) + hits * (len(new) - len(old)))


def _raise_exception(message: Any) -> None:
    raise _TemplateRaisedError(str(message))


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def _tojson(value: Any, ensure_ascii: bool = False, indent: Any = None, separators: Any = None,
            sort_keys: bool = False) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


@lru_cache(maxsize=1)
def _environment():
    return _make_environment()


@lru_cache(maxsize=64)
def _compile(source: str):
    """jinja2 text -> compiled template; syntax errors become ChatTemplateError."""
    import jinja2

    if len(source) > MAX_TEMPLATE_CHARS:
        raise ChatTemplateError(f"chat template is {len(source):,} characters; the limit is {MAX_TEMPLATE_CHARS:,}")
    try:
        return _environment().from_string(source)
    except jinja2.TemplateSyntaxError as e:
        raise ChatTemplateError(f"chat template syntax error at line {e.lineno}: {e.message}") from None
    except jinja2.TemplateError as e:
        raise ChatTemplateError(f"chat template cannot be compiled: {e}") from None
    except RecursionError:
        raise ChatTemplateError("chat template is nested too deeply to compile") from None


# ---- rendering under budget ----------------------------------------------------------------

class _Budget:
    """Context manager: size limit for this thread, and a trace hook enforcing the deadline."""

    def __init__(self, max_chars: int, max_seconds: float):
        self.max_chars, self.max_seconds = max_chars, max_seconds

    def __enter__(self) -> None:
        self.saved_limit, _LIMITS.max_chars = _LIMITS.max_chars, self.max_chars
        self.saved_trace = sys.gettrace()
        sys.settrace(_deadline_tracer(time.perf_counter() + self.max_seconds, self.max_seconds))

    def __exit__(self, *exc: object) -> None:
        sys.settrace(self.saved_trace)
        _LIMITS.max_chars = self.saved_limit


def _deadline_tracer(deadline: float, seconds: float) -> Callable:
    """A sys.settrace hook that follows only template code and raises once `deadline` passes."""
    clock = time.perf_counter

    def local(frame, event, arg):
        if clock() > deadline:
            raise _OverBudgetError(f"the template ran longer than {seconds:g} s")
        return local

    def on_call(frame, event, arg):
        if frame.f_code.co_filename == _TEMPLATE_FILE:
            return local(frame, event, arg)
        return None

    return on_call


def _run(compiled: Any, context: dict, max_chars: int) -> str:
    import jinja2
    from jinja2.exceptions import SecurityError

    parts: list[str] = []
    size = 0
    try:
        for chunk in compiled.generate(**context):
            size += len(chunk)
            if size > max_chars:
                raise _OverBudgetError(f"the rendered prompt exceeds {max_chars:,} characters")
            parts.append(chunk)
    except _TemplateRaisedError as e:
        raise ChatTemplateError(f"chat template error: {e}") from None
    except _OverBudgetError as e:
        raise ChatTemplateError(f"chat template stopped: {e}") from None
    except SecurityError as e:
        raise ChatTemplateError(f"chat template tried an operation the sandbox forbids: {e}") from None
    except OverflowError as e:  # jinja2's range() limit among others
        raise ChatTemplateError(f"chat template stopped: {e}") from None
    except RecursionError:
        raise ChatTemplateError("chat template recursed too deeply") from None
    except (jinja2.TemplateError, TypeError, ValueError, KeyError, IndexError, AttributeError,
            ZeroDivisionError) as e:
        raise ChatTemplateError(f"chat template failed: {type(e).__name__}: {e}") from None
    return "".join(parts)


# ---- inputs ----------------------------------------------------------------------------------

def _check_messages(messages: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    if isinstance(messages, (str, bytes, Mapping)):
        raise ChatTemplateError("messages must be a list of {'role': ..., 'content': ...} mappings")
    out = list(messages)
    for i, message in enumerate(out):
        if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
            raise ChatTemplateError(f"message {i} must be a mapping with a string 'role'")
    return out


def _read_template_file(file: str | Path) -> str:
    try:
        text = Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ChatTemplateError(f"cannot read chat template file {str(file)!r}: {e}") from None
    _compile(text)
    return text


def _special_text(meta: Mapping[str, Any], tokenizer: Any, kind: str) -> str:
    if tokenizer is not None:
        token_id = getattr(tokenizer, f"{kind}_id")
        return tokenizer.token_text(token_id) if token_id is not None else ""
    token_id, tokens = meta.get(f"tokenizer.ggml.{kind}_token_id"), meta.get("tokenizer.ggml.tokens")
    if isinstance(token_id, int) and tokens is not None and 0 <= token_id < len(tokens):
        return tokens[token_id]
    return ""


def _for_model(meta: Mapping[str, Any], tokenizer: Any) -> tuple[str, str]:
    arch = meta.get("general.architecture", "")
    if tokenizer is not None:
        has_token = lambda text: tokenizer.token_id(text) is not None  # noqa: E731
    else:
        tokens = meta.get("tokenizer.ggml.tokens")
        vocab = set(tokens.tolist() if hasattr(tokens, "tolist") else tokens or ())
        has_token = vocab.__contains__
    return for_model(arch if isinstance(arch, str) else "", has_token)


__all__ = ["ChatTemplate", "builtin", "resolve_template", "render", "BUILTINS", "fingerprint",
           "MAX_OUTPUT_CHARS", "MAX_SECONDS"]
