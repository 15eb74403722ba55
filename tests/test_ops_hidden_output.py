"""The ops behind embeddings, through hand-built programs (tests/program_harness.py): a norm as the
first writer of the output array (hidden-state output), the exact GELU, rows by position; and
that the phase rules still refuse a bad program naming the op."""

from __future__ import annotations

import math

import gguf
import numpy as np
import pytest
from program_harness import OpProgram, Quantized

from localllm.backend import native
from localllm.errors import NativeError
from localllm.models.base import BUF_LOGITS, OP


def _norm_output_program(tmp_path, width=48, name="hidden"):
    rng = np.random.default_rng(3)
    table = rng.standard_normal((6, width)).astype(np.float32)
    weights = {"w": (1 + 0.1 * rng.standard_normal(width)).astype(np.float32),
               "b": rng.standard_normal(width).astype(np.float32)}
    prog = OpProgram(tmp_path, {"x": table}, out_widths=[width], weights=weights, name=name)
    g = prog.g
    last = g.logit_rows(g.get_rows("x", "x", width), "last")
    g.layer_norm(last, last, 1e-5, "w", "b")
    g.output(None, last)                  # the norm now writes the caller's array
    prog.own_output()
    return prog, table, weights


def test_norm_writes_hidden_state_output(tmp_path):
    prog, table, weights = _norm_output_program(tmp_path)
    runner = prog.model(n_batch=8)
    assert runner.model.n_vocab == 48 and runner.model.embedding
    (y,) = runner.run([4, 1, 2], rows=[0, 2])
    x = table[[4, 2]].astype(np.float64)
    want = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5) * weights["w"] + weights["b"]
    assert np.abs(y - want).max() <= 1e-5


@pytest.mark.parametrize("what", ["second writer", "norm before logit_rows", "norm reads the output"])
def test_bad_hidden_output_program_is_rejected(tmp_path, what):
    prog, _, _ = _norm_output_program(tmp_path, name=what.replace(" ", "_"))
    g = prog.g
    norm_index = len(g.ops) - 1
    if what == "second writer":        # only in-place ops of the fixed width may follow the first writer
        g.ops.append({**g.ops[norm_index], "src0": g.buffer("x", 48)})
        bad = len(g.ops) - 1
    elif what == "norm before logit_rows":
        g.ops.insert(1, {**g.ops[norm_index], "src0": g.buffer("x", 48)})
        bad = 1
    else:
        g.ops[norm_index]["src0"] = BUF_LOGITS
        bad = norm_index
    with pytest.raises(NativeError) as info:
        prog.model(n_batch=8)
    assert f"at op {bad}:" in str(info.value) and "invalid argument" in str(info.value)


def test_gelu_erf_and_rows_by_position(tmp_path):
    rng = np.random.default_rng(5)
    tokens_table = (3 * rng.standard_normal((8, 32))).astype(np.float32)
    positions_table = rng.standard_normal((8, 32)).astype(np.float32)
    prog = OpProgram(tmp_path, {"x": tokens_table, "p": positions_table}, out_widths=[32, 32])
    g = prog.g
    x = g.get_rows("x", "x", 32)
    p = g.get_rows("p", "p", 32, by_position=True)
    assert g.ops[-1]["kind"] == OP["get_pos_rows"]
    gx = g.buffer("gx", 32)
    g.gated("gelu_erf", x, None, gx)
    prog.finish([gx, p])
    tokens, positions = [5, 0, 7], [2, 3, 6]
    gelu, rows = prog.model(n_batch=4).run(tokens, positions)
    v = tokens_table[tokens].astype(np.float64)
    want = 0.5 * v * (1 + np.vectorize(math.erf)(v / math.sqrt(2)))
    assert np.abs(gelu - want).max() <= 1e-5 * np.abs(want).max()
    assert np.array_equal(rows, positions_table[positions])


@pytest.mark.parametrize("level", [lv for lv in native.supported_levels() if lv != "scalar"])
def test_gelu_erf_gives_the_scalar_bits_and_erf_accuracy(tmp_path, level):
    """The SIMD GELU (erf's rational approximation, lane by lane) gives the scalar bits, on values
    over the whole float range (the +-4 clamp, large magnitudes, a tail of 3 values past the last
    register), and stays within 2e-7 of 0.5 x (1 + erf(x / sqrt 2)) in float64 (relative to max(1, |x|))."""
    width = 67
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.standard_normal(64 * width) * s for s in (0.01, 1.0, 4.0)]).astype(np.float32)
    edges = np.array([0.0, -0.0, 5.656854, -5.656854, 5.6568546, 6.0, -6.0, 1e-30, -1e-30, 3e38, -3e38], np.float32)
    x = np.concatenate([edges, x])
    x = np.concatenate([x, np.zeros(-x.size % width, np.float32)]).reshape(-1, width)
    prog = OpProgram(tmp_path, {"x": x}, out_widths=[width])
    g = prog.g
    gx = g.get_rows("x", "x", width)
    g.gated("gelu_erf", gx, None, gx)
    prog.finish([gx])
    outs = {lvl: prog.model(n_batch=x.shape[0], level=lvl).run(range(x.shape[0]))[0] for lvl in ("scalar", level)}
    assert outs[level].tobytes() == outs["scalar"].tobytes()
    v = x.astype(np.float64)
    want = 0.5 * v * (1 + np.vectorize(math.erf)(v / math.sqrt(2)))
    assert np.all(np.abs(outs[level] - want) <= 2e-7 * np.maximum(1.0, np.abs(v)))


@pytest.mark.parametrize("rows", [1, 5])
def test_bias_fused_into_matmul_gives_the_separate_ops_bits(tmp_path, rows):
    """A bias op right after the matmul that writes its buffer runs inside the matmul (no pass of
    its own, no barrier): the same bits as when another op stands between them, for decode (one
    row) and prefill (tiles)."""
    rng = np.random.default_rng(7)
    width, n_out = 64, 40
    table = {"x": rng.standard_normal((8, width)).astype(np.float32)}
    weights = {"w": Quantized(gguf.GGMLQuantizationType.Q8_0, rng.standard_normal((n_out, width))),
               "w.bias": rng.standard_normal(n_out).astype(np.float32)}
    outs = []
    for fused in (True, False):
        prog = OpProgram(tmp_path, table, out_widths=[n_out], weights=weights, name=f"bias_{fused}")
        g = prog.g
        y = g.matmul("w", g.get_rows("x", "x", width), "y")
        if not fused:
            g.scale(y, 1.0)  # x * 1 is exact: it only keeps the bias op apart
        g.add_bias("w.bias", y)
        prog.finish([y])
        outs.append(prog.model(n_batch=8).run(range(rows))[0])
    assert outs[0].tobytes() == outs[1].tobytes()
