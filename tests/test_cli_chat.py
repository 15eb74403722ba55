"""`localllm chat` driven through a pseudo-terminal, and `localllm run` / `complete` against the
Python API, on the real default model."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pexpect
import pytest

from localllm import Llama

pytestmark = pytest.mark.slow
STATS = re.compile(r"prompt (\d+) tokens(?: \((\d+) reused\))?, [\d.]+ t/s · reply (\d+) tokens, [\d.]+ t/s · "
                   r"context (\d+)/(\d+)")


def localllm(*args: str, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "localllm", *args], input=stdin, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def llm(default_model_path):
    with Llama(default_model_path, n_ctx=1024, verbose=False) as model:
        yield model


def spawn_chat(*flags: str) -> pexpect.spawn:
    child = pexpect.spawn(sys.executable, ["-m", "localllm", "chat", "-c", "1024", *flags], encoding="utf-8",
                          timeout=120, dimensions=(50, 200), env={**os.environ, "NO_COLOR": "1"})
    child.expect(r"gemma3 · .* parameters · Q4_K_M · context 1024")
    child.expect_exact(">>> ")
    return child


def ask(child: pexpect.spawn, message: str) -> re.Match:
    """Sends a message; returns the stats line's match once the reply is done."""
    child.sendline(message)
    child.expect(STATS)
    match = child.match
    child.expect_exact(">>> ")
    return match


def test_chat_streams_replies_keeps_history_and_obeys_commands(tmp_path):
    child = spawn_chat("--temp", "0", "-n", "8")
    first = ask(child, "Hello!")
    assert int(first.group(3)) > 0 and first.group(2) is None  # a reply, nothing reused yet
    second = ask(child, "And again?")
    assert int(second.group(2)) >= int(first.group(4)) - 1  # the first turn comes from the KV cache
    saved = tmp_path / "conversation.json"
    child.sendline(f"/save {saved}")
    child.expect_exact("Saved 4 messages")
    child.sendline("/clear")
    child.expect_exact("Cleared the conversation")
    cleared = ask(child, "Hi")
    assert cleared.group(2) is None and int(cleared.group(4)) < int(second.group(4))
    child.sendline("/set system You are terse.")
    child.expect_exact("Set the system message")
    child.sendline("/set parameter num_predict 3")
    child.expect_exact("Set parameter num_predict to 3")
    assert int(ask(child, "Hi").group(3)) <= 3
    child.sendline(f"/load {saved}")
    child.expect_exact("Loaded 4 messages")
    child.sendline("/nonsense")
    child.expect_exact("unknown command /nonsense")
    child.sendline("/bye")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert [m["role"] for m in json.loads(saved.read_text())["messages"]] == ["user", "assistant"] * 2


def test_ctrl_c_stops_a_reply_and_the_chat_goes_on():
    child = spawn_chat("--temp", "0", "-n", "2000", "--ignore-eos")
    child.sendline("Write a very long story.")
    child.expect_exact("Write a very long story.")  # the echo of the input line
    child.read_nonblocking(40, timeout=60)          # some of the reply has streamed
    time.sleep(0.5)
    start = time.perf_counter()
    child.sendintr()
    child.expect_exact("reply stopped", timeout=5)
    child.expect_exact(">>> ", timeout=5)
    assert time.perf_counter() - start < 1.0
    child.sendline("/set parameter num_predict 5")
    child.expect_exact(">>> ")
    after = ask(child, "Go on.")
    assert int(after.group(2)) > 10  # the interrupted turn is in the history and in the cache
    child.sendcontrol("d")
    child.expect(pexpect.EOF)


def test_run_and_complete_agree_with_the_api(llm):
    chat = llm.create_chat_completion([{"role": "user", "content": "Name three fruits."}], temperature=0,
                                      max_tokens=12)["choices"][0]["message"]["content"]
    run = localllm("run", "Name three fruits.", "--temp", "0", "-n", "12")
    assert run.returncode == 0, run.stderr
    assert run.stdout == chat + "\n" and STATS.search(run.stderr)
    piped = localllm("run", "--temp", "0", "-n", "12", stdin="Name three fruits.")
    assert piped.stdout == run.stdout
    text = llm("The capital of France is", temperature=0, max_tokens=12)["choices"][0]["text"]
    complete = localllm("complete", "-p", "The capital of France is", "--temp", "0", "-n", "12")
    assert complete.returncode == 0, complete.stderr
    assert complete.stdout == text + "\n"


def test_flags_come_from_the_environment_and_errors_are_one_line():
    short = localllm("complete", "-p", "Hello", "--temp", "0", env={"LOCALLLM_N_PREDICT": "3"})
    assert re.search(r"reply 3 tokens", short.stderr), short.stderr
    too_long = localllm("complete", "-c", "16", "-p", "word " * 40)
    assert too_long.returncode == 1
    assert re.fullmatch(r"error: the prompt has 4\d tokens but the context holds 16 .*",
                        too_long.stderr.strip().splitlines()[-1])
    bad = localllm("run", "hi", "--temp", "hot")
    assert bad.returncode == 2 and "--temp" in bad.stderr


def test_bench_prints_llama_bench_records():
    result = localllm("bench", "-p", "16", "-n", "4", "-r", "2", "-t", "1,2", "-o", "json")
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert [(r["test"], r["n_threads"]) for r in records] == [("pp16", 1), ("tg4", 1), ("pp16", 2), ("tg4", 2)]
    for r in records:
        assert {"n_prompt", "n_gen", "n_threads", "avg_ts", "stddev_ts", "model_type", "model_size"} <= set(r)
        assert r["avg_ts"] > 0 and len(r["samples_ns"]) == 2 and r["model_type"] == "gemma3 270M Q4_K_M"
    table = localllm("bench", "-p", "8", "-n", "0", "-r", "1")
    assert re.search(r"\| gemma3 270M Q4_K_M \| .* \| pp8 \| [\d.]+ ± [\d.]+ \|", table.stdout), table.stdout
    assert localllm("bench", "-p", "x").returncode == 2
