"""`localllm chat`: an interactive chat in the terminal, in Ollama's style.

`>>> ` reads a message (`\"\"\"` starts and ends a multi-line one), the reply streams as it is
generated, a dim stats line follows. Ctrl-C stops a reply (the conversation keeps what was said) or
clears the input line; Ctrl-D or /bye exits. Each turn reuses the KV cache of the previous ones,
so only the new turn's tokens are evaluated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

import typer
from rich.markup import escape

from ..errors import LocalLLMError, UsageError
from .app import ModelArg, app, count_text, err, out, size_text
from .options import PARAMETER_NAMES, RunOptions, run_options
from .streaming import PrefillBar, announce_template, card_line, open_llama, stats_line, stream

PROMPT, CONTINUATION = ">>> ", "... "
MULTILINE = '"""'
HELP = """Available commands:
  /set system TEXT            set the system message (clears the conversation)
  /set parameter NAME VALUE   set a sampling parameter: temperature, top_k, top_p, min_p,
                              repeat_penalty, repeat_last_n, seed, num_predict
  /show info                  show the model and the settings
  /clear                      forget the conversation
  /save FILE                  save the conversation (JSON)
  /load FILE                  load a conversation saved with /save
  /bye                        exit
  /?, /help                   this help

Use \"\"\" to begin and end a multi-line message. Ctrl-C stops a reply; Ctrl-D exits."""


@dataclass
class Conversation:
    system: Optional[str] = None
    turns: list[dict[str, str]] = field(default_factory=list)  # user / assistant messages in order

    def messages(self) -> list[dict[str, str]]:
        return ([{"role": "system", "content": self.system}] if self.system else []) + self.turns

    def to_json(self) -> dict[str, Any]:
        return {"messages": self.messages()}

    @classmethod
    def from_json(cls, doc: Any) -> "Conversation":
        messages = doc.get("messages") if isinstance(doc, dict) else None
        if not isinstance(messages, list) or not all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                for m in messages):
            raise UsageError("not a saved conversation: expected {\"messages\": [{\"role\": ..., \"content\": ...}]}")
        system = next((m["content"] for m in messages if m["role"] == "system"), None)
        return cls(system, [{"role": m["role"], "content": m["content"]} for m in messages if m["role"] != "system"])


@app.command("chat")
@run_options
def chat_cmd(
    model: Optional[str] = ModelArg,
    system: Optional[str] = typer.Option(None, "-sys", "--system-prompt", envvar="LOCALLLM_SYSTEM_PROMPT",
                                         help="System message first."),
    opts: RunOptions = None,
) -> None:
    """Chat with a model in the terminal."""
    _enable_line_editing()
    llm = open_llama(model, opts)
    announce_template(llm)
    err.print(f"[dim]{escape(card_line(llm))}[/dim]")
    err.print("[dim]Type a message; /? for help, Ctrl-D or /bye to exit.[/dim]")
    Repl(llm, opts, Conversation(system)).run()


