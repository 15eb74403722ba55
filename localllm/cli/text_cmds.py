"""`localllm tokenize`, `detokenize` and `chat-template`: look at what the model will see."""

from __future__ import annotations

import json
import sys
from typing import List, Optional

import typer
from rich.markup import escape

from .app import ModelArg, VerboseOpt, app, err, model_and_text, out

TokenizeModelArg = typer.Argument(
    None, help="GGUF file (default model when omitted). A lone argument that is neither an existing file "
               "nor a *.gguf name is taken as TEXT.")


@app.command("tokenize")
def tokenize_cmd(
    model: Optional[str] = TokenizeModelArg,
    text: Optional[str] = typer.Argument(None, help="Text to tokenize (default: standard input)."),
    no_bos: bool = typer.Option(False, "--no-bos", help="Add no BOS/EOS even where the model asks for them."),
    special: bool = typer.Option(False, "--special", help="Parse special-token texts such as <start_of_turn>."),
    pieces: bool = typer.Option(False, "--pieces", help="Show each token's piece next to its id."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    verbose: bool = VerboseOpt,
) -> None:
    """Show the token ids (and pieces) a model turns a text into, for debugging prompts."""
    from ..gguf import open_gguf
    from ..model_path import resolve_model
    from ..tokenizer import Tokenizer

    model, text = model_and_text(model, text)
    if text is None:
        text = sys.stdin.read()
    with open_gguf(resolve_model(model)) as gguf:
        tok = Tokenizer.from_gguf(gguf)
    ids = tok.encode(text, add_special=not no_bos, parse_special=special)
    shown = [tok.token_to_piece(i).decode("utf-8", "backslashreplace") for i in ids] if pieces else None
    if as_json:
        doc = {"count": len(ids), "tokens": ids, **({"pieces": shown} if shown is not None else {})}
        out.print_json(json.dumps(doc, ensure_ascii=False))
    elif shown is not None:
        width = len(str(max(ids, default=0)))
        for i, piece in zip(ids, shown, strict=True):
            out.print(f"{i:>{width}}  {json.dumps(piece, ensure_ascii=False)}", markup=False, soft_wrap=True)
    else:
        out.print(json.dumps(ids), markup=False, soft_wrap=True)


DetokenizeArgs = typer.Argument(..., metavar="[MODEL] IDS...",
                                help="Optional GGUF file, then token ids (spaces, commas or a JSON list).")


@app.command("detokenize")
def detokenize_cmd(
    args: List[str] = DetokenizeArgs,
    skip_special: bool = typer.Option(False, "--skip-special", help="Leave out control tokens such as <bos>."),
    verbose: bool = VerboseOpt,
) -> None:
    """Turn token ids back into text."""
    from ..gguf import open_gguf
    from ..model_path import resolve_model
    from ..tokenizer import Tokenizer

    model, ids = _model_and_ids(args)
    with open_gguf(resolve_model(model)) as gguf:
        tok = Tokenizer.from_gguf(gguf)
    out.print(tok.decode(ids, skip_special=skip_special), markup=False, highlight=False, soft_wrap=True)


def _model_and_ids(args: List[str]) -> tuple[Optional[str], list[int]]:
    import re

    from ..errors import UsageError

    model = None
    if args and not re.fullmatch(r"[\s\[\],0-9-]+", args[0]):
        model, args = args[0], args[1:]
    words = " ".join(args).replace(",", " ").replace("[", " ").replace("]", " ").split()
    if not words:
        raise UsageError("no token ids given (usage: localllm detokenize [MODEL] IDS...)")
    try:
        return model, [int(w) for w in words]
    except ValueError:
        bad = next(w for w in words if not w.lstrip("-").isdigit())
        raise UsageError(f"not a token id: {bad!r}") from None


ChatTemplateOpt = typer.Option(None, "--chat-template", help="Built-in template: gemma, llama3, llama2, chatml, "
                                                              "qwen, mistral, phi3 (default: the model's own).")
ChatTemplateFileOpt = typer.Option(None, "--chat-template-file", help="Jinja2 chat template file to use instead.")


@app.command("chat-template")
def chat_template_cmd(
    model: Optional[str] = ModelArg,
    messages: List[str] = typer.Option([], "-m", "--message", help="A user message (repeatable; default: "
                                       "an OpenAI-style JSON list of messages on standard input)."),
    system: Optional[str] = typer.Option(None, "-sys", "--system-prompt", help="System message first."),
    template: Optional[str] = ChatTemplateOpt,
    template_file: Optional[str] = ChatTemplateFileOpt,
    no_generation_prompt: bool = typer.Option(False, "--no-generation-prompt", help="Leave out the assistant opener."),
    verbose: bool = VerboseOpt,
) -> None:
    """Render a conversation with the model's chat template, to see the exact prompt it will get."""
    from ..chat import resolve_template
    from ..errors import InputError
    from ..gguf import open_gguf
    from ..model_path import resolve_model
    from ..tokenizer import Tokenizer

    if messages:
        conversation = [{"role": "user", "content": text} for text in messages]
    else:
        try:
            conversation = json.loads(sys.stdin.read())
        except json.JSONDecodeError as exc:
            raise InputError(f"standard input is not a JSON list of messages: {exc}") from exc
    if system is not None:
        conversation = [{"role": "system", "content": system}, *conversation]
    with open_gguf(resolve_model(model)) as gguf:
        chosen = resolve_template(gguf, Tokenizer.from_gguf(gguf), name=template, file=template_file)
    if chosen.announcement:
        err.print(f"[yellow]note:[/yellow] {escape(chosen.announcement)}")
    out.print(chosen.render(conversation, add_generation_prompt=not no_generation_prompt),
              markup=False, highlight=False, end="", soft_wrap=True)