class Repl:
    def __init__(self, llm, opts: RunOptions, conversation: Conversation):
        self.llm, self.opts, self.conversation = llm, opts, conversation

    def run(self) -> None:
        while True:
            try:
                text = self._read()
            except EOFError:
                out.print()
                return
            except KeyboardInterrupt:
                out.print("\n[dim]Use Ctrl + d or /bye to exit.[/dim]")
                continue
            if text is None or not text.strip():
                continue
            if text.lstrip().startswith("/"):
                if not self._command(text.strip()):
                    return
                continue
            self._reply(text)

    def _read(self) -> Optional[str]:
        line = input(PROMPT)
        if not line.lstrip().startswith(MULTILINE):
            return line
        lines, rest = [], line.lstrip()[len(MULTILINE):]
        while not rest.rstrip().endswith(MULTILINE):
            lines.append(rest)
            rest = input(CONTINUATION)
        lines.append(rest.rstrip()[:-len(MULTILINE)])
        return "\n".join(lines).strip("\n")

    def _reply(self, text: str) -> None:
        self.conversation.turns.append({"role": "user", "content": text})
        try:
            prompt = self.llm.chat_tokens(self.conversation.messages())
            generation = self.llm.start_generation(prompt, self.opts.sampling(self.llm.tokenizer_.eog_ids),
                                                   max_tokens=self.opts.max_tokens(), stop=self.opts.reverse_prompt,
                                                   progress=PrefillBar(self.opts.ubatch_size))
            interrupted = stream(self.llm, generation, lambda piece: out.print(
                piece, end="", markup=False, highlight=False, soft_wrap=True))
        except LocalLLMError as exc:  # e.g. ContextLengthExceeded: the message is dropped again
            self.conversation.turns.pop()
            err.print(f"[bold red]error:[/bold red] {escape(str(exc))}")
            return
        out.print()
        if interrupted and not generation.text:  # stopped before the reply began: forget the message
            self.conversation.turns.pop()
        else:
            self.conversation.turns.append({"role": "assistant", "content": generation.text})
        if interrupted:
            err.print("[yellow]reply stopped[/yellow]")
        elif generation.finish_reason == "length" and generation.stats.n_ctx_used >= generation.stats.n_ctx:
            err.print("[yellow]the context is full: /clear to start over, or restart with a larger -c[/yellow]")
        err.print(f"[dim]{stats_line(generation.stats)}[/dim]")

    def _command(self, line: str) -> bool:
        """Runs a slash command; False when the chat should end."""
        words = line.split(maxsplit=2)
        name = words[0].lower()
        if name in ("/bye", "/exit", "/quit"):
            return False
        handler = {"/?": self._help, "/help": self._help, "/clear": self._clear, "/set": self._set,
                   "/show": self._show, "/save": self._save, "/load": self._load}.get(name)
        if handler is None:
            err.print(f"[red]unknown command {escape(name)}[/red] (/? for help)")
            return True
        try:
            handler(words[1:])
        except (LocalLLMError, OSError, ValueError) as exc:
            err.print(f"[bold red]error:[/bold red] {escape(str(exc))}")
        return True

    def _help(self, args: list[str]) -> None:
        out.print(HELP, markup=False, highlight=False)

    def _clear(self, args: list[str]) -> None:
        self.conversation.turns.clear()
        self.llm.reset()
        out.print("[dim]Cleared the conversation.[/dim]")

    def _set(self, args: list[str]) -> None:
        if len(args) == 2 and args[0] == "system":
            self.conversation = Conversation(args[1])
            out.print("[dim]Set the system message (the conversation starts over).[/dim]")
            return
        if len(args) == 2 and args[0] == "parameter" and len(args[1].split()) == 2:
            self._set_parameter(*args[1].split())
            return
        raise UsageError("usage: /set system TEXT, or /set parameter NAME VALUE")

    def _set_parameter(self, name: str, value: str) -> None:
        field_name = PARAMETER_NAMES.get(name)
        if field_name is None:
            raise UsageError(f"unknown parameter {name!r}; one of: {', '.join(sorted(PARAMETER_NAMES))}")
        kind = type(getattr(self.opts, field_name))
        setattr(self.opts, field_name, kind(float(value)) if kind is int else kind(value))
        out.print(f"[dim]Set parameter {escape(name)} to {escape(value)}.[/dim]")

    def _show(self, args: list[str]) -> None:
        if args[:1] != ["info"]:
            raise UsageError("usage: /show info")
        card = self.llm.model_card()
        card.update(parameters=count_text(card["parameters"]), kv_bytes=size_text(card["kv_bytes"]))
        p = self.opts
        for key, value in [*card.items(), ("temperature", p.temp), ("top_k", p.top_k), ("top_p", p.top_p),
                           ("min_p", p.min_p), ("repeat_penalty", p.repeat_penalty),
                           ("repeat_last_n", p.repeat_last_n), ("seed", p.seed), ("num_predict", p.n_predict),
                           ("system", self.conversation.system or "-"),
                           ("turns", len(self.conversation.turns)), ("context used", self.llm.n_tokens)]:
            out.print(f"  [bold cyan]{key:<16}[/bold cyan] {escape(str(value))}")

    def _save(self, args: list[str]) -> None:
        path = _one_path(args, "/save FILE")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.conversation.to_json(), f, ensure_ascii=False, indent=1)
        out.print(f"[dim]Saved {len(self.conversation.turns)} messages to {escape(path)}.[/dim]")

    def _load(self, args: list[str]) -> None:
        path = _one_path(args, "/load FILE")
        with open(path, encoding="utf-8") as f:
            self.conversation = Conversation.from_json(json.load(f))
        out.print(f"[dim]Loaded {len(self.conversation.turns)} messages from {escape(path)}.[/dim]")


def _one_path(args: list[str], usage: str) -> str:
    if not args:
        raise UsageError(f"usage: {usage}")
    return " ".join(args)


def _enable_line_editing() -> None:
    try:
        import readline  # noqa: F401 (input() gains editing and history)
    except ImportError:
        pass
